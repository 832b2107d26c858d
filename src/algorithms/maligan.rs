//! MaliGAN (Che et al. 2017): REINFORCE on whole sequences with importance weights
//! r = D / (1 - D), normalised over the batch, minus their mean as a baseline.
use super::batches::{fresh_samples, token_log_probs, Shapes, Slice};
use super::disc_side::DiscSide;
use super::seqgan::DRounds;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::error::Result;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use tch::{Kind, Tensor};

pub static SPEC: Spec<MaliganConfig> = Spec {
    name: "maligan",
    about: "REINFORCE with normalised importance weights D / (1 - D) (Che et al. 2017)",
    build: |c, p| Box::new(MaliGan::new(c, p)),
    check: any_networks,
    settings: PhantomData,
};

/// MaliGAN's own `[gan]` keys: SeqGAN's discriminator schedule ([`DRounds`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MaliganConfig {
    pub d_epochs: usize,
    pub d_samples: usize,
}

impl Default for MaliganConfig {
    fn default() -> Self {
        let d = DRounds::default();
        MaliganConfig {
            d_epochs: d.d_epochs,
            d_samples: d.d_samples,
        }
    }
}

impl Settings for MaliganConfig {
    fn validate(&self) -> Result<()> {
        self.d_rounds().validate()
    }
}

impl MaliganConfig {
    pub fn d_rounds(&self) -> DRounds {
        DRounds {
            d_epochs: self.d_epochs,
            d_samples: self.d_samples,
        }
    }
}

pub struct MaliGan {
    adv: AdvConfig,
    rounds: DRounds,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
}

impl MaliGan {
    pub fn new(cfg: MaliganConfig, p: Parts) -> Self {
        MaliGan {
            adv: p.adv.clone(),
            rounds: cfg.d_rounds(),
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
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
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (samples, cond) = fresh_samples(ctx, self.adv.batch_size, &self.shapes);
        // Several processes: the weights (normalised over the batch) are the batch's on every
        // rank; each takes the log-probabilities and gradient of its slice of the rows.
        let slice = Slice::of(&samples, &self.shapes);
        let weights = tch::no_grad(|| {
            let d_in = self.shapes.to_d_len(&samples);
            let d = self.disc.model.net.as_ref();
            mali_weights(&d.score_given(&d_in, &cond, false).sigmoid().mean_dim(
                [1i64].as_slice(),
                false,
                Kind::Float,
            ))
        });
        let weights = weights.narrow(0, slice.rows.0, slice.rows.1);
        let (samples, cond) = slice.take(&samples, &cond);
        let mask = self.shapes.mask(&samples);
        let seq_logp = (token_log_probs(ctx.gen, &samples, &cond, &self.shapes) * &mask)
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let loss = -(seq_logp * weights).sum(Kind::Float) * slice.sum_weight();
        let g_loss = g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        StepStats::g(g_loss)
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        self.rounds
            .step(&mut self.disc, &self.shapes, &self.adv, ctx)
    }

    fn d_unit(&self) -> String {
        self.rounds.unit()
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
