//! Metrics: likelihoods under a model, and the text metrics of the text-GAN literature.
//!
//! Metrics do not depend on training: this module never imports `train`.
pub mod bleu;
pub mod nll;

pub use nll::corpus_nll;
