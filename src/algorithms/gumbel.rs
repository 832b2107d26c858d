//! Gumbel-softmax training (Jang et al. 2017): the discriminator reads the generator's soft
//! one-hot rows `softmax(beta * (logits + g))` through its embedding, so its gradient reaches the
//! generator directly. RelGAN (Nie et al. 2019) is this with a relational-memory generator, a
//! multi-representation CNN, the RSGAN loss and `beta` rising to `beta_max` over the adversarial
//! steps; GSGAN (Kusner and Hernández-Lobato 2016) with an LSTM pair and a fixed temperature; the
//! seeds' LSTM/MLP systems with the standard minimax loss. The presets in `configs/` set them up.
use super::common::{gumbel_decode, real_batch, soft_to_d_len, DiscSide, Shapes};
use super::{d_stats, g_update, net, Algorithm, Ctx, Stats};
use crate::algorithms::losses;
use crate::config::{BetaSchedule, GanConfig};
use crate::optim::Adam;
use tch::Tensor;

pub struct Gumbel {
    cfg: GanConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
}

/// Inverse temperature at adversarial step `n` of `total` (RelGAN §3.3): from 1 to `max`.
pub fn beta_at(schedule: BetaSchedule, max: f64, n: usize, total: usize) -> f64 {
    let x = n as f64 / total.max(1) as f64;
    match schedule {
        BetaSchedule::Constant => max,
        BetaSchedule::Exp => max.powf(x),
        BetaSchedule::Linear => 1.0 + (max - 1.0) * x,
        BetaSchedule::Sigmoid => 1.0 + (max - 1.0) / (1.0 + (-(10.0 * x - 5.0)).exp()),
    }
}

impl Gumbel {
    pub fn new(cfg: GanConfig, shapes: Shapes, disc: DiscSide, g_opt: Adam) -> Self {
        Gumbel {
            cfg,
            shapes,
            disc,
            g_opt,
        }
    }

    /// Real ids [B, d_len]: through the embedding lookup they give what their one-hot rows
    /// give through the table as a matrix, without the [B, d_len, V] product.
    fn real_ids(&self, ctx: &mut Ctx) -> Tensor {
        real_batch(
            ctx.real,
            self.cfg.batch_size,
            &self.shapes,
            ctx.rng,
            ctx.device,
        )
    }
}

impl Algorithm for Gumbel {
    fn step(&mut self, ctx: &mut Ctx) -> Stats {
        let beta = self.beta(ctx);
        let mut out = Stats::new();
        out.insert("beta".into(), beta);
        for _ in 0..self.cfg.g_steps {
            let real = self.real_ids(ctx);
            let fake = self.fake_soft(ctx, beta);
            // D's own gradients are not needed here: frozen, its backward pass only carries
            // the gradient through to G (about half the work of the full backward).
            self.disc.model.vs.freeze();
            let d = self.disc.model.net.as_ref();
            let r = tch::no_grad(|| d.score(&real, true));
            let f = d.score_soft(&fake, true);
            let loss = losses::g_loss(self.cfg.loss, &r, &f);
            let g_loss = g_update(&mut self.g_opt, &loss, self.cfg.grad_clip, self.cfg.g_lr);
            self.disc.model.vs.unfreeze();
            out.insert("g_loss".into(), g_loss);
        }
        for _ in 0..self.cfg.d_steps {
            out.extend(self.d_step_at(ctx, beta));
        }
        out
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> Stats {
        let beta = self.beta(ctx);
        self.d_step_at(ctx, beta)
    }

    fn sides(&self) -> (&DiscSide, &Adam) {
        (&self.disc, &self.g_opt)
    }

    fn sides_mut(&mut self) -> (&mut DiscSide, &mut Adam) {
        (&mut self.disc, &mut self.g_opt)
    }
}

impl Gumbel {
    fn beta(&self, ctx: &Ctx) -> f64 {
        beta_at(
            self.cfg.beta_schedule,
            self.cfg.beta_max,
            ctx.step,
            ctx.total,
        )
    }

    /// Generated soft one-hot rows at discriminator length, carrying gradients into G.
    fn fake_soft(&self, ctx: &Ctx, beta: f64) -> Tensor {
        let soft = gumbel_decode(
            net(ctx.gen),
            self.cfg.batch_size,
            beta,
            &self.shapes,
            ctx.device,
        );
        soft_to_d_len(&soft, &self.shapes)
    }

    fn d_step_at(&mut self, ctx: &mut Ctx, beta: f64) -> Stats {
        let real = self.real_ids(ctx);
        let fake = tch::no_grad(|| self.fake_soft(ctx, beta));
        let (re, fe) = {
            let d = self.disc.model.net.as_ref();
            (d.embed(&real), d.embed_soft(&fake))
        };
        let mut out = Stats::new();
        d_stats(&mut out, self.disc.update(&re, &fe, self.cfg.d_lr));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_run_from_one_to_max() {
        for s in [BetaSchedule::Exp, BetaSchedule::Linear] {
            assert!((beta_at(s, 100.0, 0, 10) - 1.0).abs() < 1e-9);
            assert!((beta_at(s, 100.0, 10, 10) - 100.0).abs() < 1e-9);
        }
        assert!((beta_at(BetaSchedule::Exp, 100.0, 5, 10) - 10.0).abs() < 1e-9);
        assert!((beta_at(BetaSchedule::Linear, 101.0, 5, 10) - 51.0).abs() < 1e-9);
        assert!((beta_at(BetaSchedule::Sigmoid, 101.0, 5, 10) - 51.0).abs() < 1e-9);
        assert_eq!(beta_at(BetaSchedule::Constant, 7.0, 0, 10), 7.0);
    }
}
