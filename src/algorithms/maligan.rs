//! MaliGAN (Che et al. 2017): REINFORCE on whole sequences with importance weights
//! r = D / (1 - D), normalised over the batch, minus their mean as a baseline.
use super::common::{sample_tensor, token_log_probs, DiscSide, Shapes};
use super::{g_update, ids_d_step, net, Algorithm, Ctx, Stats};
use crate::config::GanConfig;
use crate::optim::Adam;
use tch::{Kind, Tensor};

pub struct MaliGan {
    cfg: GanConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
}

impl MaliGan {
    pub fn new(cfg: GanConfig, shapes: Shapes, disc: DiscSide, g_opt: Adam) -> Self {
        MaliGan {
            cfg,
            shapes,
            disc,
            g_opt,
        }
    }
}

/// MaliGAN's weights from discriminator probabilities [B]: r / sum(r) - mean, with r = D / (1 - D).
pub fn mali_weights(d_prob: &Tensor) -> Tensor {
    let r = d_prob / (-d_prob + 1.0).clamp_min(1e-6);
    let r = &r / r.sum(Kind::Float);
    &r - r.mean(Kind::Float)
}

impl Algorithm for MaliGan {
    fn step(&mut self, ctx: &mut Ctx) -> Stats {
        let mut out = Stats::new();
        for _ in 0..self.cfg.g_steps {
            let samples =
                sample_tensor(net(ctx.gen), self.cfg.batch_size, &self.shapes, ctx.device);
            let weights = tch::no_grad(|| {
                let d_in = self.shapes.to_d_len(&samples);
                mali_weights(&self.disc.model.net.score(&d_in, false).sigmoid().mean_dim(
                    [1i64].as_slice(),
                    false,
                    Kind::Float,
                ))
            });
            let mask = self.shapes.mask(&samples);
            let seq_logp = (token_log_probs(net(ctx.gen), &samples, &self.shapes) * &mask)
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
            let loss = -(seq_logp * weights).sum(Kind::Float);
            out.insert(
                "g_loss".into(),
                g_update(&mut self.g_opt, &loss, self.cfg.grad_clip, self.cfg.g_lr),
            );
        }
        for _ in 0..self.cfg.d_steps {
            out.extend(self.d_step(ctx));
        }
        out
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> Stats {
        ids_d_step(&mut self.disc, &self.shapes, &self.cfg, ctx)
    }

    fn sides(&self) -> (&DiscSide, &Adam) {
        (&self.disc, &self.g_opt)
    }

    fn sides_mut(&mut self) -> (&mut DiscSide, &mut Adam) {
        (&mut self.disc, &mut self.g_opt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_normalised_and_centred() {
        // D = [0.5, 0.8]: r = [1, 4] -> [0.2, 0.8] -> minus mean 0.5 -> [-0.3, 0.3]
        let w: Vec<f32> = Vec::try_from(mali_weights(&Tensor::from_slice(&[0.5f32, 0.8]))).unwrap();
        assert!(
            (w[0] + 0.3).abs() < 1e-6 && (w[1] - 0.3).abs() < 1e-6,
            "{w:?}"
        );
    }
}
