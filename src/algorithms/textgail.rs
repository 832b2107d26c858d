//! TextGAIL (Wu, Li & Yu, AAAI 2021): imitation learning for text as its released code trains
//! it (REFERENCE-wave2 §6.5). Each generator update is one buffer: fresh samples rewarded by
//! the discriminator, and human demonstrations with a constant reward, trained on by PPO with
//! whole-sequence ratios clipped at 0.2. Generated rewards are normalised by a running mean
//! and standard deviation (momentum per sample) and clipped; the demonstrations' share of the
//! buffer falls linearly to zero over the adversarial steps. The discriminator then trains on
//! the same buffer's samples.
//!
//! With the relativistic loss (`gan.loss = "rsgan"`, the preset's) the discriminator is
//! TextGAIL's contrastive one: it scores a real and a generated text side by side, and the
//! reward is its probability that the generated one is the real one, `s(C(fake) - C(real))`.
//! An optional KL penalty toward the starting generator (`kl_coef`, the paper's; the released
//! code has none) is subtracted from each sample's reward, as `kl_coef` times its summed
//! log-ratio `log p(y) - log p_start(y)`.
use super::batches::{real_rows, Shapes};
use super::disc_side::DiscSide;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Error, Result};
use crate::models::{Generator, GeneratorModel};
use crate::optim::Adam;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{Kind, Tensor};

pub static SPEC: Spec<TextgailConfig> = Spec {
    name: "textgail",
    about: "PPO on discriminator rewards with human demonstrations in every buffer (TextGAIL, Wu et al. 2021)",
    build: |c, p| Box::new(TextGail::new(c, p)),
    check: any_networks,
    settings: PhantomData,
};

/// TextGAIL's own `[gan]` keys; the buffer is `gan.batch_size` texts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TextgailConfig {
    /// Texts per PPO update (the buffer is split into mini-batches of this size).
    pub ppo_batch: i64,
    /// Passes over each buffer.
    pub ppo_epochs: usize,
    /// PPO's clip range: ratios outside [1 - clip, 1 + clip] give no gradient.
    pub clip: f64,
    /// Share of each buffer that is human text at the first step (falls to 0 at the last).
    pub demo_ratio: f64,
    /// The human texts' reward (constant, not normalised).
    pub demo_reward: f64,
    /// Momentum, per sample, of the running mean and variance the rewards are normalised by.
    pub reward_momentum: f64,
    /// Normalised rewards are clipped to [-advantage_clip, advantage_clip].
    pub advantage_clip: f64,
    /// Weight of the KL penalty toward the starting generator (0: none, as the released code).
    pub kl_coef: f64,
}

impl Default for TextgailConfig {
    fn default() -> Self {
        TextgailConfig {
            ppo_batch: 8,
            ppo_epochs: 1,
            clip: 0.2,
            demo_ratio: 0.2,
            demo_reward: 2.0,
            reward_momentum: 0.9,
            advantage_clip: 2.0,
            kl_coef: 0.0,
        }
    }
}

impl Settings for TextgailConfig {
    fn validate(&self) -> Result<()> {
        let c = self;
        let in01 = |x: f64| (0.0..1.0).contains(&x);
        ensure((1..=1 << 16).contains(&c.ppo_batch), || {
            "gan.ppo_batch must be in 1..=65536".into()
        })?;
        ensure((1..=100).contains(&c.ppo_epochs), || {
            "gan.ppo_epochs must be in 1..=100".into()
        })?;
        ensure(c.clip > 0.0 && c.clip < 1.0, || {
            format!("gan.clip must be in (0, 1), got {}", c.clip)
        })?;
        ensure(in01(c.demo_ratio) && in01(c.reward_momentum), || {
            "gan.demo_ratio and gan.reward_momentum must be in [0, 1)".into()
        })?;
        ensure(c.demo_reward.is_finite() && c.advantage_clip > 0.0, || {
            "gan.demo_reward must be finite and gan.advantage_clip positive".into()
        })?;
        ensure(c.kl_coef >= 0.0 && c.kl_coef.is_finite(), || {
            "gan.kl_coef must be finite and non-negative".into()
        })
    }
}

/// Running mean and variance of rewards, updated one sample at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningNorm {
    pub mean: f64,
    pub var: f64,
    pub momentum: f64,
}

impl RunningNorm {
    pub fn update(&mut self, rewards: &[f64]) {
        let m = self.momentum;
        for &r in rewards {
            self.mean = m * self.mean + (1.0 - m) * r;
            self.var = m * self.var + (1.0 - m) * (r - self.mean).powi(2);
        }
    }

    /// `(r - mean) / std`, clipped to [-clip, clip].
    pub fn advantage(&self, r: f64, clip: f64) -> f64 {
        ((r - self.mean) / (self.var.sqrt() + 1e-8)).clamp(-clip, clip)
    }
}

/// PPO's clipped surrogate for sequence log-probabilities `logp` against those the buffer was
/// drawn with, `old`, and advantages `adv` (all [B]): `mean max(-A r, -A clip(r))`. Also
/// returns the share of clipped ratios and `mean (logp - old)^2` (TextGAIL's `approx_kl`).
pub fn ppo_loss(logp: &Tensor, old: &Tensor, adv: &Tensor, clip: f64) -> (Tensor, f64, f64) {
    let log_ratio = logp - old;
    let ratio = log_ratio.exp();
    let plain = -(adv * &ratio);
    let clipped = -(adv * ratio.clamp(1.0 - clip, 1.0 + clip));
    let loss = plain.maximum(&clipped).mean(Kind::Float);
    let frac = tch::no_grad(|| {
        (ratio - 1.0)
            .abs()
            .gt(clip)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
    });
    let kl = tch::no_grad(|| log_ratio.square().mean(Kind::Float).double_value(&[]));
    (loss, frac, kl)
}

/// Summed log-probabilities [B] of each row of `tokens` [B, T] (up to its `<eos>`) under `gen`,
/// without dropout, so the ratio of an unchanged policy is exactly 1.
fn seq_log_probs(
    gen: &dyn Generator,
    tokens: &Tensor,
    cond: &Condition,
    shapes: &Shapes,
) -> Tensor {
    let logp = super::batches::token_log_probs_in(gen, tokens, cond, shapes, false);
    (logp * shapes.mask(tokens)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
}

/// One buffer: texts [N, gen_len] (samples first, then human texts), their condition, the
/// log-probabilities they were drawn with and their advantages.
struct Buffer {
    tokens: Tensor,
    cond: Condition,
    old: Tensor,
    adv: Tensor,
}

pub struct TextGail {
    adv: AdvConfig,
    cfg: TextgailConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
    norm: RunningNorm,
    /// The generator as the adversarial phase found it (the KL penalty's reference).
    start: Option<GeneratorModel>,
    /// The last buffer's samples and their condition: the discriminator's fakes.
    fakes: Option<(Tensor, Condition)>,
}

impl TextGail {
    pub fn new(cfg: TextgailConfig, p: Parts) -> Self {
        let start = (cfg.kl_coef > 0.0).then(|| {
            let mut m = p.generator_copy();
            m.vs.freeze();
            m
        });
        TextGail {
            adv: p.adv.clone(),
            norm: RunningNorm {
                mean: 0.0,
                var: 1.0,
                momentum: cfg.reward_momentum,
            },
            cfg,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
            start,
            fakes: None,
        }
    }

    /// D's reward for generated rows `fake` [B, gen_len]: s(C(fake) - C(real)) against as many
    /// random real rows under the contrastive (relativistic) loss, else s(C(fake)).
    fn rewards(&self, ctx: &mut Ctx, fake: &Tensor, cond: &Condition) -> Tensor {
        let n = fake.size()[0];
        let d = self.disc.model.net.as_ref();
        let score = |x: &Tensor, c: &Condition| {
            d.score_given(&self.shapes.to_d_len(x), c, false).mean_dim(
                [1i64].as_slice(),
                false,
                Kind::Float,
            )
        };
        let f = score(fake, cond);
        match self.adv.loss {
            super::GanLoss::Rsgan => {
                let (real, rc) = super::batches::real_batch_given(ctx, n, &self.shapes);
                (f - score(&real, &rc)).sigmoid()
            }
            _ => f.sigmoid(),
        }
    }

    /// Draws a buffer: samples rewarded by D (minus the KL penalty), normalised; human texts
    /// with the constant reward. Returns it with the step's figures.
    fn buffer(&mut self, ctx: &mut Ctx) -> (Buffer, StepStats) {
        let _guard = tch::no_grad_guard();
        let n = self.adv.batch_size;
        let ratio = self.cfg.demo_ratio * (1.0 - ctx.step as f64 / ctx.total.max(1) as f64);
        let n_demo = ((n as f64 * ratio).round() as i64).min(n - 1);
        let n_gen = n - n_demo;
        let picks: Vec<usize> = (0..n)
            .map(|_| ctx.rng.gen_range(0..ctx.real.len()))
            .collect();
        let cond = ctx.cond_of(&picks);
        let gen_cond = cond.narrow(0, n_gen);
        let fake =
            super::batches::sample_tensor(ctx.gen, n_gen, &gen_cond, &self.shapes, ctx.device);
        let demos = real_rows(ctx.real, &picks[n_gen as usize..], &self.shapes, ctx.device).narrow(
            1,
            0,
            self.shapes.gen_len,
        );
        let tokens = Tensor::cat(&[&fake, &demos], 0);
        let old = seq_log_probs(ctx.gen, &tokens, &cond, &self.shapes);
        let d_reward = self.rewards(ctx, &fake, &gen_cond);
        let mut stats = StepStats::default();
        stats.extra.insert(
            "reward".into(),
            d_reward.mean(Kind::Float).double_value(&[]),
        );
        stats
            .extra
            .insert("demo_ratio".into(), n_demo as f64 / n as f64);
        let mut reward = d_reward;
        if let Some(start) = &self.start {
            let gen_old = old.narrow(0, 0, n_gen);
            let log_ratio =
                gen_old - seq_log_probs(start.net.as_ref(), &fake, &gen_cond, &self.shapes);
            stats.extra.insert(
                "kl_start".into(),
                log_ratio.mean(Kind::Float).double_value(&[]),
            );
            reward -= log_ratio * self.cfg.kl_coef;
        }
        let r: Vec<f64> = Vec::try_from(reward.to_kind(Kind::Double).to_device(tch::Device::Cpu))
            .expect("rewards");
        self.norm.update(&r);
        let mut adv: Vec<f32> = r
            .iter()
            .map(|&x| self.norm.advantage(x, self.cfg.advantage_clip) as f32)
            .collect();
        adv.resize(n as usize, self.cfg.demo_reward as f32);
        let adv = Tensor::from_slice(&adv).to_device(ctx.device);
        self.fakes = Some((fake, gen_cond));
        let buffer = Buffer {
            tokens,
            cond,
            old,
            adv,
        };
        (buffer, stats)
    }
}

impl Algorithm for TextGail {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (buf, mut stats) = self.buffer(ctx);
        let n = buf.tokens.size()[0] as usize;
        let (mut loss_sum, mut frac_sum, mut kl_sum, mut updates) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..self.cfg.ppo_epochs {
            let mut order: Vec<i64> = (0..n as i64).collect();
            order.shuffle(ctx.rng);
            for chunk in order.chunks(self.cfg.ppo_batch as usize) {
                let idx = Tensor::from_slice(chunk).to_device(ctx.device);
                let toks = buf.tokens.index_select(0, &idx);
                let logp =
                    seq_log_probs(ctx.gen, &toks, &buf.cond.index_select(&idx), &self.shapes);
                let (old, adv) = (buf.old.index_select(0, &idx), buf.adv.index_select(0, &idx));
                let (loss, frac, kl) = ppo_loss(&logp, &old, &adv, self.cfg.clip);
                loss_sum += g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
                (frac_sum, kl_sum, updates) = (frac_sum + frac, kl_sum + kl, updates + 1.0);
            }
        }
        stats.g_loss = Some(loss_sum / updates);
        stats.extra.insert("clip_frac".into(), frac_sum / updates);
        stats.extra.insert("approx_kl".into(), kl_sum / updates);
        stats
    }

    /// One update on the last buffer's samples against as many random training texts (fresh
    /// samples before the first buffer: the discriminator's pretraining).
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let Some((fake, fc)) = &self.fakes else {
            return StepStats::from_d(self.disc.update_on_fresh(ctx, &self.shapes, &self.adv));
        };
        let n = fake.size()[0];
        let (real, rc) = super::batches::real_batch_given(ctx, n, &self.shapes);
        let fake = self.shapes.to_d_len(fake);
        StepStats::from_d(self.disc.update_ids(&real, &fake, (&rc, fc), self.adv.d_lr))
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        let mut t = vec![(
            "textgail.norm".to_string(),
            Tensor::from_slice(&[self.norm.mean, self.norm.var]),
        )];
        if let Some(start) = &self.start {
            t.extend(crate::models::vars::named_vars(
                &start.vs,
                "textgail.start.",
            ));
        }
        t
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        let norm = tensors
            .get("textgail.norm")
            .ok_or_else(|| Error::checkpoint(path, "missing tensor textgail.norm"))?;
        let v: Vec<f64> = Vec::try_from(norm)
            .map_err(|e: tch::TchError| Error::checkpoint(path, e.to_string()))?;
        (self.norm.mean, self.norm.var) = (v[0], v[1]);
        if let Some(start) = &mut self.start {
            crate::models::vars::restore_vars(&mut start.vs, tensors, "textgail.start.", path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clipped surrogate by hand: a positive advantage stops pulling once the ratio passes
    /// 1 + clip, a negative one once it falls under 1 - clip.
    #[test]
    fn ppo_loss_clips_as_the_paper_defines() {
        let old = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 0.0]);
        let logp = Tensor::from_slice(&[0.5f32.ln(), 1.5f32.ln(), 1.1f32.ln(), 0.5f32.ln()])
            .set_requires_grad(true);
        let adv = Tensor::from_slice(&[1.0f32, 1.0, -1.0, -1.0]);
        let (loss, frac, kl) = ppo_loss(&logp, &old, &adv, 0.2);
        // max(-A r, -A clip(r)) per row: max(-0.5, -0.8) = -0.5; max(-1.5, -1.2) = -1.2;
        // max(1.1, 1.1) = 1.1; max(0.5, 0.8) = 0.8.
        let want = (-0.5 - 1.2 + 1.1 + 0.8) / 4.0;
        assert!(
            (loss.double_value(&[]) - want).abs() < 1e-6,
            "{}",
            loss.double_value(&[])
        );
        assert!(
            (frac - 0.75).abs() < 1e-9,
            "3 of 4 ratios are outside [0.8, 1.2]: {frac}"
        );
        let lr: f64 = [0.5f64.ln(), 1.5f64.ln(), 1.1f64.ln(), 0.5f64.ln()]
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            / 4.0;
        assert!((kl - lr).abs() < 1e-6);
        loss.backward();
        // Gradient -A r / 4 where the unclipped term is the max, 0 where the clipped one is.
        let g: Vec<f32> = Vec::try_from(logp.grad()).unwrap();
        let want = [-0.5 / 4.0, 0.0, 1.1 / 4.0, 0.0];
        for (a, b) in g.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-6, "{g:?}");
        }
    }

    /// The running normaliser moves by the momentum per sample and clips advantages.
    #[test]
    fn rewards_normalise_per_sample_and_clip() {
        let mut n = RunningNorm {
            mean: 0.0,
            var: 1.0,
            momentum: 0.9,
        };
        n.update(&[1.0]);
        assert!((n.mean - 0.1).abs() < 1e-12);
        assert!((n.var - (0.9 + 0.1 * 0.81)).abs() < 1e-12);
        assert_eq!(n.advantage(1e6, 2.0), 2.0);
        assert_eq!(n.advantage(-1e6, 2.0), -2.0);
    }

    /// A TextGAIL step on the tiny setup: one PPO update over the whole buffer starts at
    /// ratio 1 (nothing clipped, no KL), the buffer holds the configured share of human texts,
    /// the KL to the starting generator is 0 before it moves, and both sides train.
    #[test]
    fn a_step_trains_both_sides() {
        use crate::algorithms::testing::{tiny_cnn, tiny_setup};
        use rand::SeedableRng;
        tch::manual_seed(2);
        let (vocab, _, gen) = tiny_setup();
        let gan = crate::algorithms::testing::gan(
            "algorithm = \"textgail\"\nsteps = 10\nbatch_size = 16\nppo_batch = 16\ndemo_ratio = 0.25\nkl_coef = 0.1\nd_steps = 1\nloss = \"rsgan\"",
        );
        let mut alg = crate::algorithms::testing::built(&gan, &tiny_cnn(), (&vocab, &gen));
        let real: Vec<Vec<i64>> = ["a b c", "d e f", "a c e", "b d f"]
            .iter()
            .map(|l| vocab.encode(l).unwrap())
            .collect();
        let before: Vec<Tensor> = gen.vs.variables().values().map(Tensor::copy).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = crate::algorithms::testing::ctx(&gen, &real, &mut rng, 10);
        let d_before = alg.sides().0.opt.t;
        let s = alg.step(&mut ctx);
        assert_eq!(s.extra["demo_ratio"], 0.25, "{s:?}");
        assert_eq!(s.extra["clip_frac"], 0.0, "{s:?}");
        assert!(s.extra["approx_kl"] < 1e-10, "{s:?}");
        assert!(s.extra["kl_start"].abs() < 1e-6, "{s:?}");
        assert!(s.d_loss.is_some() && s.g_loss.is_some());
        assert_eq!(alg.sides().0.opt.t, d_before + 1);
        let moved = gen
            .vs
            .variables()
            .values()
            .zip(&before)
            .any(|(a, b)| !a.equal(b));
        assert!(moved, "the generator did not move");
    }
}
