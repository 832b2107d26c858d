//! Training: the shared run loop (evaluation cadence, metrics, samples, checkpoints, resume) and
//! the MLE step.
//!
//! The loop knows nothing about the binary: progress is reported through [`Hooks`].
mod adversarial;
mod mle;
mod session;

pub use crate::optim::mle_step;
pub use mle::GraphedMleStep;
pub use session::{load_data, Progress, Session};

/// Callbacks from the run loop (progress bars and logs live in the binary).
pub trait Hooks {
    /// Training starts (or resumes) at `step` of `total` optimizer steps.
    fn on_start(&mut self, _step: usize, _total: usize) {}
    /// After an optimizer step; `loss` is refreshed every few steps, not every step.
    fn on_step(&mut self, _step: usize, _loss: f64, _lr: f64) {}
    /// After an evaluation, with the metrics line just written to `metrics.jsonl`.
    fn on_eval(&mut self, _metrics: &serde_json::Value) {}
    /// A message for the user (also written to `train.log`).
    fn on_message(&mut self, _msg: &str) {}
}

/// Hooks that do nothing (tests, library use).
pub struct NoHooks;
impl Hooks for NoHooks {}
