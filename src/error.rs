//! The library's error type: every failure a user can cause, named so the binary can print it in one line.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The reason is in the message and deliberately not a `source`: the binary prints the
    // chain (`{:#}`), which would say it twice.
    #[error("{path}: {reason}")]
    Io {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{path}: line {line} is not valid UTF-8 (for Latin-1 or Windows-1252 text, set data.encoding)")]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{path}: no sentences (the file is empty or holds only blank lines)")]
    EmptyCorpus { path: PathBuf },
    #[error("config: {0}")]
    Config(String),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// A request to a served run that it cannot answer as asked (a 4xx).
    #[error("{0}")]
    Request(String),
    #[error("device: {0}")]
    Device(String),
    #[error("data: {0}")]
    Data(String),
    #[error("eval: {0}")]
    Eval(String),
    #[error("training diverged: {0}")]
    Diverged(String),
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// A process group that could not form, or a collective that failed (a peer gone, a timeout).
    #[error("distributed: {0}")]
    Dist(String),
    /// An error with the fix the caller can offer (a flag, a command): the binary matches the
    /// [`Fix`], not the message.
    #[error("{error}")]
    WithFix { error: Box<Error>, fix: Fix },
}

/// What a caller can do about an error, beyond its message: the command line turns each into
/// the flag that helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// Run on the CPU (or let `auto` choose): no CUDA device here.
    UseCpu,
    /// Give the training text as a file of sentences.
    GiveTextFile,
    /// Continue the run that is already there.
    Resume,
    /// Start a new run from this checkpoint's generator.
    StartFromGenerator,
    /// Give reference sentences.
    GiveReferences,
    /// Give the training sentences.
    GiveTrain,
    /// Give a trained run.
    GiveRun,
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            reason: source,
        }
    }
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }
    /// This error, with the fix a caller can offer.
    pub fn with_fix(self, fix: Fix) -> Self {
        Error::WithFix {
            error: Box::new(self),
            fix,
        }
    }
    /// The fix attached to this error, if any.
    pub fn fix(&self) -> Option<Fix> {
        match self {
            Error::WithFix { fix, .. } => Some(*fix),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `Ok(())` when `ok`, else a config error with `msg`'s message (range checks of settings).
pub fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Config(msg()))
    }
}

/// `x` is positive and finite.
pub fn finite_pos(x: f64) -> bool {
    x > 0.0 && x.is_finite()
}

/// `x` is non-negative and finite.
pub fn finite_nonneg(x: f64) -> bool {
    x >= 0.0 && x.is_finite()
}

/// A number as a message shows it: short whatever its size (`1e308`, not 309 digits).
pub fn shown(x: f64) -> String {
    let a = x.abs();
    if x.is_finite() && x != 0.0 && !(1e-4..1e6).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}
