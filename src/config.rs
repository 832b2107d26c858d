//! A run's configuration: five sections, each defined beside the part it configures
//! ([`DataConfig`](crate::data::DataConfig), [`GeneratorConfig`](crate::models::GeneratorConfig),
//! [`DiscriminatorConfig`](crate::models::disc::DiscriminatorConfig),
//! [`GanConfig`](crate::algorithms::GanConfig) with each algorithm's own keys in its file) and
//! `[train]` here.
//!
//! One resolve path: a base table (the defaults, a preset's text, a file, or a stored run's
//! config), then `--set` and flag overrides merged on TOML values; the result is deserialised
//! once and validated once ([`RunConfig::resolve`]). Unknown keys and out-of-range values are
//! one-line errors naming the key. The resolved config goes into the run directory and the
//! checkpoint, so `sample` and `eval` rebuild the model from the checkpoint alone.
use crate::algorithms::GanConfig;
use crate::data::DataConfig;
use crate::error::{ensure, finite_nonneg, finite_pos, Error, Result};
use crate::models::disc::DiscriminatorConfig;
use crate::models::GeneratorConfig;
use crate::optim::{ScheduleConfig, ScheduleKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub generator: GeneratorConfig,
    #[serde(default)]
    pub train: TrainConfig,
    /// The adversarial phase (after `train`'s MLE epochs); `algorithm = "none"` skips it.
    #[serde(default)]
    pub gan: GanConfig,
    #[serde(default)]
    pub discriminator: DiscriminatorConfig,
}

pub use crate::optim::OptimizerKind;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// A Hugging Face GPT-2 folder the generator starts from (`train --init-from-hf`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from_hf: Option<std::path::PathBuf>,
    pub batch_size: i64,
    /// MLE micro-batches (of `batch_size` rows) whose gradients make one optimizer step.
    pub grad_accum: usize,
    pub epochs: usize,
    /// Stop the whole run after this many optimizer steps, MLE and adversarial together
    /// (0 = no cap). With `epochs = 0` and no `gan.algorithm`, MLE runs this many steps.
    pub max_steps: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (0 = no clipping).
    pub grad_clip: f64,
    pub schedule: ScheduleKind,
    pub warmup_steps: usize,
    pub min_lr: f64,
    pub plateau_factor: f64,
    pub plateau_patience: usize,
    /// Evaluate (test NLL, samples, checkpoint) every this many steps (0 = at the end of each epoch).
    pub eval_every: usize,
    /// Sentences sampled and written at each evaluation.
    pub eval_samples: usize,
    /// Oracle benchmark: generated sequences scored by the oracle at each evaluation.
    pub oracle_eval_samples: usize,
    /// Test sequences whose NLL each evaluation measures: the first this many (0 = all).
    /// For quick smoke runs; `textgan eval` always scores them all.
    pub eval_test_sequences: usize,
    pub seed: u64,
    /// "cpu", "cuda", "cuda:N" or "auto".
    pub device: String,
    /// CPU threads for torch (0 = torch's default).
    pub threads: i32,
    /// Capture the MLE step as one CUDA graph and replay it (CUDA only; LSTM generators).
    pub cuda_graph: bool,
    /// The divergence guard, for every phase: after this many steps in a row whose updates
    /// were skipped (a NaN or infinite loss or gradient), roll back to the last checkpoint...
    pub guard_patience: usize,
    /// ...with every learning rate multiplied by this...
    pub guard_lr_factor: f64,
    /// ...and stop after this many rollbacks.
    pub guard_rollbacks: u32,
    /// The loss-spike guard: an update whose loss is over this many times the median of the
    /// optimizer's recent losses counts as bad too (0 = off, the default).
    pub guard_spike: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            init_from_hf: None,
            batch_size: 64,
            grad_accum: 1,
            epochs: 5,
            max_steps: 0,
            optimizer: OptimizerKind::Adam,
            lr: 3e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            grad_clip: 5.0,
            schedule: ScheduleKind::Constant,
            warmup_steps: 0,
            min_lr: 0.0,
            plateau_factor: 0.5,
            plateau_patience: 2,
            eval_every: 0,
            eval_samples: 200,
            oracle_eval_samples: 10_000,
            eval_test_sequences: 0,
            seed: 1234,
            device: "auto".into(),
            threads: 0,
            cuda_graph: false,
            guard_patience: 3,
            guard_lr_factor: 0.5,
            guard_rollbacks: 3,
            guard_spike: 0.0,
        }
    }
}

impl TrainConfig {
    /// The learning-rate schedule's settings.
    pub fn schedule(&self) -> ScheduleConfig {
        ScheduleConfig {
            kind: self.schedule,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup_steps: self.warmup_steps,
            plateau_factor: self.plateau_factor,
            plateau_patience: self.plateau_patience,
        }
    }

    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let t = self;
        ensure((1..=1 << 20).contains(&t.batch_size), || {
            format!(
                "train.batch_size must be in 1..=1048576, got {}",
                t.batch_size
            )
        })?;
        ensure((1..=4096).contains(&t.grad_accum), || {
            format!("train.grad_accum must be in 1..=4096, got {}", t.grad_accum)
        })?;
        ensure(t.grad_accum == 1 || !t.cuda_graph, || {
            "train.cuda_graph captures one batch per step: use it with train.grad_accum = 1".into()
        })?;
        ensure(t.lr > 0.0 && t.lr.is_finite(), || {
            format!("train.lr must be positive, got {}", t.lr)
        })?;
        ensure(
            (0.0..1.0).contains(&t.beta1) && (0.0..1.0).contains(&t.beta2),
            || "train.beta1 and train.beta2 must be in [0, 1)".into(),
        )?;
        ensure(finite_pos(t.eps), || {
            "train.eps must be positive and finite".into()
        })?;
        ensure(finite_nonneg(t.weight_decay), || {
            "train.weight_decay must be finite and non-negative".into()
        })?;
        ensure(finite_nonneg(t.grad_clip), || {
            "train.grad_clip must be finite and non-negative (0 turns clipping off)".into()
        })?;
        ensure(t.min_lr >= 0.0 && t.min_lr <= t.lr, || {
            "train.min_lr must be in [0, train.lr]".into()
        })?;
        ensure(t.plateau_factor > 0.0 && t.plateau_factor < 1.0, || {
            "train.plateau_factor must be in (0, 1)".into()
        })?;
        ensure(t.guard_patience >= 1 && t.guard_rollbacks <= 1000, || {
            "train.guard_patience must be at least 1 and train.guard_rollbacks at most 1000".into()
        })?;
        ensure(
            t.guard_spike == 0.0 || (t.guard_spike > 1.0 && t.guard_spike.is_finite()),
            || {
                format!(
                    "train.guard_spike must be 0 (off) or over 1, got {}",
                    t.guard_spike
                )
            },
        )?;
        ensure(t.guard_lr_factor > 0.0 && t.guard_lr_factor < 1.0, || {
            format!(
                "train.guard_lr_factor must be in (0, 1), got {}",
                t.guard_lr_factor
            )
        })?;
        ensure(t.threads >= 0, || {
            "train.threads must be non-negative".into()
        })?;
        crate::device::parse_device(&t.device)?;
        Ok(())
    }

    /// The MLE optimizer's settings.
    pub fn adam(&self) -> crate::optim::AdamConfig {
        crate::optim::AdamConfig {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: self.optimizer == OptimizerKind::Adamw,
            ..Default::default()
        }
    }
}

/// One `key = value` override: from `--set key=value` or from a typed flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: toml::Value,
}

impl Override {
    /// A typed value for `key` (e.g. `Override::new("train.max_steps", 3)`).
    pub fn new(key: &str, value: impl Into<toml::Value>) -> Self {
        Override {
            key: key.to_string(),
            value: value.into(),
        }
    }

    /// `key=value` with the value in TOML syntax; a bare word is a string.
    pub fn parse(assignment: &str) -> Result<Self> {
        let (key, raw) = assignment.split_once('=').ok_or_else(|| {
            Error::Config(format!("an override is key=value, got `{assignment}`"))
        })?;
        let (key, raw) = (key.trim(), raw.trim());
        if key.split('.').any(str::is_empty) {
            return Err(Error::Config(format!("bad key `{key}` in `{assignment}`")));
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        Ok(Override::new(key, value))
    }

    /// Sets the value in `table`, creating sections on the way. Switching a network's `kind`
    /// drops the old kind's settings, and switching `gan.algorithm` the old algorithm's own
    /// keys, which the new one would refuse.
    pub fn apply(&self, table: &mut toml::Table) -> Result<()> {
        let parts: Vec<&str> = self.key.split('.').collect();
        let mut cur = table;
        for p in &parts[..parts.len() - 1] {
            let entry = cur
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cur = entry.as_table_mut().ok_or_else(|| {
                Error::Config(format!("`{p}` in `{}` is a value, not a section", self.key))
            })?;
        }
        let last = parts[parts.len() - 1];
        let switching = cur.get(last).is_some_and(|old| old != &self.value);
        if switching && (self.key == "generator.kind" || self.key == "discriminator.kind") {
            cur.clear();
        }
        if switching && self.key == "gan.algorithm" {
            if let Some(old) = cur
                .get("algorithm")
                .and_then(|v| v.as_str())
                .and_then(crate::algorithms::spec)
            {
                cur.retain(|k, _| !old.has_key(k));
            }
        }
        cur.insert(last.to_string(), self.value.clone());
        Ok(())
    }
}

/// Sets `a.b.c = value` (`--set` syntax) in a TOML table.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    Override::parse(assignment)?.apply(table)
}

impl RunConfig {
    /// How the run's networks read its data's condition: labels when the vocabulary has
    /// classes (one generator per class where the algorithm says so), else nothing.
    pub fn cond_spec(&self, vocab: &crate::data::Vocab) -> crate::models::CondSpec {
        if self.data.is_parallel() {
            return crate::models::CondSpec::Source {
                vocab: vocab.source.as_ref().map(|s| s.len() as i64),
                max_len: self.data.max_source_len as i64,
            };
        }
        if vocab.labels.is_empty() {
            return crate::models::CondSpec::None;
        }
        let per_class = self
            .gan
            .algorithm
            .and_then(crate::algorithms::spec)
            .is_some_and(|s| s.per_class_generators());
        crate::models::CondSpec::Labels {
            classes: vocab.labels.len() as i64,
            per_class,
        }
    }

    /// The one resolve path: `base` (a config's table), the overrides merged in order, then
    /// deserialised and validated once.
    pub fn resolve(mut base: toml::Table, overrides: &[Override]) -> Result<Self> {
        for o in overrides {
            o.apply(&mut base)?;
        }
        let cfg: RunConfig = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(one_line(&e.to_string())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// A config file's (or a preset's) text as a table.
    pub fn parse_table(text: &str, origin: &str) -> Result<toml::Table> {
        toml::from_str::<toml::Table>(text).map_err(|e| {
            let msg = one_line(&e.to_string());
            Error::Config(match origin {
                "" => msg,
                o => format!("{o}: {msg}"),
            })
        })
    }

    /// A config file as a table.
    pub fn read_table(path: &Path) -> Result<toml::Table> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_table(&text, &path.display().to_string())
    }

    /// This config as a table (the base for a resumed run's overrides).
    pub fn to_table(&self) -> toml::Table {
        match toml::Value::try_from(self).expect("a RunConfig always serializes") {
            toml::Value::Table(t) => t,
            _ => unreachable!("a struct serializes to a table"),
        }
    }

    /// A file (or the defaults) with `key=value` overrides.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let base = match path {
            Some(p) => Self::read_table(p)?,
            None => RunConfig::default().to_table(),
        };
        let overrides: Vec<Override> = overrides
            .iter()
            .map(|o| Override::parse(o))
            .collect::<Result<_>>()?;
        Self::resolve(base, &overrides)
    }

    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::resolve(Self::parse_table(text, "")?, &[])
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serializes")
    }

    /// Range checks that serde cannot express: each section's, then those across sections.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.generator.validate()?;
        self.discriminator.validate()?;
        self.train.validate()?;
        ensure(
            !self.train.cuda_graph || matches!(self.generator, GeneratorConfig::Lstm(_)),
            || "train.cuda_graph is implemented for LSTM generators only".into(),
        )?;
        ensure(
            !self.generator.is_encoder_decoder() || self.data.is_parallel(),
            || {
                "generator.kind = \"seq2seq\" or \"lstm-seq2seq\" reads a source per sentence: it needs a parallel corpus (data.source = \"multi30k\", data.parallel or data.train_source)".into()
            },
        )?;
        if let GeneratorConfig::Gpt2(g) = &self.generator {
            // A sentence takes max_len tokens (its `<eos>` included); a source read as a prefix,
            // more. (max_len 0, "the longest sentence", is checked once the data is read.)
            let src = if self.data.is_parallel() {
                self.data.max_source_len
            } else {
                0
            };
            let need = (self.data.max_len + src) as i64;
            ensure(need <= g.n_positions, || {
                format!(
                    "generator.n_positions = {} is shorter than the texts: data.max_len{} = {need} positions are needed",
                    g.n_positions,
                    if src > 0 { " + data.max_source_len" } else { "" }
                )
            })?;
        }
        let t = &self.train;
        ensure(
            t.epochs >= 1 || t.max_steps >= 1 || self.gan.is_set(),
            || "train.epochs or train.max_steps must be at least 1 (or set a gan.algorithm)".into(),
        )?;
        if let Some(name) = self.gan.algorithm {
            let spec = crate::algorithms::spec(name).expect("resolved names are registered");
            spec.check(&self.generator, &self.discriminator)?;
            self.gan.adv.check_metric(&self.data)?;
            self.gan.adv.check_penalty(name)?;
        }
        Ok(())
    }

    /// A config stored by checkpoint format 1, whose `[gan]` held every algorithm's keys
    /// (those of the other algorithms were inert): keeps the chosen algorithm's.
    pub fn from_format_1(text: &str) -> Result<Self> {
        let mut table = Self::parse_table(text, "")?;
        if let Some(toml::Value::Table(gan)) = table.get_mut("gan") {
            let spec = gan
                .get("algorithm")
                .and_then(|v| v.as_str())
                .and_then(crate::algorithms::spec);
            let shared = crate::algorithms::config::shared_keys();
            gan.retain(|k, _| {
                k == "algorithm"
                    || shared.iter().any(|s| s == k)
                    || spec.is_some_and(|s| s.has_key(k))
            });
        }
        Self::resolve(table, &[])
    }
}

/// The first line of a multi-line parser message, with its remaining lines folded in.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|'))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::disc::Highway;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = RunConfig::default();
        let back = RunConfig::from_toml_str(&c.to_toml()).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = RunConfig::load(None, &["train.lrr=0.1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("lrr"), "{e}");
        let e = RunConfig::from_toml_str("[generator]\nkind = \"lstm\"\nhiden_dim = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hiden_dim"), "{e}");
        let e = RunConfig::from_toml_str("[bogus]\nx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn overrides_parse_toml_values_and_switch_generators() {
        let c = RunConfig::load(
            None,
            &[
                "train.lr=0.01".into(),
                "generator.kind=transformer".into(),
                "generator.n_head=2".into(),
                "train.device=cpu".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.train.lr, 0.01);
        assert_eq!(c.train.device, "cpu");
        match c.generator {
            GeneratorConfig::Transformer(t) => assert_eq!(t.n_head, 2),
            _ => panic!("expected a transformer"),
        }
    }

    #[test]
    fn the_highway_is_chosen_by_name() {
        let c = RunConfig::load(
            None,
            &[
                "discriminator.kind=cnn".into(),
                "discriminator.highway=\"tied\"".into(),
            ],
        )
        .unwrap();
        match c.discriminator {
            DiscriminatorConfig::Cnn(d) => assert_eq!(d.highway, Highway::Tied),
            other => panic!("expected a CNN: {other:?}"),
        }
        let e = RunConfig::load(None, &["discriminator.highway=\"sideways\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sideways") || e.contains("highway"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        for bad in [
            "data.max_len=100000",
            "train.lr=-1",
            "train.batch_size=0",
            "data.test_fraction=0.95",
            "gan.beta_max=inf",
            "gan.rollouts=0",
            "gan.gamma=2",
            "gan.d_lr=inf",
            "gan.gp_weight=-1",
            "train.grad_clip=nan",
        ] {
            // Each algorithm's own keys need that algorithm.
            let algo = match bad {
                "gan.beta_max=inf" => "gumbel",
                "gan.rollouts=0" => "seqgan",
                "gan.gamma=2" => "scratchgan",
                _ => "none",
            };
            let sets = [
                format!("gan.algorithm={algo}"),
                "gan.steps=1".into(),
                "discriminator.kind=lstm".into(),
                bad.into(),
            ];
            let e = RunConfig::load(None, &sets).unwrap_err().to_string();
            let key = bad.split('=').next().unwrap();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    /// `[gan]` takes the shared keys and the chosen algorithm's; another algorithm's key is
    /// named with its owner; switching the algorithm drops the old one's keys.
    #[test]
    fn the_gan_section_holds_the_chosen_algorithms_keys() {
        let cfg = RunConfig::load(
            None,
            &[
                "gan.algorithm=gumbel".into(),
                "gan.steps=5".into(),
                "gan.beta_max=7".into(),
            ],
        )
        .unwrap();
        let g: crate::algorithms::GumbelConfig = cfg.gan.own();
        assert_eq!((g.beta_max, cfg.gan.adv.steps), (7.0, 5));
        // Stored with its defaults filled in, and read back the same.
        let text = cfg.to_toml();
        assert!(text.contains("beta_schedule = \"exp\""), "{text}");
        assert_eq!(RunConfig::from_toml_str(&text).unwrap(), cfg);
        let e = RunConfig::load(
            None,
            &[
                "gan.algorithm=seqgan".into(),
                "gan.steps=1".into(),
                "gan.beta_max=7".into(),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(
                "gan.beta_max is a setting of gan.algorithm = \"gumbel\", not of \"seqgan\""
            ),
            "{e}"
        );
        let e = RunConfig::load(None, &["gan.algorithm=wgan".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown gan.algorithm `wgan`") && e.contains("seqgan"),
            "{e}"
        );
        let e = RunConfig::load(None, &["gan.bogus=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("gan.bogus"), "{e}");
        let switched =
            RunConfig::resolve(cfg.to_table(), &[Override::new("gan.algorithm", "seqgan")])
                .unwrap();
        assert_eq!(switched.gan.algorithm, Some("seqgan"));
        assert_eq!(switched.gan.adv.steps, 5, "shared keys stay");
    }

    /// A format-1 config (every algorithm's keys in `[gan]`) loads with the chosen one's.
    #[test]
    fn format_1_configs_keep_the_chosen_algorithms_keys() {
        let old = "[gan]\nalgorithm = \"seqgan\"\nsteps = 3\nrollouts = 4\nbeta_max = 100.0\ngamma = 0.23\n";
        assert!(RunConfig::from_toml_str(old).is_err());
        let cfg = RunConfig::from_format_1(old).unwrap();
        let s: crate::algorithms::SeqganConfig = cfg.gan.own();
        assert_eq!((s.rollouts, cfg.gan.adv.steps), (4, 3));
    }

    #[test]
    fn seqgans_epoch_schedule_is_for_the_reinforce_algorithms() {
        let with = |sets: &[&str]| {
            let sets: Vec<String> = ["gan.steps=1", "gan.d_epochs=3"]
                .iter()
                .chain(sets)
                .map(|s| s.to_string())
                .collect();
            RunConfig::load(None, &sets)
        };
        assert!(with(&["gan.algorithm=\"seqgan\""]).is_ok());
        assert!(with(&["gan.algorithm=\"maligan\""]).is_ok());
        let e = with(&["gan.algorithm=\"gumbel\""]).unwrap_err().to_string();
        assert!(e.contains("gan.d_epochs"), "{e}");
        let e = with(&["gan.algorithm=\"seqgan\"", "gan.d_samples=0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("gan.d_samples"), "{e}");
    }
}
