//! RankGAN (Lin et al., NeurIPS 2017, Eq. 1-7): a ranker instead of a classifier. A CNN maps
//! each text to a feature vector `y`; a text's relevance to a human reference `u` is
//! `cos(y_s, y_u)`, and its rank score within a comparison set `C' = C + {s}` is the softmax
//! `P(s|u, C') = exp(g cos(y_s, y_u)) / sum_{s' in C'} exp(g cos(y_s', y_u))`, averaged over a
//! reference set U of human texts: `R(s|U, C)`. The ranker maximises
//! `E_real log R(s|U, C-) - E_fake log R(s|U, C+)`, with generated texts as the comparison set
//! of real ones and human texts as that of generated ones. The generator is SeqGAN's
//! REINFORCE with Monte Carlo rollouts (batched as SeqGAN's) whose reward is
//! `R(completion|U, C+)`. The ranker is a CNN with `gan.feature_dim` outputs built from the
//! run's `[discriminator]` (which must be `cnn`); it does not read labels.
use super::batches::{
    fresh_samples, real_batch_given, reinforce_loss, token_log_probs, Shapes, Slice,
};
use super::disc_side::DiscSide;
use super::seqgan::{follow, rollout_scores_of_rows};
use super::{g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Error, Result};
use crate::models::disc::{score_given_in_chunks, DiscriminatorConfig, DiscriminatorModel};
use crate::models::{GeneratorConfig, GeneratorModel};
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{Kind, Tensor};

pub static SPEC: Spec<RankganConfig> = Spec {
    name: "rankgan",
    about: "a CNN ranker scores texts by softmax cosine to human references against a comparison set (Lin et al. 2017)",
    build: |c, p| Box::new(RankGan::new(c, p)),
    check: cnn_ranker,
    settings: PhantomData,
};

fn cnn_ranker(_: &GeneratorConfig, d: &DiscriminatorConfig) -> Result<()> {
    match d {
        DiscriminatorConfig::Cnn(_) => Ok(()),
        _ => Err(Error::Config(
            "gan.algorithm = \"rankgan\" ranks with a CNN: set discriminator.kind = \"cnn\"".into(),
        )),
    }
}

/// RankGAN's own `[gan]` keys (Texygen's values).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RankganConfig {
    /// The softmax's inverse temperature g.
    pub gamma: f64,
    /// Human texts in the reference set U of each step.
    pub ref_size: i64,
    /// Outputs of the ranker's CNN: the feature vector's size.
    pub feature_dim: i64,
    pub rollouts: i64,
    pub rollout_update: f64,
}

impl Default for RankganConfig {
    fn default() -> Self {
        RankganConfig {
            gamma: 1.0,
            ref_size: 16,
            feature_dim: 64,
            rollouts: 16,
            rollout_update: 0.8,
        }
    }
}

impl Settings for RankganConfig {
    fn validate(&self) -> Result<()> {
        let c = self;
        ensure(c.gamma.is_finite() && c.gamma > 0.0, || {
            "gan.gamma must be positive and finite".into()
        })?;
        ensure(
            (1..=4096).contains(&c.ref_size) && (1..=4096).contains(&c.feature_dim),
            || "gan.ref_size and gan.feature_dim must be in 1..=4096".into(),
        )?;
        ensure((1..=256).contains(&c.rollouts), || {
            "gan.rollouts must be in 1..=256".into()
        })?;
        ensure((0.0..=1.0).contains(&c.rollout_update), || {
            "gan.rollout_update must be in [0, 1]".into()
        })
    }
}

/// `log P(s|u, C + {s})` [N, K] of candidates with features `cand` [N, F] against the
/// comparison set `comp` [M, F], for each of the references `refs` [K, F].
pub fn log_rank_probs(cand: &Tensor, comp: &Tensor, refs: &Tensor, gamma: f64) -> Tensor {
    let unit = |x: &Tensor| {
        let n = x
            .norm_scalaropt_dim(2, [1i64].as_slice(), true)
            .clamp_min(1e-8);
        x / n
    };
    let u = unit(refs);
    let a_s = unit(cand).matmul(&u.tr()) * gamma; // [N, K]
    let a_c = unit(comp).matmul(&u.tr()) * gamma; // [M, K]
    let lse_c = a_c.logsumexp([0i64].as_slice(), true); // [1, K]
    let denom = Tensor::stack(&[a_s.shallow_clone(), lse_c.expand_as(&a_s)], 0)
        .logsumexp([0i64].as_slice(), false);
    a_s - denom
}

/// `R(s|U, C)` [N]: the rank probabilities averaged over the references.
pub fn rank_scores(cand: &Tensor, comp: &Tensor, refs: &Tensor, gamma: f64) -> Tensor {
    log_rank_probs(cand, comp, refs, gamma)
        .exp()
        .mean_dim([1i64].as_slice(), false, Kind::Float)
}

pub struct RankGan {
    adv: AdvConfig,
    cfg: RankganConfig,
    shapes: Shapes,
    /// The ranker (a CNN with `feature_dim` outputs) and its optimizer.
    disc: DiscSide,
    g_opt: Adam,
    rollout: GeneratorModel,
}

impl RankGan {
    pub fn new(cfg: RankganConfig, p: Parts) -> Self {
        let DiscriminatorConfig::Cnn(cnn) = p.discriminator else {
            unreachable!("checked with the config")
        };
        let device = p.device;
        let ranker =
            DiscriminatorModel::classifier(cnn, p.shapes.vocab_size, cfg.feature_dim, device);
        let rollout = p.generator_copy();
        RankGan {
            adv: p.adv.clone(),
            disc: DiscSide::new(ranker, p.adv),
            cfg,
            shapes: p.shapes,
            g_opt: p.g_opt,
            rollout,
        }
    }

    /// Ranker features [N, F] of discriminator-length ids.
    fn features(&self, ids: &Tensor, train: bool) -> Tensor {
        self.disc
            .model
            .net
            .score_given(ids, &Condition::None, train)
    }
}

impl Algorithm for RankGan {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (samples, cond) = fresh_samples(ctx, self.adv.batch_size, &self.shapes);
        let (refs, _) = real_batch_given(ctx, self.cfg.ref_size, &self.shapes);
        let (human, _) = real_batch_given(ctx, self.adv.batch_size, &self.shapes);
        let gamma = self.cfg.gamma;
        let (u, c) = tch::no_grad(|| (self.features(&refs, false), self.features(&human, false)));
        let d = self.disc.model.net.as_ref();
        let score = |_: &Tensor, rows: &Tensor, _: &Condition| {
            let y = score_given_in_chunks(d, rows, &Condition::None);
            rank_scores(&y, &c, &u, gamma)
        };
        let last = |base: &Tensor| rank_scores(&self.features(base, false), &c, &u, gamma);
        // Several processes: each rolls out and ranks its slice of the rows against the same
        // comparison and reference sets (a row's score depends on those alone), as SeqGAN's.
        let slice = Slice::of(&samples, &self.shapes);
        let rewards = rollout_scores_of_rows(
            self.rollout.net.as_ref(),
            (&samples, &cond),
            self.cfg.rollouts,
            &self.shapes,
            &score,
            &last,
            slice.rows,
        );
        let (samples, cond) = slice.take(&samples, &cond);
        let mask = self.shapes.mask(&samples);
        let logp = token_log_probs(ctx.gen, &samples, &cond, &self.shapes);
        let loss = reinforce_loss(&logp, &rewards, &mask) * slice.weight(&mask);
        let mut out = StepStats::g(g_update(
            &mut self.g_opt,
            &loss,
            self.adv.grad_clip,
            self.adv.g_lr,
        ));
        let sums = [(rewards * &mask).sum(Kind::Float), mask.sum(Kind::Float)];
        let [reward, tokens] = slice.sum(sums.map(|t| t.double_value(&[])));
        out.extra.insert("reward".into(), reward / tokens.max(1.0));
        out
    }

    fn after_g_steps(&mut self, ctx: &mut Ctx) {
        follow(&self.rollout.vs, ctx.gen_vars, self.cfg.rollout_update);
    }

    /// One ranker update (Eq. 7): real texts ranked against generated ones, generated against
    /// human ones, both relative to a fresh reference set. Accuracy: the share of real texts
    /// whose score beats the mean generated one's, and of generated texts below the mean real.
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let n = self.adv.batch_size;
        let (real, _) = real_batch_given(ctx, n, &self.shapes);
        let (fake, _) = fresh_samples(ctx, n, &self.shapes);
        let fake = self.shapes.to_d_len(&fake);
        let (refs, _) = real_batch_given(ctx, self.cfg.ref_size, &self.shapes);
        let (yr, yf, yu) = (
            self.features(&real, true),
            self.features(&fake, true),
            self.features(&refs, true),
        );
        let g = self.cfg.gamma;
        let r_real = rank_scores(&yr, &yf, &yu, g);
        let r_fake = rank_scores(&yf, &yr, &yu, g);
        let mut loss = -r_real.clamp_min(1e-20).log().mean(Kind::Float)
            + r_fake.clamp_min(1e-20).log().mean(Kind::Float);
        // R1 on each real text's log rank against the same generated set and references.
        let d = self.disc.model.net.as_ref();
        let (yf_, yu_) = (yf.detach(), yu.detach());
        let log_rank = |x: &Tensor| {
            let y = d.forward_embedded_given(x, &Condition::None, true);
            rank_scores(&y, &yf_, &yu_, g).clamp_min(1e-20).log()
        };
        if let Some(p) = self.disc.r1_weighted(&d.embed(&real), log_rank) {
            loss += p;
        }
        let (mr, mf) = (r_real.mean(Kind::Float), r_fake.mean(Kind::Float));
        let acc = |hit: Tensor| hit.to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        let (ra, fa) = (acc(r_real.gt_tensor(&mf)), acc(r_fake.lt_tensor(&mr)));
        let l = g_update(
            &mut self.disc.opt,
            &loss,
            self.adv.d_grad_clip,
            self.adv.d_lr,
        );
        StepStats {
            d_loss: Some(l),
            d_real_acc: Some(ra),
            d_fake_acc: Some(fa),
            ..Default::default()
        }
    }

    fn d_unit(&self) -> String {
        "ranker updates".into()
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        crate::models::vars::named_vars(&self.rollout.vs, "rollout.")
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        crate::models::vars::restore_vars(&mut self.rollout.vs, tensors, "rollout.", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's rank score is a softmax over the comparison set: for every reference, the
    /// probabilities of the set's members, each against the others, sum to 1; and a text
    /// identical to the reference outranks one orthogonal to it.
    #[test]
    fn rank_probabilities_sum_to_one_over_the_comparison_set() {
        tch::manual_seed(3);
        let set = Tensor::randn([5, 8], (Kind::Float, tch::Device::Cpu));
        let refs = Tensor::randn([3, 8], (Kind::Float, tch::Device::Cpu));
        let mut total = Tensor::zeros([3], (Kind::Float, tch::Device::Cpu));
        for i in 0..5 {
            let others: Vec<i64> = (0..5).filter(|&j| j != i).collect();
            let comp = set.index_select(0, &Tensor::from_slice(&others));
            let lp = log_rank_probs(&set.narrow(0, i, 1), &comp, &refs, 2.0); // [1, 3]
            total += lp.exp().squeeze_dim(0);
        }
        let t: Vec<f32> = Vec::try_from(total).unwrap();
        for x in t {
            assert!((x - 1.0).abs() < 1e-5, "{x}");
        }
        // Against one reference e1: e1 itself beats e2 (cos 1 vs 0): e^g / (e^g + 1).
        let e = |i: i64| Tensor::eye(4, (Kind::Float, tch::Device::Cpu)).narrow(0, i, 1);
        let r = rank_scores(&e(0), &e(1), &e(0), 3.0).double_value(&[0]);
        assert!((r - 3f64.exp() / (3f64.exp() + 1.0)).abs() < 1e-6, "{r}");
    }
}
