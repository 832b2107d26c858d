//! Training: the [`Trainer`] drives a run's phases (MLE, adversarial) through one loop that
//! steps, evaluates on each phase's cadence into typed [`Metrics`], and checkpoints into the
//! run's [`RunDir`].
//!
//! The loop knows nothing about the binary: progress is reported through [`Hooks`], which also
//! tell it when to stop early (a signal the binary caught).
mod adversarial;
mod anticollapse;
pub mod discriminator;
mod evaluate;
mod guard;
mod metrics;
mod mle;
mod phase;
mod plan;
mod rundir;
mod setup;
mod state;
mod trainer;

pub use anticollapse::{metric_of, BEST};
pub use evaluate::{EvalSettings, Evaluator};
pub use metrics::Metrics;
pub use mle::GraphedMleStep;
pub use plan::{Outcome, Plan};
pub use rundir::RunDir;
pub use trainer::Trainer;

/// Callbacks from the run loop (progress bars and logs live in the binary).
pub trait Hooks {
    /// Training starts (or resumes) at `step` of `total` optimizer steps.
    fn on_start(&mut self, _step: usize, _total: usize) {}
    /// After an optimizer step; `loss` is refreshed every few steps, not every step.
    fn on_step(&mut self, _step: usize, _loss: f64, _lr: f64) {}
    /// After an evaluation, with the record just written to `metrics.jsonl`.
    fn on_eval(&mut self, _metrics: &Metrics) {}
    /// A message for the user (also written to `train.log`).
    fn on_message(&mut self, _msg: &str) {}
    /// Asked after every step: `true` ends the run there, with a checkpoint.
    fn should_stop(&self) -> bool {
        false
    }
}

/// Hooks that do nothing (tests, library use).
pub struct NoHooks;
impl Hooks for NoHooks {}
