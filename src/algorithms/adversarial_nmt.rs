//! Adversarial NMT (BR-CSGAN, Yang et al. NAACL 2018, as the authors' `NMT_GAN` code does it;
//! Wu et al. 2018 in spirit): a translation model trained against a discriminator of
//! (source, translation) pairs, by policy gradient with teacher forcing interleaved.
//!
//! - Translations are sampled under training sources; each token's reward is the mean over
//!   `rollouts` Monte Carlo completions of `D(x, y) - baseline` (the code's constant 0.6), or
//!   with `rollouts = 0` the whole sentence's `D - baseline` for every token (Wu et al.'s
//!   single sentence reward, much cheaper).
//! - The generator minimises `-sum_t p(y_t | y_<t, x) * Q_t / B`: the probability, not its log,
//!   as the code's `gan_output` does.
//! - Teacher forcing (`teacher_forcing = true`, the code's setting): after each adversarial
//!   update, one update on the human translations of the same sources with reward 1 on every
//!   token, through the same loss.
//! - The discriminator reads the pair ([`PairDiscriminator`](crate::models::disc::PairDiscriminator),
//!   built for every parallel run) and is trained with the run's GAN loss on human against
//!   sampled translations of the same sources.
use super::batches::{real_batch_given, sample_tensor, token_log_probs, Shapes};
use super::disc_side::DiscSide;
use super::seqgan::rollout_rewards;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Result};
use crate::models::disc::score_given_in_chunks;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use tch::{Kind, Tensor};

pub static SPEC: Spec<AdvNmtConfig> = Spec {
    name: "adversarial-nmt",
    about: "policy gradient from a (source, translation) discriminator with teacher forcing (Yang et al. 2018)",
    build: |c, p| Box::new(AdvNmt::new(c, p)),
    check: any_networks,
    settings: PhantomData,
};

/// Adversarial NMT's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdvNmtConfig {
    /// Monte Carlo completions per prefix (the code's `rollnum`: 20); 0 = one reward per
    /// sentence.
    pub rollouts: i64,
    /// Subtracted from the discriminator's probability (the code's `bias_num`: 0.6).
    pub baseline: f64,
    /// An update on the human translations after each adversarial one.
    pub teacher_forcing: bool,
}

impl Default for AdvNmtConfig {
    fn default() -> Self {
        AdvNmtConfig {
            rollouts: 20,
            baseline: 0.6,
            teacher_forcing: true,
        }
    }
}

impl Settings for AdvNmtConfig {
    fn validate(&self) -> Result<()> {
        ensure((0..=1024).contains(&self.rollouts), || {
            format!("gan.rollouts must be in 0..=1024, got {}", self.rollouts)
        })?;
        ensure((0.0..=1.0).contains(&self.baseline), || {
            format!("gan.baseline must be in [0, 1], got {}", self.baseline)
        })
    }
}

pub struct AdvNmt {
    adv: AdvConfig,
    cfg: AdvNmtConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
}

impl AdvNmt {
    pub fn new(cfg: AdvNmtConfig, p: Parts) -> Self {
        AdvNmt {
            adv: p.adv.clone(),
            cfg,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
        }
    }

    /// Per-token rewards [B, T] of sampled translations.
    fn rewards(&self, ctx: &Ctx, samples: &Tensor, cond: &Condition) -> Tensor {
        let q = match self.cfg.rollouts {
            0 => tch::no_grad(|| {
                let d_in = self.shapes.to_d_len(samples);
                let d = self.disc.model.net.as_ref();
                let p = score_given_in_chunks(d, &d_in, cond).sigmoid().mean_dim(
                    [1i64].as_slice(),
                    false,
                    Kind::Float,
                ); // [B]
                p.unsqueeze(1).expand_as(samples).to_kind(Kind::Float)
            }),
            n => rollout_rewards(ctx.gen, &self.disc, (samples, cond), n, &self.shapes),
        };
        q - self.cfg.baseline
    }
}

/// `-sum over counted tokens of p(token) * reward / B`: the code's probability-weighted loss.
fn prob_loss(log_probs: &Tensor, rewards: &Tensor, mask: &Tensor) -> Tensor {
    let b = log_probs.size()[0] as f64;
    -(log_probs.exp() * rewards.detach() * mask).sum(Kind::Float) / b
}

impl Algorithm for AdvNmt {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let n = self.adv.batch_size;
        // Training pairs: their sources to translate, their targets for teacher forcing.
        let (real, cond) = real_batch_given(ctx, n, &self.shapes);
        let samples = sample_tensor(ctx.gen, n, &cond, &self.shapes, ctx.device);
        let q = self.rewards(ctx, &samples, &cond);
        let mask = self.shapes.mask(&samples);
        let logp = token_log_probs(ctx.gen, &samples, &cond, &self.shapes);
        let loss = prob_loss(&logp, &q, &mask);
        let g_loss = g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        let mut out = StepStats::g(g_loss);
        let mean = |t: &Tensor| {
            (t * &mask).sum(Kind::Float).double_value(&[]) / mask.sum(Kind::Float).double_value(&[])
        };
        out.extra.insert("reward".into(), mean(&q));
        if self.cfg.teacher_forcing {
            // The human translations of the same sources, reward 1 on every token.
            let real = real.narrow(1, 0, self.shapes.gen_len);
            let mask = self.shapes.mask(&real);
            let logp = token_log_probs(ctx.gen, &real, &cond, &self.shapes);
            let tf = prob_loss(&logp, &Tensor::ones_like(&mask), &mask);
            let tf = g_update(&mut self.g_opt, &tf, self.adv.grad_clip, self.adv.g_lr);
            out.extra.insert("teacher_loss".into(), tf);
        }
        out
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        StepStats::from_d(self.disc.update_on_fresh(ctx, &self.shapes, &self.adv))
    }
}
