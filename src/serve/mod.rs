//! `textgan serve`: trained runs behind an HTTP API and a web page, and `textgan report`.
//!
//! Each run is owned by one worker thread (off the async executor, so slow generation never
//! stalls a health check). The worker gathers the requests that arrive within a few
//! milliseconds of each other, up to a batch size, and answers all draws with the same
//! settings in one batched forward pass ([`worker`]). The HTTP side ([`http`]) parses,
//! checks, queues and answers; it never touches the file system beyond the runs it was given.
//!
//! The runs themselves are loaded and answered by [`crate::infer`]; serving adds the queue,
//! the batching and HTTP. The HTTP side (axum, tokio) is the `serve` feature; the report is
//! built without it.
#[cfg(feature = "serve")]
pub mod classify;
#[cfg(feature = "serve")]
mod errors;
#[cfg(feature = "serve")]
pub mod http;
#[cfg(feature = "serve")]
mod metrics;
#[cfg(feature = "serve")]
mod openai;
pub mod report;
#[cfg(feature = "serve")]
mod worker;

#[cfg(feature = "serve")]
pub use worker::{Job, RunHandle, RunInfo, WorkerConfig};

use crate::infer::{invalid, Draw, Scoring};
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
        if let Some(g) = d.guide {
            if !(1..=self.max_beam as usize).contains(&g.pool()) {
                return Err(invalid(format!(
                    "guide.k must be in 1..={}, got {}",
                    self.max_beam,
                    g.pool()
                )));
            }
            if d.beam.is_some() {
                return Err(invalid("give beam or guide, not both"));
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
