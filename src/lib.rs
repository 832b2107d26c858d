//! textgan: text GANs in Rust on libtorch.
//!
//! Layers, from the bottom: [`data`] (corpora, vocabulary, batches) and [`models`] (generators,
//! the oracle, sampling) know nothing of training; [`optim`] holds optimizers and schedules;
//! [`train`] the shared loop and MLE; [`checkpoint`] saves and restores a run; [`eval`] computes the metrics.
//! The `textgan` binary is the only place that knows about flags, progress bars and exit codes.
pub mod algorithms;
pub mod augment;
pub mod checkpoint;
pub mod classify;
pub mod config;
pub mod cuda_graph;
pub mod data;
pub mod datasets;
pub mod device;
pub mod dist;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod infer;
pub mod models;
pub mod optim;
pub mod presets;
pub mod record;
pub mod run;
pub mod serve;
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

/// Flushes denormal floats to zero on x86-64: results below f32's normal range (1.2e-38) become 0
/// (FTZ) and such inputs read as 0 (DAZ), in this thread and the threads it starts afterwards,
/// which copy its MXCSR: torch's and MKL's worker pools, made on first use. Call it first thing
/// in `main`, before any tensor operation; `TEXTGAN_KEEP_DENORMALS=1` leaves the default.
///
/// Why: training pushes some values into that range (probabilities of unlikely tokens, their
/// gradients, Adam's decaying moments), and on Intel CPUs every operation on a denormal takes a
/// microcode assist. A [1280, 512] x [512, 5000] product with denormal entries took 7.2 s
/// instead of 56 ms on a 2-core Xeon, and the relational-memory generator's MLE steps slowed
/// from 3 to 0.4 a second within 700 steps. `torch.set_flush_denormal` does the same for the
/// calling thread alone, so in PyTorch it misses worker threads that already exist.
/// Returns whether it flushed.
pub fn flush_denormals() -> bool {
    if std::env::var_os("TEXTGAN_KEEP_DENORMALS").is_some_and(|v| v == "1") {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr read and write this thread's SSE control register, only
        // setting the two flush bits (supported by every x86-64 CPU with SSE2 and later).
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
            csr |= FTZ | DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly));
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The library's unit tests share torch's process-wide random generator, and many seed it
/// and then build two models that must start from equal weights: another test drawing on a
/// second thread in between breaks them at random (CI saw it). libtest reads
/// `RUST_TEST_THREADS` when it starts, so this constructor, run before `main`, asks for one
/// thread unless the caller chose a number. The whole set takes about 2.4 s this way.
#[cfg(test)]
#[ctor::ctor(unsafe)]
fn unit_tests_run_one_at_a_time() {
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        std::env::set_var("RUST_TEST_THREADS", "1");
    }
}

#[cfg(test)]
mod tests {
    /// After the call, a denormal input reads as zero and a product below the normal range
    /// is zero, in torch's kernels on this thread (a new thread, so no other test is touched).
    #[test]
    fn denormals_flush_to_zero() {
        std::thread::spawn(|| {
            let tiny = tch::Tensor::from_slice(&[1e-39f32, 1e-20]);
            let before = Vec::<f32>::try_from(&tiny * &tiny.ones_like()).unwrap();
            assert!(before[0] > 0.0, "denormals survive by default");
            if !super::flush_denormals() {
                return; // not x86-64, or switched off
            }
            let after = Vec::<f32>::try_from(&tiny * &tiny.ones_like()).unwrap();
            assert_eq!(after[0], 0.0, "a denormal input reads as zero");
            let sq = Vec::<f32>::try_from(&tiny * &tiny).unwrap();
            assert_eq!(sq[1], 0.0, "1e-40 flushes to zero");
        })
        .join()
        .unwrap();
    }
}
