//! Optimizers and learning-rate schedules, shared by MLE, the adversarial algorithms and the
//! language models that the evaluation trains for its reverse-LM score.
mod adam;
mod schedule;

pub use adam::{Adam, AdamSnapshot};
pub use schedule::Schedule;
