//! The divergence guard's side in the run loop. Every update goes through
//! [`crate::optim::minimize`], which skips it when its loss or gradient is NaN or infinite;
//! here the loop counts the steps with skipped updates, and after `train.guard_patience` in a
//! row rolls the run back to its last checkpoint with every learning rate multiplied by
//! `train.guard_lr_factor`, stopping with a clear error after `train.guard_rollbacks`.
use crate::checkpoint::Progress;
use crate::config::TrainConfig;
use crate::error::Error;

/// What the guard has seen since the last rollback and the last evaluation.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    /// Steps in a row with a skipped update.
    in_a_row: usize,
    /// Steps with a skipped update since the last evaluation.
    pub window: u64,
}

/// The guard's verdict on a step.
pub(crate) enum Verdict {
    /// Every update was made.
    Clean,
    /// Some updates were skipped: the warning to give.
    Skipped(String),
    /// Too many steps in a row skipped: the warning, then back to the last checkpoint.
    RollBack(String),
    /// Too many steps in a row skipped and no rollback left: the warning, then the error.
    Diverged(String, Error),
}

impl Guard {
    /// After a step: counts it in `progress` if an update was skipped.
    pub fn after_step(&mut self, progress: &mut Progress, cfg: &TrainConfig) -> Verdict {
        let bad = summarise(crate::optim::take_skipped());
        if bad.is_empty() {
            self.in_a_row = 0;
            return Verdict::Clean;
        }
        self.in_a_row += 1;
        self.window += 1;
        progress.skipped_steps += 1;
        let (mle, adv) = (progress.step, progress.adv_step);
        let m = format!(
            "warning: step {} skipped ({mle} MLE, {adv} adversarial): {}",
            mle + adv,
            bad.join("; ")
        );
        if self.in_a_row < cfg.guard_patience {
            return Verdict::Skipped(m);
        }
        if progress.rollbacks >= cfg.guard_rollbacks {
            let e = Error::Diverged(format!(
                "{} steps in a row skipped at step {} ({}) after {} rollbacks; the last good checkpoint is kept (resume it with a lower learning rate)",
                self.in_a_row,
                mle + adv,
                bad.join("; "),
                progress.rollbacks
            ));
            return Verdict::Diverged(m, e);
        }
        self.in_a_row = 0;
        Verdict::RollBack(m)
    }
}

/// What went bad, each different report once with its count: "discriminator: gradient
/// norm is inf (x5)".
fn summarise(reports: Vec<String>) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for r in reports {
        match out.iter_mut().find(|(s, _)| *s == r) {
            Some((_, n)) => *n += 1,
            None => out.push((r, 1)),
        }
    }
    out.into_iter()
        .map(|(s, n)| if n > 1 { format!("{s} (x{n})") } else { s })
        .collect()
}

/// The test hook `TEXTGAN_TEST_NAN=STEPS[:COUNT]`: the updates of the `COUNT` steps (default
/// 1) after `STEPS` optimizer steps see a NaN loss, once (a rolled-back run redoes them clean).
pub(crate) fn test_poison(steps_done: usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static LEFT: AtomicUsize = AtomicUsize::new(usize::MAX);
    static HOOK: Hook = Hook::new();
    let Some((at, count)) = test_hook(&HOOK, "TEXTGAN_TEST_NAN") else {
        return;
    };
    if LEFT.load(Ordering::Relaxed) == usize::MAX && steps_done == at {
        LEFT.store(count, Ordering::Relaxed);
    }
    let left = LEFT.load(Ordering::Relaxed);
    if left != usize::MAX && left > 0 {
        LEFT.store(left - 1, Ordering::Relaxed);
        crate::optim::poison_updates(usize::MAX);
    } else {
        crate::optim::poison_updates(0);
    }
}

/// The test hook `TEXTGAN_TEST_SIGNAL=STEPS[:COUNT]`: after `STEPS` optimizer steps the process
/// sends itself SIGTERM (`COUNT` times, default once), as a user's Ctrl-C or a scheduler would.
pub(super) fn test_signal(steps: usize) {
    static HOOK: Hook = Hook::new();
    let Some((at, count)) = test_hook(&HOOK, "TEXTGAN_TEST_SIGNAL") else {
        return;
    };
    if at == steps {
        for _ in 0..count {
            // SAFETY: raising a signal on our own process.
            unsafe {
                libc::raise(libc::SIGTERM);
            }
        }
    }
}

/// A test hook's parsed value, read once per process.
pub(crate) type Hook = std::sync::OnceLock<Option<(usize, usize)>>;

/// A test hook's `STEPS[:COUNT]` (count 1 by default), read from the environment variable
/// `name` into `cell` once: the run loop asks every step.
/// Always `None` unless the `test-hooks` feature is on (the test suite's build): a release
/// build reads no such variable.
pub(crate) fn test_hook(cell: &'static Hook, name: &str) -> Option<(usize, usize)> {
    if !cfg!(feature = "test-hooks") {
        return None;
    }
    *cell.get_or_init(|| {
        let v = std::env::var(name).ok()?;
        let (at, count) = v.split_once(':').unwrap_or((&v, "1"));
        Some((at.parse().ok()?, count.parse().ok()?))
    })
}
