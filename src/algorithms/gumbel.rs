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

/// Inverse temperature at adversarial step `n` of a schedule `total` steps long (RelGAN §3.3):
/// from 1 to `max`, the formulas of RelGAN's `get_fixed_temperature` (TextGAN-PyTorch has the
/// same). Past the schedule's end it stays at `max`.
pub fn beta_at(schedule: BetaSchedule, max: f64, n: usize, total: usize) -> f64 {
    let n = n.min(total) as f64;
    let total = total.max(1) as f64;
    match schedule {
        BetaSchedule::Constant => max,
        BetaSchedule::Exp => max.powf(n / total),
        BetaSchedule::Linear => 1.0 + (max - 1.0) * (n / (total - 1.0).max(1.0)).min(1.0),
        BetaSchedule::Sigmoid => {
            1.0 + (max - 1.0) / (1.0 + ((total / 2.0 - n) * 20.0 / total).exp())
        }
    }
}

/// N of the beta schedule: `gan.beta_horizon`, or the run's adversarial steps when it is 0.
fn schedule_len(cfg: &GanConfig, steps: usize) -> usize {
    match cfg.beta_horizon {
        0 => steps,
        n => n,
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
            schedule_len(&self.cfg, ctx.total),
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
        assert!(
            (beta_at(BetaSchedule::Linear, 101.0, 5, 10) - (1.0 + 100.0 * 5.0 / 9.0)).abs() < 1e-9
        );
        assert!((beta_at(BetaSchedule::Sigmoid, 101.0, 5, 10) - 51.0).abs() < 1e-9);
        assert_eq!(beta_at(BetaSchedule::Constant, 7.0, 0, 10), 7.0);
    }

    #[test]
    fn the_horizon_replaces_the_runs_length() {
        let mut cfg = GanConfig::default();
        assert_eq!(schedule_len(&cfg, 3000), 3000);
        cfg.beta_horizon = 5000;
        assert_eq!(schedule_len(&cfg, 3000), 5000);
    }

    /// Values of RelGAN's `get_fixed_temperature(temper, i, N, adapt)` worked by hand, with the
    /// N = 5000 its code fixes.
    #[test]
    fn schedules_match_relgans_formulas() {
        // exp: 1000^(3000/5000) = 10^1.8, where the paper's 3000-step oracle run ends.
        let e = beta_at(BetaSchedule::Exp, 1000.0, 3000, 5000);
        assert!((e - 63.095_734_448).abs() < 1e-6, "{e}");
        // sigmoid at i = 0: 1 + 99 / (1 + e^10).
        let s = beta_at(BetaSchedule::Sigmoid, 100.0, 0, 5000);
        assert!(
            (s - (1.0 + 99.0 / (1.0 + 10f64.exp()))).abs() < 1e-12,
            "{s}"
        );
        assert!((s - 1.004_494_4).abs() < 1e-6, "{s}");
        // sigmoid at i = 3750: 1 + 99 / (1 + e^-5).
        let s = beta_at(BetaSchedule::Sigmoid, 100.0, 3750, 5000);
        assert!((s - 99.337_41).abs() < 1e-4, "{s}");
        // lin at i = 4999 = N - 1 reaches the maximum.
        assert!((beta_at(BetaSchedule::Linear, 100.0, 4999, 5000) - 100.0).abs() < 1e-9);
        // Past the horizon every schedule holds its maximum.
        for sch in [BetaSchedule::Exp, BetaSchedule::Linear] {
            assert!((beta_at(sch, 100.0, 6000, 5000) - 100.0).abs() < 1e-9);
        }
    }
}
