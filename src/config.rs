//! Run configuration: one serde type per component, read from TOML, unknown keys rejected.
//!
//! A run's config is resolved once (preset file, then `--set key=value` overrides), validated,
//! and written into the run directory and the checkpoint, so `sample` and `eval` rebuild the
//! model from the checkpoint alone.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

/// Where the sentences come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The COCO captions bundled in the binary (Texygen's split, 10,000 train and 10,000 test).
    Coco,
    /// Text files named by `train` (and `test`).
    Text,
    /// Sequences drawn from the SeqGAN oracle LSTM (the synthetic benchmark).
    Oracle,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Whitespace-separated words.
    Word,
    /// One token per character (for text written without spaces, e.g. Chinese poems).
    Char,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Overlong {
    /// Keep the first `max_len - 1` tokens (the last slot holds `<eos>`).
    Truncate,
    /// Drop the sentence.
    Skip,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub source: DataSource,
    /// Training file (source = "text"): UTF-8, one sentence a line.
    pub train: Option<PathBuf>,
    /// Test file; when absent, `test_fraction` of the training lines are held out.
    pub test: Option<PathBuf>,
    /// Fraction of training lines held out as test data when no test file is given.
    pub test_fraction: f64,
    pub tokenizer: Tokenizer,
    /// Vocabulary cap, counting the special tokens (0 = no cap).
    pub vocab_size: usize,
    /// Words seen fewer times than this become `<unk>`.
    pub min_count: usize,
    /// Maximum tokens per sequence including `<eos>` (0 = longest training sentence + 1).
    pub max_len: usize,
    /// What to do with sentences longer than `max_len`.
    pub overlong: Overlong,
    /// Oracle benchmark: number of training sequences drawn from the oracle.
    pub oracle_samples: usize,
    /// Oracle benchmark: sequence length.
    pub oracle_seq_len: usize,
    /// Oracle benchmark: seed of the draw of the training and test sequences.
    pub oracle_seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: DataSource::Coco,
            train: None,
            test: None,
            test_fraction: 0.1,
            tokenizer: Tokenizer::Word,
            vocab_size: 20_000,
            min_count: 1,
            max_len: 0,
            overlong: Overlong::Truncate,
            oracle_samples: 10_000,
            oracle_seq_len: 20,
            oracle_seed: 88,
        }
    }
}

/// The generator network; `kind` picks the architecture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum GeneratorConfig {
    Lstm(LstmConfig),
    Transformer(TransformerConfig),
    /// RelGAN's relational-memory generator.
    Rmc(RmcConfig),
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig::Lstm(LstmConfig::default())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LstmConfig {
    pub embed_dim: i64,
    pub hidden_dim: i64,
    pub num_layers: i64,
    /// Dropout between LSTM layers and before the output layer.
    pub dropout: f64,
}

impl Default for LstmConfig {
    fn default() -> Self {
        LstmConfig {
            embed_dim: 64,
            hidden_dim: 128,
            num_layers: 1,
            dropout: 0.0,
        }
    }
}

impl LstmConfig {
    /// SeqGAN's generator: embedding 32, hidden 32, one layer.
    pub fn seqgan() -> Self {
        LstmConfig {
            embed_dim: 32,
            hidden_dim: 32,
            num_layers: 1,
            dropout: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TransformerConfig {
    pub n_layer: i64,
    pub n_head: i64,
    pub n_embd: i64,
    pub dropout: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig {
            n_layer: 2,
            n_head: 4,
            n_embd: 128,
            dropout: 0.1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RmcConfig {
    pub embed_dim: i64,
    pub mem_slots: i64,
    pub num_heads: i64,
    pub head_size: i64,
}

impl Default for RmcConfig {
    /// RelGAN's setting: 1 slot, 2 heads of 256, embedding 32.
    fn default() -> Self {
        RmcConfig {
            embed_dim: 32,
            mem_slots: 1,
            num_heads: 2,
            head_size: 256,
        }
    }
}

/// The discriminator network; `kind` picks the architecture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DiscriminatorConfig {
    Cnn(CnnDiscConfig),
    Lstm(LstmDiscConfig),
    Mlp(MlpDiscConfig),
    Transformer(TransformerDiscConfig),
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        DiscriminatorConfig::Cnn(CnnDiscConfig::default())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CnnDiscConfig {
    pub embed_dim: i64,
    pub filter_sizes: Vec<i64>,
    pub num_filters: Vec<i64>,
    /// RelGAN's multiple embedded representations (1 = SeqGAN's single one).
    pub num_rep: i64,
    pub dropout: f64,
    /// `gated`: the papers' highway layer, separate transform and gate matrices; `tied`:
    /// TextGAN-PyTorch's, one matrix as both (half the highway's work).
    pub highway: Highway,
}

/// The highway layer after the CNN's pooling.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Highway {
    /// t = sigmoid(W_t h), out = t * relu(W_h h) + (1 - t) * h (SeqGAN's and RelGAN's code).
    #[default]
    Gated,
    /// z = W h, out = sigmoid(z) * relu(z) + (1 - sigmoid(z)) * h (TextGAN-PyTorch).
    Tied,
}

impl Default for CnnDiscConfig {
    /// SeqGAN's discriminator: widths 1-10, 15, 20 with 100-200 filters, embedding 64.
    fn default() -> Self {
        CnnDiscConfig {
            embed_dim: 64,
            filter_sizes: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20],
            num_filters: vec![100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160],
            num_rep: 1,
            dropout: 0.25,
            highway: Highway::Gated,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LstmDiscConfig {
    pub embed_dim: i64,
    pub hidden_dim: i64,
    pub dropout: f64,
}

impl Default for LstmDiscConfig {
    fn default() -> Self {
        LstmDiscConfig {
            embed_dim: 64,
            hidden_dim: 128,
            dropout: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MlpDiscConfig {
    pub embed_dim: i64,
    pub hidden_dim: i64,
}

impl Default for MlpDiscConfig {
    fn default() -> Self {
        MlpDiscConfig {
            embed_dim: 64,
            hidden_dim: 256,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TransformerDiscConfig {
    pub n_layer: i64,
    pub n_head: i64,
    pub n_embd: i64,
    pub dropout: f64,
}

impl Default for TransformerDiscConfig {
    fn default() -> Self {
        TransformerDiscConfig {
            n_layer: 2,
            n_head: 4,
            n_embd: 128,
            dropout: 0.1,
        }
    }
}

/// The adversarial algorithms.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// No adversarial phase (MLE only).
    None,
    /// REINFORCE with Monte Carlo rollouts (Yu et al. 2017).
    Seqgan,
    /// REINFORCE with normalised importance weights D / (1 - D) (Che et al. 2017).
    Maligan,
    /// Gumbel-softmax relaxation with an inverse-temperature schedule: RelGAN, GSGAN and the
    /// seeds' systems differ only in networks, loss and schedule.
    Gumbel,
    /// Dense per-token rewards from a per-token discriminator (de Masson d'Autume et al. 2019).
    Scratchgan,
}

/// Loss of the adversarial game, on raw discriminator scores.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// The minimax loss of the seeds: G minimises log(1 - D(fake)).
    Standard,
    /// G minimises -log D(fake).
    Nsgan,
    Rsgan,
    Ragan,
    Lsgan,
    /// WGAN with gradient penalty (`gp_weight`).
    Wgan,
    Hinge,
}

/// How the Gumbel-softmax inverse temperature rises from 1 to `beta_max` over the adversarial steps.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BetaSchedule {
    /// Always `beta_max`.
    Constant,
    /// beta_max^(n/N) (RelGAN's default).
    Exp,
    /// 1 + (beta_max - 1) n/(N - 1).
    Linear,
    /// 1 + (beta_max - 1) / (1 + exp(20 (N/2 - n)/N)).
    Sigmoid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GanConfig {
    pub algorithm: Algorithm,
    /// Adversarial steps (each: `g_steps` generator and `d_steps` discriminator updates).
    pub steps: usize,
    pub batch_size: i64,
    pub g_steps: usize,
    pub d_steps: usize,
    /// Discriminator updates on fresh samples before the first adversarial step.
    pub d_pretrain_steps: usize,
    /// SeqGAN's own discriminator schedule (SeqGAN and MaliGAN): when positive, each of the
    /// `d_steps` (and `d_pretrain_steps`) becomes a round of `d_epochs` passes over
    /// `d_samples` freshly generated sequences against as many training lines, in batches of
    /// `batch_size` of each. SeqGAN's code: 5 rounds of 3 epochs on 10,000 (50 to pretrain).
    /// 0 (default): each is one batch update.
    pub d_epochs: usize,
    pub d_samples: usize,
    pub g_lr: f64,
    pub d_lr: f64,
    pub g_beta1: f64,
    pub d_beta1: f64,
    pub grad_clip: f64,
    /// Global-norm bound on each discriminator update's gradient; 0 (default) turns it off.
    /// RelGAN's and TextGAN-PyTorch's code clip D at 5, SeqGAN's does not.
    pub d_grad_clip: f64,
    pub loss: GanLoss,
    pub gp_weight: f64,
    /// SeqGAN: Monte Carlo completions per prefix, and the rollout policy's update rate.
    pub rollouts: i64,
    pub rollout_update: f64,
    /// Gumbel-softmax: largest inverse temperature and its schedule.
    pub beta_max: f64,
    pub beta_schedule: BetaSchedule,
    /// N in the schedule: 0 (default) stretches it over the run's `steps`. RelGAN's and
    /// TextGAN-PyTorch's code fix N = 5000 whatever the run's length (the published numbers
    /// come from 3000 steps of that curve, so beta ends at beta_max^0.6); set 5000 to match.
    /// Past step N, beta stays at beta_max.
    pub beta_horizon: usize,
    /// ScratchGAN: discount of future rewards and decay of the moving-average baseline.
    pub gamma: f64,
    pub baseline_decay: f64,
    /// Evaluate (NLL, BLEU, Self-BLEU, D accuracy) and checkpoint every this many adversarial steps.
    pub eval_every: usize,
}

impl Default for GanConfig {
    fn default() -> Self {
        GanConfig {
            algorithm: Algorithm::None,
            steps: 0,
            batch_size: 64,
            g_steps: 1,
            d_steps: 5,
            d_pretrain_steps: 0,
            d_epochs: 0,
            d_samples: 10_000,
            g_lr: 1e-4,
            d_lr: 1e-4,
            g_beta1: 0.9,
            d_beta1: 0.9,
            grad_clip: 5.0,
            d_grad_clip: 0.0,
            loss: GanLoss::Standard,
            gp_weight: 10.0,
            rollouts: 16,
            rollout_update: 0.8,
            beta_max: 100.0,
            beta_schedule: BetaSchedule::Exp,
            beta_horizon: 0,
            gamma: 0.23,
            baseline_decay: 0.9,
            eval_every: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Constant,
    /// Linear warm-up over `warmup_steps`, then cosine decay to `min_lr` at the last step.
    Cosine,
    /// Multiply the rate by `plateau_factor` when test NLL has not improved for `plateau_patience` evaluations.
    Plateau,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub batch_size: i64,
    pub epochs: usize,
    /// Stop after this many optimizer steps (0 = run all epochs).
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
    pub seed: u64,
    /// "cpu", "cuda", "cuda:N" or "auto".
    pub device: String,
    /// CPU threads for torch (0 = torch's default).
    pub threads: i32,
    /// Capture the MLE step as one CUDA graph and replay it (CUDA only; LSTM generators).
    pub cuda_graph: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 64,
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
            seed: 1234,
            device: "auto".into(),
            threads: 0,
            cuda_graph: false,
        }
    }
}

impl TrainConfig {
    /// The MLE optimizer's settings.
    pub fn adam(&self) -> crate::optim::AdamConfig {
        crate::optim::AdamConfig {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: self.optimizer == OptimizerKind::Adamw,
        }
    }
}

/// Longest sequence any model accepts; guards against absurd `max_len` values.
pub const MAX_SEQ_LEN: usize = 4096;

fn check(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Config(msg()))
    }
}

impl RunConfig {
    /// Reads a TOML file and applies `key=value` overrides (values in TOML syntax; bare words are strings).
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    Error::Config(format!("{}: {}", p.display(), one_line(&e.to_string())))
                })?
            }
            None => toml::from_str(&RunConfig::default().to_toml()).expect("defaults are TOML"),
        };
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        Self::from_table(table)
    }

    pub fn from_toml_str(text: &str) -> Result<Self> {
        let table = toml::from_str::<toml::Table>(text)
            .map_err(|e| Error::Config(one_line(&e.to_string())))?;
        Self::from_table(table)
    }

    fn from_table(table: toml::Table) -> Result<Self> {
        let cfg: RunConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(one_line(&e.to_string())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serializes")
    }

    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let d = &self.data;
        check(d.source != DataSource::Text || d.train.is_some(), || {
            "data.source = \"text\" needs data.train (a UTF-8 file, one sentence a line)".into()
        })?;
        check((0.0..0.9).contains(&d.test_fraction), || {
            format!(
                "data.test_fraction must be in [0, 0.9), got {}",
                d.test_fraction
            )
        })?;
        check(d.vocab_size == 0 || d.vocab_size >= 5, || {
            format!(
                "data.vocab_size must be 0 (no cap) or at least 5, got {}",
                d.vocab_size
            )
        })?;
        check(d.min_count >= 1, || {
            "data.min_count must be at least 1".into()
        })?;
        check(d.max_len <= MAX_SEQ_LEN, || {
            format!(
                "data.max_len must be at most {MAX_SEQ_LEN}, got {}",
                d.max_len
            )
        })?;
        check(d.max_len != 1, || {
            "data.max_len must be at least 2 (one token and <eos>) or 0 (from the data)".into()
        })?;
        check((1..=1_000_000).contains(&d.oracle_samples), || {
            format!(
                "data.oracle_samples must be in 1..=1000000, got {}",
                d.oracle_samples
            )
        })?;
        check((1..=MAX_SEQ_LEN).contains(&d.oracle_seq_len), || {
            format!(
                "data.oracle_seq_len must be in 1..={MAX_SEQ_LEN}, got {}",
                d.oracle_seq_len
            )
        })?;
        check(
            !self.train.cuda_graph || matches!(self.generator, GeneratorConfig::Lstm(_)),
            || "train.cuda_graph is implemented for LSTM generators only".into(),
        )?;
        match &self.generator {
            GeneratorConfig::Lstm(c) => {
                check(c.embed_dim >= 1 && c.embed_dim <= 65_536, || {
                    format!("generator.embed_dim out of range: {}", c.embed_dim)
                })?;
                check(c.hidden_dim >= 1 && c.hidden_dim <= 65_536, || {
                    format!("generator.hidden_dim out of range: {}", c.hidden_dim)
                })?;
                check((1..=64).contains(&c.num_layers), || {
                    format!(
                        "generator.num_layers must be in 1..=64, got {}",
                        c.num_layers
                    )
                })?;
                check((0.0..1.0).contains(&c.dropout), || {
                    format!("generator.dropout must be in [0, 1), got {}", c.dropout)
                })?;
            }
            GeneratorConfig::Rmc(c) => {
                check(
                    c.embed_dim >= 1 && c.mem_slots >= 1 && c.num_heads >= 1 && c.head_size >= 1,
                    || {
                        "generator.embed_dim, mem_slots, num_heads and head_size must be positive"
                            .into()
                    },
                )?;
            }
            GeneratorConfig::Transformer(c) => {
                check((1..=64).contains(&c.n_layer), || {
                    format!("generator.n_layer must be in 1..=64, got {}", c.n_layer)
                })?;
                check(c.n_head >= 1 && c.n_embd >= 1 && c.n_embd <= 65_536, || {
                    "generator.n_head and n_embd must be positive".into()
                })?;
                check(c.n_embd % c.n_head == 0, || {
                    format!(
                        "generator.n_embd ({}) must be divisible by generator.n_head ({})",
                        c.n_embd, c.n_head
                    )
                })?;
                check((0.0..1.0).contains(&c.dropout), || {
                    format!("generator.dropout must be in [0, 1), got {}", c.dropout)
                })?;
            }
        }
        match &self.discriminator {
            DiscriminatorConfig::Cnn(c) => {
                check(
                    !c.filter_sizes.is_empty() && c.filter_sizes.len() == c.num_filters.len(),
                    || {
                        "discriminator.filter_sizes and num_filters must be non-empty and of equal length".into()
                    },
                )?;
                check(
                    c.filter_sizes.iter().chain(&c.num_filters).all(|&x| x >= 1),
                    || "discriminator filter sizes and counts must be positive".into(),
                )?;
                check(c.num_rep >= 1 && c.embed_dim % c.num_rep == 0, || {
                    format!(
                        "discriminator.embed_dim ({}) must be a positive multiple of num_rep ({})",
                        c.embed_dim, c.num_rep
                    )
                })?;
            }
            DiscriminatorConfig::Transformer(c) => {
                check(c.n_head >= 1 && c.n_embd % c.n_head == 0, || {
                    "discriminator.n_embd must be divisible by n_head".into()
                })?;
            }
            DiscriminatorConfig::Lstm(c) => check(c.embed_dim >= 1 && c.hidden_dim >= 1, || {
                "discriminator sizes must be positive".into()
            })?,
            DiscriminatorConfig::Mlp(c) => check(c.embed_dim >= 1 && c.hidden_dim >= 1, || {
                "discriminator sizes must be positive".into()
            })?,
        }
        let g = &self.gan;
        check((1..=1 << 20).contains(&g.batch_size), || {
            format!(
                "gan.batch_size must be in 1..=1048576, got {}",
                g.batch_size
            )
        })?;
        check(finite_pos(g.g_lr) && finite_pos(g.d_lr), || {
            "gan.g_lr and gan.d_lr must be positive and finite".into()
        })?;
        check(
            (0.0..1.0).contains(&g.g_beta1) && (0.0..1.0).contains(&g.d_beta1),
            || "gan.g_beta1 and gan.d_beta1 must be in [0, 1)".into(),
        )?;
        check((1..=1024).contains(&g.rollouts), || {
            format!("gan.rollouts must be in 1..=1024, got {}", g.rollouts)
        })?;
        check((0.0..=1.0).contains(&g.rollout_update), || {
            "gan.rollout_update must be in [0, 1]".into()
        })?;
        check(
            finite_nonneg(g.grad_clip) && finite_nonneg(g.d_grad_clip),
            || {
                "gan.grad_clip and gan.d_grad_clip must be finite and non-negative (0 turns clipping off)".into()
            },
        )?;
        check(finite_nonneg(g.gp_weight), || {
            "gan.gp_weight must be finite and non-negative".into()
        })?;
        check(
            g.d_epochs == 0
                || matches!(
                    g.algorithm,
                    Algorithm::Seqgan | Algorithm::Maligan | Algorithm::None
                ),
            || {
                "gan.d_epochs (SeqGAN's epoch schedule for D) applies to gan.algorithm = \"seqgan\" or \"maligan\"; set it to 0".into()
            },
        )?;
        check(
            g.d_epochs == 0 || (1..=1 << 22).contains(&g.d_samples),
            || {
                format!(
                    "gan.d_samples must be in 1..=4194304 when gan.d_epochs is set, got {}",
                    g.d_samples
                )
            },
        )?;
        check(g.beta_max >= 1e-3 && g.beta_max.is_finite(), || {
            format!(
                "gan.beta_max must be positive and finite, got {}",
                g.beta_max
            )
        })?;
        check(
            (0.0..=1.0).contains(&g.gamma) && (0.0..1.0).contains(&g.baseline_decay),
            || "gan.gamma must be in [0, 1] and gan.baseline_decay in [0, 1)".into(),
        )?;
        check(g.algorithm == Algorithm::None || g.steps >= 1, || {
            "gan.steps must be at least 1 when gan.algorithm is set".into()
        })?;
        check(
            g.algorithm != Algorithm::Scratchgan
                || matches!(self.discriminator, DiscriminatorConfig::Lstm(_)),
            || {
                "gan.algorithm = \"scratchgan\" needs per-token scores: discriminator.kind = \"lstm\"".into()
            },
        )?;
        let t = &self.train;
        check((1..=1 << 20).contains(&t.batch_size), || {
            format!(
                "train.batch_size must be in 1..=1048576, got {}",
                t.batch_size
            )
        })?;
        check(
            t.epochs >= 1 || t.max_steps >= 1 || g.algorithm != Algorithm::None,
            || "train.epochs or train.max_steps must be at least 1 (or set a gan.algorithm)".into(),
        )?;
        check(t.lr > 0.0 && t.lr.is_finite(), || {
            format!("train.lr must be positive, got {}", t.lr)
        })?;
        check(
            (0.0..1.0).contains(&t.beta1) && (0.0..1.0).contains(&t.beta2),
            || "train.beta1 and train.beta2 must be in [0, 1)".into(),
        )?;
        check(finite_pos(t.eps), || {
            "train.eps must be positive and finite".into()
        })?;
        check(finite_nonneg(t.weight_decay), || {
            "train.weight_decay must be finite and non-negative".into()
        })?;
        check(finite_nonneg(t.grad_clip), || {
            "train.grad_clip must be finite and non-negative (0 turns clipping off)".into()
        })?;
        check(t.min_lr >= 0.0 && t.min_lr <= t.lr, || {
            "train.min_lr must be in [0, train.lr]".into()
        })?;
        check(t.plateau_factor > 0.0 && t.plateau_factor < 1.0, || {
            "train.plateau_factor must be in (0, 1)".into()
        })?;
        check(t.threads >= 0, || {
            "train.threads must be non-negative".into()
        })?;
        crate::device::parse_device(&t.device)?;
        Ok(())
    }
}

fn finite_pos(x: f64) -> bool {
    x > 0.0 && x.is_finite()
}

fn finite_nonneg(x: f64) -> bool {
    x >= 0.0 && x.is_finite()
}

/// The first line of a multi-line parser message, with its remaining lines folded in.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sets `a.b.c = value` in a TOML table, creating sub-tables on the way.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("--set expects key=value, got `{assignment}`")))?;
    let key = key.trim();
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(format!("--set: bad key `{key}`")));
    }
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            Error::Config(format!("--set: `{p}` in `{key}` is a value, not a section"))
        })?;
    }
    let last = parts[parts.len() - 1];
    // Switching a network's kind drops the old kind's settings, which the new one would reject.
    if (key == "generator.kind" || key == "discriminator.kind") && cur.get("kind") != Some(&value) {
        cur.clear();
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "gan.d_lr=inf",
            "gan.gp_weight=-1",
            "train.grad_clip=nan",
        ] {
            let e = RunConfig::load(None, &[bad.into()])
                .unwrap_err()
                .to_string();
            let key = bad.split('=').next().unwrap();
            assert!(e.contains(key), "{bad}: {e}");
        }
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
