//! `textgan serve`: trained runs behind an HTTP API and a web page, and `textgan report`.
//!
//! Each run is owned by one worker thread (off the async executor, so slow generation never
//! stalls a health check). The worker gathers the requests that arrive within a few
//! milliseconds of each other, up to a batch size, and answers all draws with the same
//! settings in one batched forward pass ([`worker`]). The HTTP side ([`http`]) parses,
//! checks, queues and answers; it never touches the file system beyond the runs it was given.
//!
//! The HTTP side (axum, tokio) is the `serve` feature; the engine and the report are built
//! without it.
mod cond;
mod engine;
#[cfg(feature = "serve")]
mod errors;
#[cfg(feature = "serve")]
pub mod http;
mod load;
#[cfg(feature = "serve")]
mod metrics;
#[cfg(feature = "serve")]
mod openai;
pub mod report;
mod scoring;
#[cfg(feature = "serve")]
mod worker;

pub use cond::RowCond;
pub use engine::{invalid, Engine, Prepared, Text, TokenScore};
#[cfg(feature = "serve")]
pub use worker::{Job, RunHandle, RunInfo, WorkerConfig};

use crate::models::Sampling;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The plot a `textgan sweep` folder holds: the quality-diversity plane of a temperature
/// sweep, or the beam-width sweep of a translation run.
pub const SWEEP_PLOTS: [&str; 2] = ["quality_diversity.svg", "beam_sweep.svg"];

/// The plot of the sweep folder `dir`, if it holds one.
pub fn sweep_plot(dir: &Path) -> Option<PathBuf> {
    SWEEP_PLOTS
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// A generate request in the engine's terms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Draw {
    /// Texts to draw.
    pub n: usize,
    /// Logits are divided by this before the softmax.
    pub temperature: f64,
    /// Sample among the k most likely tokens only (0: all).
    pub top_k: i64,
    /// Nucleus sampling: the smallest set of tokens with probability >= p.
    pub top_p: f64,
    /// Always take the most likely token.
    pub greedy: bool,
    /// Beam search of this width instead of sampling (n must be 1).
    pub beam: Option<i64>,
    /// Seed for this request alone (it is then drawn in a batch of its own, reproducibly).
    pub seed: Option<i64>,
    /// Text every sample starts with.
    pub prompt: String,
    pub label: Option<String>,
    pub source: Option<String>,
    /// Tokens to generate after the prompt at most (default: up to the run's length).
    pub max_tokens: Option<usize>,
    /// Also score each token with the discriminator (adversarial runs).
    pub discriminator: bool,
    /// The k most likely tokens at each position, with their log-probabilities (0: none).
    pub top_logprobs: usize,
    /// The run to draw from (default: the first served).
    pub run: Option<String>,
    /// `max_tokens` is a default, not the caller's: cut it to what the run allows instead of
    /// refusing (OpenAI's default of 16 on a run of shorter texts).
    #[serde(skip)]
    pub max_tokens_is_default: bool,
}

impl Draw {
    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            greedy: self.greedy,
        }
    }
}

impl Default for Draw {
    fn default() -> Self {
        Draw {
            n: 1,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            greedy: false,
            beam: None,
            seed: None,
            prompt: String::new(),
            label: None,
            source: None,
            max_tokens: None,
            discriminator: false,
            top_logprobs: 0,
            run: None,
            max_tokens_is_default: false,
        }
    }
}

/// A score request: texts to score under the generator (and the discriminator).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    pub texts: Vec<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// Score with the discriminator too (default: when the run has one).
    #[serde(default)]
    pub discriminator: bool,
    #[serde(default)]
    pub top_logprobs: usize,
    #[serde(default)]
    pub run: Option<String>,
}

/// Limits on one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Texts per generate request.
    pub max_n: usize,
    /// Texts per score request.
    pub max_texts: usize,
    /// Alternatives per position (`top_logprobs`, OpenAI's `logprobs`).
    pub max_top: usize,
    pub max_beam: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_n: 64,
            max_texts: 64,
            max_top: 5,
            max_beam: 16,
        }
    }
}

impl Limits {
    /// The ranges of a draw's settings (the run checks the rest: lengths, labels, sources).
    pub fn check_draw(&self, d: &Draw) -> crate::Result<()> {
        let s = d.sampling();
        if d.n == 0 || d.n > self.max_n {
            return Err(invalid(format!(
                "n must be in 1..={}, got {}",
                self.max_n, d.n
            )));
        }
        s.validate()?;
        if let Some(b) = d.beam {
            if d.greedy {
                return Err(invalid("give greedy or beam, not both"));
            }
            if b < 1 || b > self.max_beam {
                return Err(invalid(format!(
                    "beam must be in 1..={}, got {b}",
                    self.max_beam
                )));
            }
        }
        if d.max_tokens == Some(0) {
            return Err(invalid("max_tokens must be at least 1"));
        }
        if d.top_logprobs > self.max_top {
            return Err(invalid(format!(
                "top_logprobs must be at most {}",
                self.max_top
            )));
        }
        Ok(())
    }

    pub fn check_scoring(&self, s: &Scoring) -> crate::Result<()> {
        if s.texts.is_empty() || s.texts.len() > self.max_texts {
            return Err(invalid(format!(
                "texts must hold 1..={} texts, got {}",
                self.max_texts,
                s.texts.len()
            )));
        }
        if s.top_logprobs > self.max_top {
            return Err(invalid(format!(
                "top_logprobs must be at most {}",
                self.max_top
            )));
        }
        Ok(())
    }
}
