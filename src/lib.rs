//! textgan: text GANs in Rust on libtorch.
//!
//! Layers, from the bottom: [`data`] (corpora, vocabulary, batches) and [`models`] (generators,
//! the oracle, sampling) know nothing of training; [`optim`] holds optimizers and schedules;
//! [`train`] the shared loop and MLE; [`checkpoint`] saves and restores a run; [`eval`] computes the metrics.
//! The `textgan` binary is the only place that knows about flags, progress bars and exit codes.
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod models;
pub mod optim;
pub mod train;

pub use error::{Error, Result};
