//! LeakGAN (Guo et al., AAAI 2018): the CNN discriminator leaks its feature vector of the text
//! so far to a hierarchical generator (`generator.kind = "leakgan"`, [`LeakganGenerator`]).
//! After every discriminator update its layers are copied into the generator's frozen copy,
//! so the Manager reads what D computes now.
//!
//! One generator update (the paper's Eq. 8-10):
//! - Rewards: SeqGAN's batched Monte Carlo rollouts (`rollouts` completions of every prefix,
//!   by a copy of the generator that follows it at `rollout_update`) scored by D, then the
//!   bootstrapped rescaled activation of Eq. 11 within the batch at each position:
//!   `sigmoid(delta (0.5 - rank / B))`, rank 0 the highest, by an explicit sort (the paper's
//!   form; the official code ranks in dict order and uses `sigmoid(16 idx / B - 8)`).
//! - Manager: minimise `-sum_t Q_t d_cos(f_{t+c} - f_t, g_t)` over the positions with c
//!   steps after them, Q the rescaled reward.
//! - Worker: REINFORCE with the intrinsic reward `r_t = 1/c sum_{i=1..c} d_cos(f_t - f_{t-i},
//!   g_{t-i})` for the token that makes prefix t, the goals read without their gradient.
//!
//! Pretraining differs from the paper in one way, stated: MLE (the run's MLE phase, and
//! `gan.mle_every` during the adversarial phase, as the paper interleaves it) trains Worker and
//! Manager together by the likelihood, with the goals' gradient, instead of the Manager by
//! its cosine loss on real feature transitions; and MLE runs before D is pretrained, so the
//! leaked features change when D's pretrained layers are first copied in.
use super::batches::{fresh_samples, reinforce_loss, Shapes, Slice};
use super::disc_side::DiscSide;
use super::seqgan::{follow, rollout_rewards_of_rows};
use super::{g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::error::{ensure, Error, Result};
use crate::models::disc::DiscriminatorConfig;
use crate::models::{GeneratorConfig, GeneratorModel};
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{nn::VarStore, Kind, Tensor};

pub static SPEC: Spec<LeakganAlgConfig> = Spec {
    name: "leakgan",
    about: "a Manager reads the CNN discriminator's leaked features and sets goals for a Worker (Guo et al. 2018)",
    build: |c, p| Box::new(LeakGan::new(c, p)),
    check: leaked_layers,
    settings: PhantomData,
};

/// The generator must be LeakGAN's and the discriminator the CNN its copy mirrors.
fn leaked_layers(g: &GeneratorConfig, d: &DiscriminatorConfig) -> Result<()> {
    let GeneratorConfig::Leakgan(lg) = g else {
        return Err(Error::Config(
            "gan.algorithm = \"leakgan\" trains LeakGAN's Manager and Worker: set generator.kind = \"leakgan\"".into(),
        ));
    };
    let DiscriminatorConfig::Cnn(c) = d else {
        return Err(Error::Config(
            "gan.algorithm = \"leakgan\" leaks a CNN's features: set discriminator.kind = \"cnn\""
                .into(),
        ));
    };
    let f = &lg.features;
    let same = (
        c.embed_dim,
        &c.filter_sizes,
        &c.num_filters,
        c.num_rep,
        c.highway,
    ) == (f.embed_dim, &f.filter_sizes, &f.num_filters, 1, f.highway);
    ensure(same, || {
        format!(
            "the discriminator must have the layers generator.features copies: embed_dim {}, filter_sizes {:?}, num_filters {:?}, num_rep 1, highway {:?} (set discriminator.* to match)",
            f.embed_dim, f.filter_sizes, f.num_filters, f.highway
        )
    })
}

/// LeakGAN's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LeakganAlgConfig {
    pub rollouts: i64,
    pub rollout_update: f64,
    /// delta of the bootstrapped rescaled activation (the paper's 12); 0 uses the raw rewards.
    pub rescale: f64,
}

impl Default for LeakganAlgConfig {
    fn default() -> Self {
        LeakganAlgConfig {
            rollouts: 4,
            rollout_update: 0.8,
            rescale: 12.0,
        }
    }
}

impl Settings for LeakganAlgConfig {
    fn validate(&self) -> Result<()> {
        ensure((1..=256).contains(&self.rollouts), || {
            "gan.rollouts must be in 1..=256".into()
        })?;
        ensure((0.0..=1.0).contains(&self.rollout_update), || {
            "gan.rollout_update must be in [0, 1]".into()
        })?;
        ensure(self.rescale.is_finite() && self.rescale >= 0.0, || {
            "gan.rescale must be finite and non-negative".into()
        })
    }
}

/// The bootstrapped rescaled activation (Eq. 11) of rewards [B, T]: at each position, the
/// reward ranked r-th highest in the batch (r = 0..B-1) becomes `sigmoid(delta (0.5 - r / B))`.
pub fn rescale(rewards: &Tensor, delta: f64) -> Tensor {
    let b = rewards.size()[0];
    let (_, order) = rewards.sort(0, true); // order[r, t]: the row ranked r at position t
    let ranks = order.argsort(0, false).to_kind(Kind::Float); // rank of each row
    ((-ranks / b as f64 + 0.5) * delta).sigmoid()
}

/// Cosine similarity along the last dimension.
fn cos(a: &Tensor, b: &Tensor) -> Tensor {
    let dot = (a * b).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
    let n = |x: &Tensor| x.norm_scalaropt_dim(2, [-1i64].as_slice(), false);
    dot / (n(a) * n(b)).clamp_min(1e-8)
}

/// The Worker's intrinsic rewards [B, T] from features f_0..f_T [B, T + 1, F] and goals
/// g_0..g_{T-1} [B, T, F]: for the token that makes prefix k (k = 1..=T),
/// `1/c sum_{i=1..c, k-i >= 0} cos(f_k - f_{k-i}, g_{k-i})`.
pub fn intrinsic_rewards(features: &Tensor, goals: &Tensor, c: i64) -> Tensor {
    let t = goals.size()[1];
    let cols: Vec<Tensor> = (1..=t)
        .map(|k| {
            let terms: Vec<Tensor> = (1..=c.min(k))
                .map(|i| {
                    let moved = features.select(1, k) - features.select(1, k - i);
                    cos(&moved, &goals.select(1, k - i))
                })
                .collect();
            Tensor::stack(&terms, 0).sum_dim_intlist([0i64].as_slice(), false, Kind::Float)
                / c as f64
        })
        .collect();
    Tensor::stack(&cols, 1)
}

/// The Manager's loss: `-mean_t Q_t cos(f_{t+c} - f_t, g_t)` over t = 0..T-c (goals with
/// their gradient, features and Q without).
pub fn manager_loss(features: &Tensor, goals: &Tensor, q: &Tensor, c: i64) -> Tensor {
    let t = goals.size()[1];
    let n = t - c + 1;
    if n <= 0 {
        return Tensor::zeros([], (Kind::Float, goals.device()));
    }
    let moved = features.narrow(1, c, n) - features.narrow(1, 0, n);
    -(cos(&moved, &goals.narrow(1, 0, n)) * q.narrow(1, 0, n).detach()).mean(Kind::Float)
}

pub struct LeakGan {
    adv: AdvConfig,
    cfg: LeakganAlgConfig,
    shapes: Shapes,
    horizon: i64,
    disc: DiscSide,
    g_opt: Adam,
    rollout: GeneratorModel,
}

impl LeakGan {
    pub fn new(cfg: LeakganAlgConfig, p: Parts) -> Self {
        let GeneratorConfig::Leakgan(g) = p.generator else {
            unreachable!("checked with the config")
        };
        LeakGan {
            adv: p.adv.clone(),
            horizon: g.horizon,
            rollout: p.generator_copy(),
            cfg,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
        }
    }
}

/// Copies D's layers into the generator's `leak.*` copy.
pub fn leak_into(disc: &VarStore, gen: &VarStore) {
    let _guard = tch::no_grad_guard();
    let dst = gen.variables();
    for (name, src) in disc.variables() {
        let key = format!("leak.{name}");
        let mut d = dst
            .get(&key)
            .unwrap_or_else(|| panic!("{key}: the generator mirrors D (checked with the config)"))
            .shallow_clone();
        d.copy_(&src);
    }
}

impl Algorithm for LeakGan {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (samples, cond) = fresh_samples(ctx, self.adv.batch_size, &self.shapes);
        // Several processes roll out a slice of the batch each and gather the rewards: the
        // rescaling ranks them over the whole batch, and the rest of the step is cheap.
        let slice = Slice::of(&samples, &self.shapes);
        let rewards = slice.gather(&rollout_rewards_of_rows(
            self.rollout.net.as_ref(),
            &self.disc,
            (&samples, &cond),
            self.cfg.rollouts,
            &self.shapes,
            slice.rows,
        ));
        // (The rows too: the ranks drew alike, and this keeps the rewards with their rows
        // even if some draw before this step had differed between them.)
        let samples = slice.gather(&slice.take(&samples, &cond).0);
        let q = match self.cfg.rescale {
            0.0 => rewards.shallow_clone(),
            delta => rescale(&rewards, delta),
        };
        let (b, t) = samples.size2().expect("[B, T]");
        let bos = Tensor::full([b, 1], self.shapes.bos, (Kind::Int64, samples.device()));
        let input = Tensor::cat(&[bos, samples.narrow(1, 0, t - 1)], 1);
        let pass = ctx
            .gen
            .leak_pass(&input, &samples, true)
            .expect("a LeakGAN generator (checked with the config)");
        let c = self.horizon;
        let intrinsic = tch::no_grad(|| intrinsic_rewards(&pass.features, &pass.goals, c));
        let mask = self.shapes.mask(&samples);
        let logp = pass
            .logits
            .log_softmax(-1, Kind::Float)
            .gather(2, &samples.unsqueeze(2), false)
            .squeeze_dim(2);
        let worker = reinforce_loss(&logp, &intrinsic, &mask);
        let manager = manager_loss(&pass.features, &pass.goals, &q, c);
        let loss = &worker + &manager;
        let mut out = StepStats::g(g_update(
            &mut self.g_opt,
            &loss,
            self.adv.grad_clip,
            self.adv.g_lr,
        ));
        let mean = |x: &Tensor| {
            ((x * &mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)).double_value(&[])
        };
        out.extra.insert("reward".into(), mean(&rewards));
        out.extra.insert("intrinsic".into(), mean(&intrinsic));
        out.extra
            .insert("manager_loss".into(), manager.double_value(&[]));
        out
    }

    fn after_g_steps(&mut self, ctx: &mut Ctx) {
        follow(&self.rollout.vs, ctx.gen_vars, self.cfg.rollout_update);
    }

    /// SeqGAN's discriminator update, then D's layers copied into the generator's.
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let s = self.disc.update_on_fresh(ctx, &self.shapes, &self.adv);
        leak_into(&self.disc.model.vs, ctx.gen_vars);
        StepStats::from_d(s)
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
    use crate::models::disc::{CnnDiscConfig, DiscriminatorModel};
    use crate::models::LeakganConfig;
    use tch::Device;

    /// Eq. 11 by hand: at each position the batch's rewards ranked high to low become
    /// sigmoid(delta (0.5 - rank / B)), whatever their spread.
    #[test]
    fn rescaled_activation_by_rank() {
        let r = Tensor::from_slice(&[0.1f32, 5.0, 0.9, 0.2, 0.5, 0.3]).view([3, 2]);
        let got: Vec<f32> = Vec::try_from(rescale(&r, 12.0).reshape([-1])).unwrap();
        let s = |rank: f64| 1.0 / (1.0 + (-(12.0 * (0.5 - rank / 3.0))).exp());
        // Column 0: 0.1, 0.9, 0.5 rank 2, 0, 1; column 1: 5.0, 0.2, 0.3 rank 0, 2, 1.
        let want = [s(2.0), s(0.0), s(0.0), s(2.0), s(1.0), s(1.0)];
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    fn setup() -> (LeakganConfig, GeneratorModel, DiscriminatorModel) {
        let features = CnnDiscConfig {
            embed_dim: 4,
            filter_sizes: vec![1, 2],
            num_filters: vec![3, 4],
            num_rep: 1,
            dropout: 0.0,
            highway: Default::default(),
        };
        let cfg = LeakganConfig {
            embed_dim: 5,
            hidden_dim: 6,
            goal_dim: 3,
            horizon: 2,
            features: features.clone(),
        };
        let gen = GeneratorModel::new(&GeneratorConfig::Leakgan(cfg.clone()), 9, 6, Device::Cpu);
        let d = DiscriminatorModel::new(&DiscriminatorConfig::Cnn(features), 9, 6, Device::Cpu);
        (cfg, gen, d)
    }

    fn grad_sum(vs: &VarStore, part: &str) -> f64 {
        vs.variables()
            .iter()
            .filter(|(n, _)| n.starts_with(part))
            .map(|(_, v)| {
                let g = v.grad();
                match g.defined() {
                    true => g.abs().sum(Kind::Double).double_value(&[]),
                    false => 0.0,
                }
            })
            .sum()
    }

    /// The characteristic piece: the Manager learns through D's leaked features. Its loss's
    /// gradient reaches the Manager and not the Worker; the Worker's REINFORCE loss reaches
    /// the Worker and not the Manager; and copying another discriminator into the generator
    /// changes the features the Manager reads, so its gradient changes too.
    #[test]
    fn the_manager_learns_through_the_leaked_features() {
        tch::manual_seed(2);
        let (cfg, gen, d) = setup();
        leak_into(&d.vs, &gen.vs);
        let text = Tensor::randint(9, [4, 6], (Kind::Int64, Device::Cpu));
        let input = Tensor::cat(
            &[
                Tensor::ones([4, 1], (Kind::Int64, Device::Cpu)),
                text.narrow(1, 0, 5),
            ],
            1,
        );
        let q = Tensor::rand([4, 6], (Kind::Float, Device::Cpu));
        let manager_grads = |gen: &GeneratorModel| {
            for (_, mut v) in gen.vs.variables() {
                v.zero_grad();
            }
            let pass = gen.net.leak_pass(&input, &text, true).unwrap();
            assert_eq!(pass.features.size(), vec![4, 7, 7]);
            manager_loss(&pass.features, &pass.goals, &q, cfg.horizon).backward();
            let m = grad_sum(&gen.vs, "manager.") + grad_sum(&gen.vs, "to_goal.");
            let w = grad_sum(&gen.vs, "worker.")
                + grad_sum(&gen.vs, "work_out.")
                + grad_sum(&gen.vs, "leak.");
            let g: Vec<f32> = Vec::try_from(
                gen.vs.variables()["manager.weight_ih_l0"]
                    .grad()
                    .reshape([-1]),
            )
            .unwrap();
            (m, w, g)
        };
        let (m, w, before) = manager_grads(&gen);
        assert!(m > 0.0, "the Manager's loss trains the Manager");
        assert_eq!(w, 0.0, "and nothing else (the leaked copy is frozen)");
        // Worker: REINFORCE with intrinsic rewards, the goals read without their gradient.
        for (_, mut v) in gen.vs.variables() {
            v.zero_grad();
        }
        let pass = gen.net.leak_pass(&input, &text, true).unwrap();
        let r = intrinsic_rewards(&pass.features, &pass.goals, cfg.horizon).detach();
        let logp = pass
            .logits
            .log_softmax(-1, Kind::Float)
            .gather(2, &text.unsqueeze(2), false)
            .squeeze_dim(2);
        reinforce_loss(&logp, &r, &Tensor::ones([4, 6], (Kind::Float, Device::Cpu))).backward();
        assert!(grad_sum(&gen.vs, "work_out.") > 0.0);
        assert_eq!(
            grad_sum(&gen.vs, "manager.") + grad_sum(&gen.vs, "to_goal."),
            0.0
        );
        // Another discriminator leaked in: other features, another gradient for the Manager.
        let other = DiscriminatorModel::new(
            &DiscriminatorConfig::Cnn(cfg.features.clone()),
            9,
            6,
            Device::Cpu,
        );
        leak_into(&other.vs, &gen.vs);
        let (_, _, after) = manager_grads(&gen);
        let moved: f32 = before.iter().zip(&after).map(|(a, b)| (a - b).abs()).sum();
        assert!(moved > 1e-4, "the Manager reads D's features: {moved}");
    }

    /// Intrinsic rewards by hand for c = 1: the cosine of each feature move with the goal
    /// set just before it.
    #[test]
    fn intrinsic_rewards_by_hand() {
        let f = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 1.0, 1.0]).view([1, 3, 2]);
        let g = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0]).view([1, 2, 2]);
        let r: Vec<f32> = Vec::try_from(intrinsic_rewards(&f, &g, 1).reshape([-1])).unwrap();
        // f1 - f0 = (1, 0) against g0 = (1, 0): 1; f2 - f1 = (0, 1) against g1 = (1, 0): 0.
        assert!((r[0] - 1.0).abs() < 1e-6 && r[1].abs() < 1e-6, "{r:?}");
    }
}
