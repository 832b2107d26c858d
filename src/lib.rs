//! textgan: text GANs in Rust on libtorch.
//!
//! Layers, from the bottom: [`data`] (corpora, vocabulary, batches) and [`models`] (generators,
//! the oracle, sampling) know nothing of training; [`optim`] holds optimizers and schedules;
//! [`train`] the shared loop and MLE; [`checkpoint`] saves and restores a run; [`eval`] computes the metrics.
//! The `textgan` binary is the only place that knows about flags, progress bars and exit codes.
pub mod algorithms;
pub mod checkpoint;
pub mod config;
pub mod cuda_graph;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod models;
pub mod optim;
pub mod train;

pub use error::{Error, Result};

/// Keeps freed tensor memory in the process instead of returning it to the kernel.
///
/// glibc serves allocations above 32 MB (a [10000, 5000] logits tensor is 200 MB) with fresh
/// `mmap`s, so every such tensor costs page faults on first touch; on 2 cores that was half the
/// time of sampling. With mmap off and trimming raised, freed blocks are reused. Call it first
/// thing in `main`. Measured: sampling 10,000 oracle sequences 6.2 s -> 1.9 s, an LSTM 32/32
/// MLE step 33 -> 23 ms (docs/PERFORMANCE.md).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
