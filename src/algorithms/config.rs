//! The `[gan]` section: the settings every algorithm shares ([`AdvConfig`]) and the chosen
//! algorithm's own, which its file defines and its [`AlgorithmSpec`](super::AlgorithmSpec)
//! validates. `algorithm = "seqgan"` accepts SeqGAN's keys and refuses Gumbel-softmax's.
use super::losses::GanLoss;
use crate::error::{ensure, finite_nonneg, finite_pos, Error, Result};
use serde::{Deserialize, Serialize};

/// The metrics `gan.best_metric` may name.
pub const BEST_METRICS: &[&str] = &[
    "nll_oracle",
    "test_nll",
    "bleu2",
    "bleu3",
    "bleu4",
    "bleu5",
    "grammar_nll",
    "validity",
    "sacrebleu",
    "chrf",
];

/// Settings of the adversarial phase that every algorithm uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdvConfig {
    /// Adversarial steps (each: `g_steps` generator and `d_steps` discriminator updates).
    pub steps: usize,
    pub batch_size: i64,
    pub g_steps: usize,
    pub d_steps: usize,
    /// Discriminator updates on fresh samples before the first adversarial step.
    pub d_pretrain_steps: usize,
    pub g_lr: f64,
    pub d_lr: f64,
    pub g_beta1: f64,
    pub d_beta1: f64,
    pub grad_clip: f64,
    /// Global-norm bound on each discriminator update's gradient; 0 (default) turns it off.
    /// RelGAN's and TextGAN-PyTorch's code clip D at 5, SeqGAN's does not.
    pub d_grad_clip: f64,
    /// Start a Transformer discriminator from a decoder's trunk: "generator" (the generator's
    /// own, as the adversarial phase finds it) or a GPT-2 folder; "" (default): at random.
    pub d_init: String,
    pub loss: GanLoss,
    pub gp_weight: f64,
    /// Discriminator regularisers: Gaussian noise of this standard deviation on D's input
    /// embeddings whenever it trains (instance noise; 0: none), the R1 penalty
    /// `r1_weight / 2 * E_real |grad_x D(x)|²` on every loss (0: none; every algorithm with
    /// a real-against-fake discriminator, on the score its loss reads), and spectral normalisation of
    /// D's weight matrices after every update.
    pub d_input_noise: f64,
    pub r1_weight: f64,
    pub d_spectral_norm: bool,
    /// Evaluate (NLL, BLEU, Self-BLEU, D accuracy) and checkpoint every this many adversarial steps.
    pub eval_every: usize,
    /// The adversarial phase's optimizers: Adam, or AdamW with `weight_decay`.
    pub optimizer: crate::optim::OptimizerKind,
    /// L2 (Adam) or decoupled (AdamW) weight decay of G's and D's adversarial updates.
    pub weight_decay: f64,
    /// Lookahead around G's and D's optimizers: every `lookahead_k` updates the slow weights
    /// move `lookahead_alpha` of the way to the fast ones, which restart there; 0: off.
    pub lookahead_k: i64,
    pub lookahead_alpha: f64,
    /// MLE interleaving: after every this many adversarial steps, `mle_steps` teacher-forcing
    /// updates on training batches (the MLE optimizer, at the rate MLE ended with); 0: never.
    pub mle_every: usize,
    pub mle_steps: usize,
    /// After every adversarial step, one update of `kl_to_mle` times KL(G || G_mle) on G's own
    /// samples (exact over the vocabulary), G_mle the generator as the phase began; 0: none.
    pub kl_to_mle: f64,
    /// The evaluation metric that picks the best checkpoint (kept in `best/`), stops early
    /// and drives the plateau schedule: nll_oracle, test_nll, bleu2..bleu5, grammar_nll,
    /// validity, sacrebleu or chrf; "" (default): none.
    pub best_metric: String,
    /// Stop the phase after this many evaluations without a better `best_metric`; 0: never.
    pub patience: usize,
    /// Multiply G's and D's rates by `plateau_factor` after this many evaluations without a
    /// better `best_metric` (reduce-on-plateau); 0: never.
    pub plateau_patience: usize,
    pub plateau_factor: f64,
}

impl Default for AdvConfig {
    fn default() -> Self {
        AdvConfig {
            steps: 0,
            batch_size: 64,
            g_steps: 1,
            d_steps: 5,
            d_pretrain_steps: 0,
            g_lr: 1e-4,
            d_lr: 1e-4,
            g_beta1: 0.9,
            d_beta1: 0.9,
            grad_clip: 5.0,
            d_grad_clip: 0.0,
            d_init: String::new(),
            loss: GanLoss::Standard,
            gp_weight: 10.0,
            d_input_noise: 0.0,
            r1_weight: 0.0,
            d_spectral_norm: false,
            eval_every: 100,
            optimizer: crate::optim::OptimizerKind::Adam,
            weight_decay: 0.0,
            lookahead_k: 0,
            lookahead_alpha: 0.5,
            mle_every: 0,
            mle_steps: 1,
            kl_to_mle: 0.0,
            best_metric: String::new(),
            patience: 0,
            plateau_patience: 0,
            plateau_factor: 0.5,
        }
    }
}

impl AdvConfig {
    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let g = self;
        ensure((1..=1 << 20).contains(&g.batch_size), || {
            format!(
                "gan.batch_size must be in 1..=1048576, got {}",
                g.batch_size
            )
        })?;
        ensure(finite_pos(g.g_lr) && finite_pos(g.d_lr), || {
            "gan.g_lr and gan.d_lr must be positive and finite".into()
        })?;
        ensure(
            (0.0..1.0).contains(&g.g_beta1) && (0.0..1.0).contains(&g.d_beta1),
            || "gan.g_beta1 and gan.d_beta1 must be in [0, 1)".into(),
        )?;
        ensure(
            finite_nonneg(g.grad_clip) && finite_nonneg(g.d_grad_clip),
            || {
                "gan.grad_clip and gan.d_grad_clip must be finite and non-negative (0 turns clipping off)".into()
            },
        )?;
        ensure(
            finite_nonneg(g.gp_weight) && finite_nonneg(g.r1_weight),
            || "gan.gp_weight and gan.r1_weight must be finite and non-negative".into(),
        )?;
        ensure(finite_nonneg(g.d_input_noise), || {
            "gan.d_input_noise must be finite and non-negative".into()
        })?;
        ensure(
            finite_nonneg(g.weight_decay) && finite_nonneg(g.kl_to_mle),
            || "gan.weight_decay and gan.kl_to_mle must be finite and non-negative".into(),
        )?;
        ensure(g.mle_every == 0 || g.mle_steps >= 1, || {
            "gan.mle_steps must be at least 1 when gan.mle_every is set".into()
        })?;
        ensure(
            (0..=10_000).contains(&g.lookahead_k)
                && g.lookahead_alpha > 0.0
                && g.lookahead_alpha <= 1.0,
            || "gan.lookahead_k must be in 0..=10000 and gan.lookahead_alpha in (0, 1]".into(),
        )?;
        ensure(g.plateau_factor > 0.0 && g.plateau_factor < 1.0, || {
            "gan.plateau_factor must be in (0, 1)".into()
        })?;
        ensure(
            g.best_metric.is_empty() || BEST_METRICS.contains(&g.best_metric.as_str()),
            || {
                format!(
                    "unknown gan.best_metric `{}` (known: {})",
                    g.best_metric,
                    BEST_METRICS.join(", ")
                )
            },
        )?;
        ensure(
            !g.best_metric.is_empty() || (g.patience == 0 && g.plateau_patience == 0),
            || "gan.patience and gan.plateau_patience need gan.best_metric".into(),
        )
    }

    /// Refuses a `best_metric` that the run's evaluations never measure on its data (NLL-oracle
    /// off the oracle, grammar figures off the grammar, sacreBLEU and chrF off pairs, BLEU on
    /// the oracle or on pairs), before anything is trained.
    pub fn check_metric(&self, data: &crate::data::DataConfig) -> Result<()> {
        use crate::data::DataSource as S;
        let m = self.best_metric.as_str();
        let oracle = matches!(data.source, S::Oracle | S::OracleRandom);
        let measured = match m {
            "nll_oracle" => oracle,
            "grammar_nll" | "validity" => data.source == S::Grammar,
            "sacrebleu" | "chrf" => data.is_parallel(),
            b if b.starts_with("bleu") => !oracle && !data.is_parallel(),
            _ => true,
        };
        ensure(measured, || {
            format!("gan.best_metric = \"{m}\" is not measured on this run's data (data.source = \"{}\"); choose another", data.source.name())
        })
    }

    /// Whether a higher `best_metric` is better (BLEU, validity) rather than a lower (NLL).
    pub fn higher_is_better(&self) -> bool {
        !self.best_metric.contains("nll")
    }

    /// Refuses `r1_weight` for the built-in algorithms with no real-against-fake critic to
    /// penalise: CoT's mediator and DPGAN's discriminator are language models, JSDGAN and
    /// DGSAN have no discriminator.
    pub fn check_penalty(&self, algorithm: &str) -> Result<()> {
        const NO_CRITIC: [&str; 4] = ["cot", "jsdgan", "dgsan", "dpgan"];
        ensure(
            self.r1_weight == 0.0 || !NO_CRITIC.contains(&algorithm),
            || {
                format!("gan.r1_weight: gan.algorithm = \"{algorithm}\" has no real-against-fake discriminator for an R1 penalty (CoT's mediator and DPGAN's are language models; JSDGAN and DGSAN have none)")
            },
        )
    }

    fn adam(&self, beta1: f64) -> crate::optim::AdamConfig {
        crate::optim::AdamConfig {
            beta1,
            weight_decay: self.weight_decay,
            decoupled: self.optimizer == crate::optim::OptimizerKind::Adamw,
            lookahead_k: self.lookahead_k,
            lookahead_alpha: self.lookahead_alpha,
            ..Default::default()
        }
    }

    /// The generator's adversarial optimizer (Adam or AdamW with `g_beta1`).
    pub fn g_adam(&self) -> crate::optim::AdamConfig {
        self.adam(self.g_beta1)
    }

    /// The discriminator's optimizer (Adam or AdamW with `d_beta1`).
    pub fn d_adam(&self) -> crate::optim::AdamConfig {
        crate::optim::AdamConfig {
            spectral_norm: self.d_spectral_norm,
            ..self.adam(self.d_beta1)
        }
    }
}

/// The `[gan]` section as written: `algorithm`, the shared settings, and the algorithm's own
/// (validated by its spec and stored with its defaults filled in, so the resolved config says
/// every value the run used).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GanConfig {
    /// The algorithm's registered name; `None`: no adversarial phase.
    pub algorithm: Option<&'static str>,
    pub adv: AdvConfig,
    /// The algorithm's own keys, as its spec resolved them.
    pub own: toml::Table,
}

/// The name of "no adversarial phase".
pub const NONE: &str = "none";

impl GanConfig {
    /// Whether an adversarial phase is configured.
    pub fn is_set(&self) -> bool {
        self.algorithm.is_some()
    }

    /// Name as written in `gan.algorithm` ("none" when unset).
    pub fn name(&self) -> &'static str {
        self.algorithm.unwrap_or(NONE)
    }

    /// The algorithm's own settings as its typed struct.
    pub fn own<T: serde::de::DeserializeOwned>(&self) -> T {
        toml::Value::Table(self.own.clone())
            .try_into()
            .expect("validated by the algorithm's spec when the config was resolved")
    }

    /// Parses `[gan]` from its table: the algorithm's name picks whose keys are accepted.
    pub fn from_table(mut table: toml::Table) -> Result<Self> {
        let name = match table.remove("algorithm") {
            None => NONE.to_string(),
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(Error::Config(format!(
                    "gan.algorithm must be a name (a string), got {other}"
                )))
            }
        };
        let spec = match name.as_str() {
            NONE => None,
            n => Some(super::spec(n).ok_or_else(|| {
                Error::Config(format!(
                    "unknown gan.algorithm `{n}` (known: none, {})",
                    super::names().join(", ")
                ))
            })?),
        };
        let shared = shared_keys();
        let (common, own): (toml::Table, toml::Table) = table
            .into_iter()
            .partition(|(k, _)| shared.iter().any(|s| s == k));
        if let Some(key) = own.keys().find(|k| spec.is_none_or(|s| !s.has_key(k))) {
            let owner = super::all().into_iter().find(|s| s.has_key(key));
            return Err(Error::Config(match owner {
                Some(o) => format!(
                    "gan.{key} is a setting of gan.algorithm = \"{}\", not of \"{name}\"; remove it or change the algorithm",
                    o.name()
                ),
                None => format!("unknown key gan.{key}"),
            }));
        }
        let adv: AdvConfig = toml::Value::Table(common)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("in `gan`: {}", one_line(&e))))?;
        adv.validate()?;
        let own = match spec {
            Some(s) => s.resolve(own)?,
            None => toml::Table::new(),
        };
        if spec.is_some() {
            ensure(adv.steps >= 1, || {
                "gan.steps must be at least 1 when gan.algorithm is set".into()
            })?;
        }
        Ok(GanConfig {
            algorithm: spec.map(|s| s.name()),
            adv,
            own,
        })
    }

    /// The section as a table: `algorithm`, the shared keys, the algorithm's own.
    pub fn to_table(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("algorithm".into(), toml::Value::String(self.name().into()));
        let toml::Value::Table(adv) = toml::Value::try_from(&self.adv).expect("serializes") else {
            unreachable!("a struct serializes to a table")
        };
        t.extend(adv);
        t.extend(self.own.clone());
        t
    }
}

/// The keys of [`AdvConfig`].
pub fn shared_keys() -> Vec<String> {
    match toml::Value::try_from(AdvConfig::default()).expect("serializes") {
        toml::Value::Table(t) => t.keys().cloned().collect(),
        _ => unreachable!("a struct serializes to a table"),
    }
}

fn one_line(e: &toml::de::Error) -> String {
    e.message().lines().next().unwrap_or_default().to_string()
}

impl Serialize for GanConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_table().serialize(s)
    }
}

impl<'de> Deserialize<'de> for GanConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        GanConfig::from_table(table).map_err(|e| {
            let msg = e.to_string();
            serde::de::Error::custom(msg.strip_prefix("config: ").unwrap_or(&msg).to_string())
        })
    }
}
