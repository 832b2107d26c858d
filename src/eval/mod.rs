//! Metrics: likelihoods under a model, and the text metrics of the text-GAN literature.
//!
//! Metrics do not depend on training: this module never imports `train`.
pub mod bleu;
pub mod classifier;
pub mod compare;
pub mod encoder;
pub mod features;
pub mod judge;
pub mod lm;
pub mod mauve;
pub mod metric;
pub mod ngram;
pub mod nll;
pub mod plot;
pub mod plot_intervals;
pub mod report;
pub mod sacrebleu;
pub mod text;

pub use metric::{Better, Metric};
pub use nll::{corpus_nll, corpus_nll_given, corpus_nll_shared, corpus_nll_total};
pub use report::{Figure, Report};
