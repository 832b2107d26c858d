//! Adversarial training algorithms, each written against the [`Generator`] and
//! [`Discriminator`](crate::models::disc::Discriminator) traits only, so any generator meets any
//! discriminator.
//!
//! An algorithm is one file: its settings (the `[gan]` keys of its own), its step, its
//! discriminator schedule and an [`AlgorithmSpec`] static, plus one line in [`REGISTRY`].
//! Shared pieces live in named modules: [`batches`] (real and generated text on the device),
//! [`disc_side`] (the discriminator, its optimizer and loss), [`losses`], [`stats`].
//! The loop around a step (evaluation, checkpoints, logging) is the trainer's.

/// [`Algorithm::adv`], [`Algorithm::sides`] and [`Algorithm::sides_mut`] for an algorithm
/// whose struct holds its settings, discriminator side and generator optimizer in fields
/// named `adv`, `disc` and `g_opt` (every built-in one does): write `algorithm_sides!();` in
/// its `impl Algorithm` block.
#[macro_export]
macro_rules! algorithm_sides {
    () => {
        fn adv(&self) -> &$crate::algorithms::AdvConfig {
            &self.adv
        }

        fn sides(
            &self,
        ) -> (
            &$crate::algorithms::disc_side::DiscSide,
            &$crate::optim::Adam,
        ) {
            (&self.disc, &self.g_opt)
        }

        fn sides_mut(
            &mut self,
        ) -> (
            &mut $crate::algorithms::disc_side::DiscSide,
            &mut $crate::optim::Adam,
        ) {
            (&mut self.disc, &mut self.g_opt)
        }
    };
}

// For the algorithms' files, as `super::algorithm_sides!()`.
pub(crate) use algorithm_sides;

mod adversarial_nmt;
pub mod batches;
mod catgan;
pub mod config;
mod cot;
mod dgsan;
pub mod disc_side;
mod dpgan;
mod gumbel;
mod jsdgan;
mod leakgan;
pub mod lm_side;
pub mod losses;
mod maligan;
mod rankgan;
mod scratchgan;
mod sentigan;
mod seqgan;
pub mod stats;
#[cfg(test)]
pub(crate) mod testing;
mod textgail;
mod textgan;

pub use adversarial_nmt::{AdvNmt, AdvNmtConfig};
pub use catgan::{CatGan, CatganConfig};
pub use config::{AdvConfig, GanConfig};
pub use cot::{cot_loss, mediator_config, mediator_loss, Cot, CotConfig};
pub use dgsan::{dgsan_loss, Dgsan, DgsanConfig};
pub use dpgan::{returns, word_rewards, DpGan, DpganConfig};
pub use gumbel::{beta_at, BetaSchedule, Gumbel, GumbelConfig};
pub use jsdgan::{jsd_weights, JsdGan, JsdganConfig};
pub use losses::GanLoss;
pub use maligan::{MaliGan, MaliganConfig};
pub use rankgan::{log_rank_probs, rank_scores, RankGan, RankganConfig};
pub use scratchgan::{ScratchGan, ScratchganConfig};
pub use sentigan::{penalty_loss, SentiGan, SentiganConfig};
pub use seqgan::{
    follow, rollout_rewards, rollout_rewards_of_rows, rollout_scores, rollout_scores_of_rows,
    DRounds, SeqGan, SeqganConfig,
};
pub use stats::StepStats;
pub use textgail::{ppo_loss, RunningNorm, TextGail, TextgailConfig};

use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::models::disc::{DiscriminatorConfig, DiscriminatorModel};
use crate::models::{Generator, GeneratorConfig};
use crate::optim::Adam;
use batches::Shapes;
use disc_side::DiscSide;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{nn::VarStore, Device, Tensor};

/// The algorithms, by `gan.algorithm` name: one line each.
pub static REGISTRY: &[&dyn AlgorithmSpec] = &[
    &seqgan::SPEC,
    &maligan::SPEC,
    &gumbel::SPEC,
    &scratchgan::SPEC,
    &sentigan::SPEC,
    &adversarial_nmt::SPEC,
    &catgan::SPEC,
    &textgail::SPEC,
    &cot::SPEC,
    &jsdgan::SPEC,
    &dgsan::SPEC,
    &dpgan::SPEC,
    &rankgan::SPEC,
    &textgan::SPEC,
    &leakgan::SPEC,
];

/// Algorithms registered at run time ([`register`]): defined outside the library.
static REGISTERED: std::sync::RwLock<Vec<&'static dyn AlgorithmSpec>> =
    std::sync::RwLock::new(Vec::new());

/// Makes an algorithm defined outside the library (another crate, a test) available as
/// `gan.algorithm = "<its name>"`, as a built-in is through [`REGISTRY`]. A taken name is
/// refused.
pub fn register(spec: &'static dyn AlgorithmSpec) -> Result<()> {
    let mut extra = REGISTERED.write().expect("not poisoned");
    if spec.name() == config::NONE || all_of(&extra).iter().any(|s| s.name() == spec.name()) {
        return Err(Error::Config(format!(
            "an algorithm called `{}` is already registered",
            spec.name()
        )));
    }
    extra.push(spec);
    Ok(())
}

fn all_of(extra: &[&'static dyn AlgorithmSpec]) -> Vec<&'static dyn AlgorithmSpec> {
    REGISTRY.iter().chain(extra).copied().collect()
}

/// Every algorithm: the built-ins, then those registered at run time.
pub fn all() -> Vec<&'static dyn AlgorithmSpec> {
    all_of(&REGISTERED.read().expect("not poisoned"))
}

/// The algorithm called `name`.
pub fn spec(name: &str) -> Option<&'static dyn AlgorithmSpec> {
    all().into_iter().find(|s| s.name() == name)
}

/// The algorithms' names.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name()).collect()
}

/// Update counts of the adversarial phase's optimizers.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AdvCounts {
    #[serde(default)]
    pub d_t: i64,
    #[serde(default)]
    pub g_t: i64,
}

/// What an algorithm step sees of the run: the generator (the trait and its variables), the
/// training sequences, and where it stands.
pub struct Ctx<'a> {
    pub gen: &'a dyn Generator,
    /// The generator's variables (SeqGAN's delayed rollout copy follows them).
    pub gen_vars: &'a VarStore,
    pub real: &'a [Vec<i64>],
    /// The condition of each of `real`: a label, a source, or none.
    pub conds: crate::data::Conds<'a>,
    pub device: Device,
    /// Adversarial step (0-based) and how many there are.
    pub step: usize,
    pub total: usize,
    pub rng: &'a mut rand_chacha::ChaCha8Rng,
}

impl Ctx<'_> {
    /// The condition of training rows `picks` (none for unlabelled data): generated text is
    /// drawn under the labels of the real text it is compared with.
    pub fn cond_of(&self, picks: &[usize]) -> crate::data::Condition {
        self.conds.pick(picks.iter().copied(), self.device)
    }

    /// Conditions for `n` generated rows: those of random training rows (labels drawn as the
    /// data's are distributed, sources to translate); none for unconditional data, which
    /// leaves the random stream untouched.
    pub fn draw_cond(&mut self, n: i64) -> crate::data::Condition {
        if self.conds.is_none() {
            return crate::data::Condition::None;
        }
        use rand::Rng;
        let picks: Vec<usize> = (0..n)
            .map(|_| self.rng.gen_range(0..self.conds.len()))
            .collect();
        self.cond_of(&picks)
    }
}

pub trait Algorithm {
    /// The settings every algorithm shares (how many updates a step makes, rates, loss).
    fn adv(&self) -> &AdvConfig;

    /// One generator update.
    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats;

    /// One discriminator update on fresh samples (also how the discriminator is pretrained).
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats;

    /// Figures of the step as a whole, taken before its updates (the Gumbel temperature).
    fn step_figures(&self, _ctx: &Ctx) -> StepStats {
        StepStats::default()
    }

    /// Between the generator's updates and the discriminator's (SeqGAN's rollout copy).
    fn after_g_steps(&mut self, _ctx: &mut Ctx) {}

    /// One adversarial step: `gan.g_steps` generator updates, then `gan.d_steps`
    /// discriminator updates; the figures are those of the last update of each kind.
    fn step(&mut self, ctx: &mut Ctx) -> StepStats {
        let mut out = self.step_figures(ctx);
        for _ in 0..self.adv().g_steps {
            let s = self.g_step(ctx);
            out.update(s);
        }
        self.after_g_steps(ctx);
        for _ in 0..self.adv().d_steps {
            let s = self.d_step(ctx);
            out.update(s);
        }
        out
    }

    /// What one [`Algorithm::d_step`] is, for the log ("updates" unless it is a round).
    fn d_unit(&self) -> String {
        "updates".into()
    }

    /// The discriminator and the generator's adversarial optimizer, for checkpoints.
    fn sides(&self) -> (&DiscSide, &Adam);
    fn sides_mut(&mut self) -> (&mut DiscSide, &mut Adam);

    /// Checkpointed tensors of the algorithm's own beyond D and the optimizers (rollout copy, baseline).
    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn load_extra(&mut self, _tensors: &HashMap<String, Tensor>, _path: &Path) -> Result<()> {
        Ok(())
    }

    /// Tensors to checkpoint beside the generator: discriminator, optimizers, extras.
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let (disc, g_opt) = self.sides();
        let mut t = crate::models::vars::named_vars(&disc.model.vs, "disc.");
        t.extend(disc.opt.state_tensors("dopt."));
        t.extend(g_opt.state_tensors("gopt_adv."));
        t.extend(self.extra_tensors());
        t
    }

    /// The optimizers' update counts, for checkpoints.
    fn counts(&self) -> AdvCounts {
        let (disc, g_opt) = self.sides();
        AdvCounts {
            d_t: disc.opt.t,
            g_t: g_opt.t,
        }
    }

    fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        counts: AdvCounts,
        path: &Path,
    ) -> Result<()> {
        let (disc, g_opt) = self.sides_mut();
        crate::models::vars::restore_vars(&mut disc.model.vs, tensors, "disc.", path)?;
        disc.opt
            .load_state(tensors, "dopt.")
            .map_err(|e| Error::checkpoint(path, e))?;
        g_opt
            .load_state(tensors, "gopt_adv.")
            .map_err(|e| Error::checkpoint(path, e))?;
        disc.opt.t = counts.d_t;
        g_opt.t = counts.g_t;
        self.load_extra(tensors, path)
    }
}

/// What a new algorithm is built from.
pub struct Parts<'a> {
    pub adv: &'a AdvConfig,
    /// The generator's config and variables (SeqGAN builds its rollout copy from them).
    pub generator: &'a GeneratorConfig,
    /// The discriminator's config (the one in `disc` is built from it).
    pub discriminator: &'a DiscriminatorConfig,
    pub gen_vars: &'a VarStore,
    /// How the networks read the run's condition (labels).
    pub cond: crate::models::CondSpec,
    pub shapes: Shapes,
    pub disc: DiscSide,
    /// The generator's adversarial optimizer.
    pub g_opt: Adam,
    pub device: Device,
}

impl Parts<'_> {
    /// A second generator of the run's network holding the generator's current weights
    /// (SeqGAN's delayed rollout copy, TextGAIL's starting model).
    pub fn generator_copy(&self) -> crate::models::GeneratorModel {
        let shape = (self.shapes.vocab_size, self.shapes.gen_len);
        crate::models::GeneratorModel::copy_of(self.generator, shape, self.cond, self.gen_vars)
    }
}

/// An algorithm as the registry knows it: its name, its settings and how to build it.
pub trait AlgorithmSpec: Sync {
    /// `gan.algorithm`'s value.
    fn name(&self) -> &'static str;
    /// One line for listings.
    fn about(&self) -> &'static str;
    /// Its own `[gan]` keys.
    fn keys(&self) -> Vec<String>;
    fn has_key(&self, key: &str) -> bool {
        self.keys().iter().any(|k| k == key)
    }
    /// Reads and range-checks its own keys (unknown ones named); returns them with the
    /// defaults filled in.
    fn resolve(&self, own: toml::Table) -> Result<toml::Table>;
    /// Checks that the rest of the run suits it (for example a discriminator that scores tokens).
    fn check(&self, _generator: &GeneratorConfig, _disc: &DiscriminatorConfig) -> Result<()> {
        Ok(())
    }
    fn build(&self, own: &toml::Table, parts: Parts) -> Box<dyn Algorithm>;
    /// Whether a labelled run trains one generator per class (SentiGAN) rather than one
    /// generator reading the label.
    fn per_class_generators(&self) -> bool {
        false
    }
    /// Whether it runs on labelled data only.
    fn needs_labels(&self) -> bool {
        self.per_class_generators()
    }
}

/// An algorithm's own settings: a `[gan]`-key struct with defaults and range checks.
pub trait Settings: Serialize + DeserializeOwned + Default {
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// The [`AlgorithmSpec`] of an algorithm with settings `C`: what each algorithm file declares.
pub struct Spec<C> {
    pub name: &'static str,
    pub about: &'static str,
    pub build: fn(C, Parts) -> Box<dyn Algorithm>,
    pub check: fn(&GeneratorConfig, &DiscriminatorConfig) -> Result<()>,
    pub settings: PhantomData<fn() -> C>,
}

/// An algorithm defined for labelled data only (SentiGAN, CatGAN): a [`Spec`] whose
/// [`AlgorithmSpec::needs_labels`] says so, training one generator per class or not.
pub struct Labelled<C> {
    pub spec: Spec<C>,
    pub per_class: bool,
}

impl<C: Settings> AlgorithmSpec for Labelled<C> {
    fn name(&self) -> &'static str {
        self.spec.name()
    }
    fn about(&self) -> &'static str {
        self.spec.about()
    }
    fn keys(&self) -> Vec<String> {
        self.spec.keys()
    }
    fn resolve(&self, own: toml::Table) -> Result<toml::Table> {
        self.spec.resolve(own)
    }
    fn check(&self, generator: &GeneratorConfig, disc: &DiscriminatorConfig) -> Result<()> {
        self.spec.check(generator, disc)
    }
    fn build(&self, own: &toml::Table, parts: Parts) -> Box<dyn Algorithm> {
        self.spec.build(own, parts)
    }
    fn per_class_generators(&self) -> bool {
        self.per_class
    }
    fn needs_labels(&self) -> bool {
        true
    }
}

/// A [`Spec::check`] that accepts every run.
pub fn any_networks(_: &GeneratorConfig, _: &DiscriminatorConfig) -> Result<()> {
    Ok(())
}

fn to_table<C: Serialize>(c: &C) -> toml::Table {
    match toml::Value::try_from(c).expect("settings serialize") {
        toml::Value::Table(t) => t,
        _ => unreachable!("a struct serializes to a table"),
    }
}

impl<C: Settings> AlgorithmSpec for Spec<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn keys(&self) -> Vec<String> {
        to_table(&C::default()).keys().cloned().collect()
    }

    fn resolve(&self, own: toml::Table) -> Result<toml::Table> {
        let c: C = toml::Value::Table(own)
            .try_into()
            .map_err(|e: toml::de::Error| {
                Error::Config(format!(
                    "gan.algorithm = \"{}\": {}",
                    self.name,
                    e.message().lines().next().unwrap_or_default()
                ))
            })?;
        c.validate()?;
        Ok(to_table(&c))
    }

    fn check(&self, generator: &GeneratorConfig, disc: &DiscriminatorConfig) -> Result<()> {
        (self.check)(generator, disc)
    }

    fn build(&self, own: &toml::Table, parts: Parts) -> Box<dyn Algorithm> {
        let c: C = toml::Value::Table(own.clone())
            .try_into()
            .expect("validated when the config was resolved");
        (self.build)(c, parts)
    }
}

/// Builds the configured algorithm around a generator (pretrained by MLE or not); `None`
/// when the config has no adversarial phase.
pub fn build(
    gan: &GanConfig,
    generator: &GeneratorConfig,
    discriminator: &DiscriminatorConfig,
    gen_vars: &VarStore,
    vocab: &Vocab,
    (max_len, cond): (usize, crate::models::CondSpec),
    device: Device,
) -> Option<Box<dyn Algorithm>> {
    let spec = spec(gan.algorithm?).expect("names are checked when the config is resolved");
    let dmodel = DiscriminatorModel::conditional(
        discriminator,
        vocab.len() as i64,
        max_len.max(1) as i64 + 32,
        cond,
        device,
    );
    let shapes = Shapes::new(vocab, max_len, dmodel.net.min_len());
    let parts = Parts {
        adv: &gan.adv,
        generator,
        discriminator,
        gen_vars,
        cond,
        shapes,
        disc: DiscSide::new(dmodel, &gan.adv),
        g_opt: Adam::new(gen_vars, &gan.adv.g_adam()).named("generator"),
        device,
    };
    Some(spec.build(&gan.own, parts))
}

/// A generator update on `loss` (see [`crate::optim::minimize`]); returns the loss.
pub(crate) fn g_update(opt: &mut Adam, loss: &Tensor, clip: f64, lr: f64) -> f64 {
    crate::optim::minimize_reported(opt, loss, clip, lr).1
}
