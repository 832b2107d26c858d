//! ScratchGAN-style training (de Masson d'Autume et al. 2019): a discriminator with one logit per
//! token gives dense rewards r_t = 2 sigmoid(D_t) - 1; the generator follows REINFORCE on the
//! discounted returns R_t = sum_k gamma^(k-t) r_k minus a moving-average baseline, with large
//! batches and no MLE pretraining. The baseline is ScratchGAN's code's (`losses.py`,
//! `experiment.py`): one scalar, `b <- d b + (1 - d) mean(R)` over the batch and its tokens
//! with `d = 0.08`, updated before the advantage `R_t - b` is taken; `gan.baseline =
//! "per_position"` keeps one per position instead (textgan's earlier reading). Unlike the code,
//! rewards after `<eos>` are masked.
use super::batches::{
    fresh_samples, real_and_fake, reinforce_loss, token_log_probs, Shapes, Slice,
};
use super::disc_side::DiscSide;
use super::{g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Error, Result};
use crate::models::disc::DiscriminatorConfig;
use crate::models::GeneratorConfig;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{Kind, Tensor};

pub static SPEC: Spec<ScratchganConfig> = Spec {
    name: "scratchgan",
    about:
        "dense per-token rewards from a per-token discriminator (de Masson d'Autume et al. 2019)",
    build: |c, p| Box::new(ScratchGan::new(c, p)),
    check: needs_per_token_scores,
    settings: PhantomData,
};

/// ScratchGAN's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScratchganConfig {
    /// Discount of future rewards.
    pub gamma: f64,
    /// Decay of the moving-average baseline (the weight of its old value).
    pub baseline_decay: f64,
    /// One scalar baseline (`"scalar"`, ScratchGAN's) or one per position (`"per_position"`).
    pub baseline: BaselineKind,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BaselineKind {
    Scalar,
    PerPosition,
}

impl Default for ScratchganConfig {
    fn default() -> Self {
        ScratchganConfig {
            gamma: 0.23,
            baseline_decay: 0.08,
            baseline: BaselineKind::Scalar,
        }
    }
}

impl Settings for ScratchganConfig {
    fn validate(&self) -> Result<()> {
        ensure(
            (0.0..=1.0).contains(&self.gamma) && (0.0..1.0).contains(&self.baseline_decay),
            || "gan.gamma must be in [0, 1] and gan.baseline_decay in [0, 1)".into(),
        )
    }
}

fn needs_per_token_scores(_: &GeneratorConfig, d: &DiscriminatorConfig) -> Result<()> {
    ensure(d.scores_per_token(), || {
        "gan.algorithm = \"scratchgan\" needs per-token scores: discriminator.kind = \"lstm\""
            .into()
    })
}

pub struct ScratchGan {
    adv: AdvConfig,
    cfg: ScratchganConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
    /// Moving average of the return: [1], or [T] with one per position.
    baseline: Tensor,
}

impl ScratchGan {
    pub fn new(cfg: ScratchganConfig, p: Parts) -> Self {
        let n = match cfg.baseline {
            BaselineKind::Scalar => 1,
            BaselineKind::PerPosition => p.shapes.gen_len,
        };
        let baseline = Tensor::zeros([n], (Kind::Float, p.device));
        ScratchGan {
            adv: p.adv.clone(),
            cfg,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
            baseline,
        }
    }
}

/// Discounted returns of per-token rewards [B, T] (masked): R_t = r_t + gamma R_{t+1}.
pub fn discounted_returns(rewards: &Tensor, mask: &Tensor, gamma: f64) -> Tensor {
    let r = rewards * mask;
    let t = r.size()[1];
    let mut next = Tensor::zeros_like(&r.select(1, 0));
    let mut cols: Vec<Tensor> = Vec::with_capacity(t as usize);
    for i in (0..t).rev() {
        next = r.select(1, i) + &next * gamma;
        cols.push(next.shallow_clone());
    }
    cols.reverse();
    Tensor::stack(&cols, 1) * mask
}

/// Per-token discriminator logits [B, L] of ids [B, L].
fn per_token(disc: &DiscSide, ids: &Tensor, cond: &Condition, train: bool) -> Tensor {
    let d = disc.model.net.as_ref();
    d.per_token_given(&d.embed(ids), cond, train)
        .expect("checked at build: the discriminator scores tokens")
}

impl Algorithm for ScratchGan {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (samples, cond) = fresh_samples(ctx, self.adv.batch_size, &self.shapes);
        // Several processes: each scores and takes the gradient of its slice of the rows; the
        // baseline's batch means come from sums over every slice.
        let slice = Slice::of(&samples, &self.shapes);
        let (samples, cond) = slice.take(&samples, &cond);
        let mask = self.shapes.mask(&samples);
        let t = self.shapes.gen_len;
        let returns = tch::no_grad(|| {
            let d_in = self.shapes.to_d_len(&samples);
            let logits = per_token(&self.disc, &d_in, &cond, false).narrow(1, 0, t);
            let rewards = logits.sigmoid() * 2.0 - 1.0;
            discounted_returns(&rewards, &mask, self.cfg.gamma)
        });
        let over_rows = |t: &Tensor| t.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        let sums = slice.sum_tensors(vec![
            returns.sum(Kind::Float),
            mask.sum(Kind::Float),
            over_rows(&returns),
            over_rows(&mask),
        ]);
        let mean_return = match self.cfg.baseline {
            BaselineKind::Scalar => (&sums[0] / sums[1].clamp_min(1.0)).reshape([1]),
            BaselineKind::PerPosition => &sums[2] / sums[3].clamp_min(1.0),
        };
        // The scalar baseline is updated first and the advantage taken against the new value,
        // as ScratchGAN's control dependency intends; the per-position one against the old.
        let before = self.baseline.shallow_clone();
        tch::no_grad(|| {
            let d = self.cfg.baseline_decay;
            self.baseline = &self.baseline * d + mean_return * (1.0 - d);
        });
        let b = match self.cfg.baseline {
            BaselineKind::Scalar => &self.baseline,
            BaselineKind::PerPosition => &before,
        };
        let advantage = (&returns - b) * &mask;
        let logp = token_log_probs(ctx.gen, &samples, &cond, &self.shapes);
        let loss = reinforce_loss(&logp, &advantage, &mask) * slice.weight(&mask);
        let g_loss = g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        let mut out = StepStats::g(g_loss);
        out.extra
            .insert("return".into(), (&sums[0] / &sums[1]).double_value(&[]));
        out
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (real, fake, cond) = real_and_fake(ctx, self.adv.batch_size, &self.shapes);
        let (rm, fm) = (self.shapes.mask(&real), self.shapes.mask(&fake));
        let r = per_token(&self.disc, &real, &cond, true);
        let f = per_token(&self.disc, &fake, &cond, true);
        // Per-token binary cross-entropy, real tokens labelled 1 and generated ones 0.
        let mut loss = ((-&r).softplus() * &rm).sum(Kind::Float) / rm.sum(Kind::Float)
            + (f.softplus() * &fm).sum(Kind::Float) / fm.sum(Kind::Float);
        // R1 on each real row's summed logits over its tokens.
        let d = self.disc.model.net.as_ref();
        let row_score = |x: &Tensor| {
            (d.per_token_given(x, &cond, true).expect("scores tokens") * &rm).sum_dim_intlist(
                [1i64].as_slice(),
                false,
                Kind::Float,
            )
        };
        if let Some(p) = self.disc.r1_weighted(&d.embed(&real), row_score) {
            loss += p;
        }
        crate::optim::minimize(&mut self.disc.opt, &loss, 0.0, self.adv.d_lr);
        let acc = |x: Tensor, m: &Tensor| {
            (x.to_kind(Kind::Float) * m)
                .sum(Kind::Float)
                .double_value(&[])
                / m.sum(Kind::Float).double_value(&[])
        };
        StepStats {
            d_loss: Some(loss.double_value(&[])),
            d_real_acc: Some(acc(r.gt(0.0), &rm)),
            d_fake_acc: Some(acc(f.le(0.0), &fm)),
            ..Default::default()
        }
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        vec![("scratchgan.baseline".into(), self.baseline.shallow_clone())]
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        let b = tensors
            .get("scratchgan.baseline")
            .ok_or_else(|| Error::checkpoint(path, "missing scratchgan.baseline"))?;
        if b.size() != self.baseline.size() {
            return Err(Error::checkpoint(
                path,
                "its ScratchGAN baseline has one value per position: resume with --set gan.baseline=\"per_position\"",
            ));
        }
        self.baseline = b.to_device(self.baseline.device());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_are_discounted_and_masked() {
        let r = Tensor::from_slice(&[1.0f32, 0.5, -1.0, 2.0]).view([1, 4]);
        let m = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.0]).view([1, 4]);
        let got: Vec<f32> = Vec::try_from(discounted_returns(&r, &m, 0.5).view([-1])).unwrap();
        // R2 = -1, R1 = 0.5 - 0.5 = 0, R0 = 1 + 0 = 1; the masked position is 0.
        assert_eq!(got, vec![1.0, 0.0, -1.0, 0.0]);
    }

    /// The scalar baseline by hand: decay 0.08 from 0 puts 92% of the first batch's mean
    /// return (over its counted tokens) in it, and the advantage is taken against that value.
    #[test]
    fn the_scalar_baseline_moves_as_scratchgans_code() {
        use crate::algorithms::testing::tiny_setup;
        use crate::models::disc::LstmDiscConfig;
        tch::manual_seed(1);
        let (vocab, _, gen) = tiny_setup();
        let dcfg = DiscriminatorConfig::Lstm(LstmDiscConfig {
            embed_dim: 4,
            hidden_dim: 4,
            ..Default::default()
        });
        let gan = crate::algorithms::testing::gan(
            "algorithm = \"scratchgan\"\nsteps = 2\nbatch_size = 8",
        );
        assert_eq!(gan.own["baseline_decay"].as_float(), Some(0.08));
        let mut alg = crate::algorithms::testing::built(&gan, &dcfg, (&vocab, &gen));
        let real: Vec<Vec<i64>> = vec![vocab.encode("a b c").unwrap()];
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let mut ctx = crate::algorithms::testing::ctx(&gen, &real, &mut rng, 2);
        let s = alg.g_step(&mut ctx);
        let b = &alg.extra_tensors()[0].1;
        assert_eq!(b.size(), vec![1]);
        let want = 0.92 * s.extra["return"];
        assert!(
            (b.double_value(&[0]) - want).abs() < 1e-6,
            "{} vs {want}",
            b.double_value(&[0])
        );
    }
}
