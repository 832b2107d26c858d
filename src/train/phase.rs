//! A phase of a run ([`MlePhase`](super::mle::MlePhase), then
//! [`AdvPhase`](super::adversarial::AdvPhase)): steps on the [`RunState`], driven by the loop
//! in [`Trainer::run`](super::Trainer::run), which alone evaluates, records and checkpoints.
use super::metrics::Metrics;
use super::rundir::RunDir;
use super::state::RunState;
use super::Hooks;
use crate::checkpoint::AdvCounts;
use crate::Result;
use std::collections::HashMap;
use std::path::Path;
use tch::Tensor;

/// Where a phase's messages go: the run's log and the binary's hooks.
pub(crate) struct Report<'a> {
    pub dir: &'a mut RunDir,
    pub hooks: &'a mut dyn Hooks,
}

impl Report<'_> {
    /// A message to the user, also written to `train.log`.
    pub fn say(&mut self, msg: &str) {
        self.dir.log(msg);
        self.hooks.on_message(msg);
    }
}

/// What the loop does when a phase has (re)built itself: its starting point is to be recorded.
pub(crate) enum Opening {
    /// Nothing to record.
    Nothing,
    /// An evaluation of the weights now.
    Evaluate,
    /// This record, taken over from an evaluation of the same weights.
    Record(Box<Metrics>),
}

/// A phase of a run, driven by [`Trainer::run`](super::Trainer::run).
pub(crate) trait Phase {
    /// Steps the phase takes in all, and those done.
    fn total(&self, s: &RunState) -> usize;
    fn done(&self, s: &RunState) -> usize;
    /// Before the first step of this call: messages, the progress bar.
    fn begin(&mut self, s: &mut RunState, out: &mut Report) -> Result<()>;
    /// One step; returns whether an evaluation is due after it.
    fn step(&mut self, s: &mut RunState, out: &mut Report) -> Result<bool>;
    /// After the last step, before the closing evaluation (if one is still due).
    fn finish(&mut self, _s: &mut RunState) {}
    /// Moves the figures gathered since the last evaluation into `m`, and starts afresh.
    fn close_window(&mut self, s: &mut RunState, m: &mut Metrics, out: &mut Report) -> Result<()>;
    /// After a rollback to the checkpoint (its tensors, its path): the phase's own state
    /// from it (the algorithm's, or the phase afresh when the rollback went back before it
    /// began), and a fresh window.
    fn reload(
        &mut self,
        s: &mut RunState,
        checkpoint: (&HashMap<String, Tensor>, &Path),
        out: &mut Report,
    ) -> Result<Opening>;
    /// The phase's own tensors and counts for the checkpoint (the algorithm's).
    fn state(&self) -> (Vec<(String, Tensor)>, Option<AdvCounts>) {
        (Vec::new(), None)
    }
}
