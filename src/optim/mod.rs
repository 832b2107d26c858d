//! Optimizers and learning-rate schedules, shared by MLE, the adversarial algorithms and the
//! language models that the evaluation trains for its reverse-LM score.
mod adam;
mod schedule;
mod step;
mod watch;

pub use adam::{Adam, AdamConfig, AdamSnapshot, OptimizerKind};
pub use schedule::{Schedule, ScheduleConfig, ScheduleKind};
pub use step::{
    minimize, minimize_parts, minimize_reported, mle_step, mle_step_accumulated, mle_step_weighted,
    poison_updates, take_skipped,
};
pub use watch::{Verdict, Watch};
