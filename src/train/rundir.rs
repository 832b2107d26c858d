//! A run directory on disk and its promises: the resolved config, the vocabulary, `run.json`
//! (the run's id), `train.log`, `metrics.jsonl`, `samples/`, `plots/` and the checkpoint.
//!
//! - A new run needs an empty (or absent) directory.
//! - Metrics, samples and plots never run ahead of the checkpoint: they are written before it
//!   at each evaluation, and a resumed run first drops what lies past its checkpoint (a kill
//!   between the two).
//! - A resumed run's checkpoint must carry the directory's id (a checkpoint copied from
//!   another run is refused).
//! - Temporary files of interrupted atomic writes are removed when the run reopens.
use super::metrics::Metrics;
use crate::checkpoint::{self, Phase, Progress};
use crate::config::RunConfig;
use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::fsutil::{remove_stale_temps, write_atomic};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::Tensor;

const RUN_FILE: &str = "run.json";
const METRICS: &str = "metrics.jsonl";

/// `run.json`: who the directory belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunFile {
    id: String,
    /// The textgan version that created the run.
    textgan: String,
}

pub struct RunDir {
    path: PathBuf,
    log: std::fs::File,
    /// The run's id, shared by `run.json` and every checkpoint.
    pub id: String,
}

impl RunDir {
    /// Refuses a directory that exists and is not empty (checked before any work).
    pub fn check_new(path: &Path) -> Result<()> {
        if path.join(checkpoint::FILE).exists() {
            return Err(Error::Config(format!(
                "{} already holds a run: continue it, or choose another directory",
                path.display()
            ))
            .with_fix(crate::error::Fix::Resume));
        }
        match crate::fsutil::holds_files(path) {
            Ok(true) => Err(Error::Config(format!(
                "{} exists and is not empty; a new run needs an empty or new directory",
                path.display()
            ))),
            Ok(false) => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Creates a new run's directory with its config, vocabulary and id.
    pub fn create(path: &Path, cfg: &RunConfig, vocab: &Vocab) -> Result<Self> {
        Self::check_new(path)?;
        std::fs::create_dir_all(path.join("samples")).map_err(|e| Error::io(path, e))?;
        let id = new_id();
        let run = RunFile {
            id: id.clone(),
            textgan: env!("CARGO_PKG_VERSION").into(),
        };
        write_atomic(
            &path.join(RUN_FILE),
            serde_json::to_string_pretty(&run)
                .expect("serializes")
                .as_bytes(),
        )?;
        write_atomic(&path.join("config.toml"), cfg.to_toml().as_bytes())?;
        let vocab_json = serde_json::to_string_pretty(vocab).expect("vocab serializes");
        write_atomic(&path.join("vocab.json"), vocab_json.as_bytes())?;
        if let Some(sw) = &vocab.subword {
            // The tokenizer as Hugging Face's `tokenizers` reads it.
            write_atomic(&path.join("tokenizer.json"), sw.json().as_bytes())?;
        }
        Self::open_log(path, id)
    }

    /// Reopens a run's directory for `--resume`: removes stale temporary files and checks that
    /// the checkpoint (`progress`) belongs to this directory's run. A format-1 checkpoint,
    /// written before runs had ids, gets the directory's id (a new one when it has none).
    pub fn reopen(path: &Path, progress: &mut Progress) -> Result<Self> {
        for dir in [path.to_path_buf(), path.join("samples"), path.join("plots")] {
            remove_stale_temps(&dir)?;
        }
        let file = path.join(RUN_FILE);
        let on_disk: Option<RunFile> =
            match std::fs::read_to_string(&file) {
                Ok(text) => Some(serde_json::from_str(&text).map_err(|e| {
                    Error::Config(format!("{}: not a run file ({e})", file.display()))
                })?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(&file, e)),
            };
        let id = match (&progress.run_id, on_disk) {
            (Some(ck), Some(dir)) if *ck == dir.id => dir.id,
            (Some(ck), Some(dir)) => {
                return Err(Error::Config(format!(
                    "{}: the checkpoint belongs to run {ck}, the directory to run {}; a checkpoint copied from another run cannot continue here",
                    path.display(),
                    dir.id
                ))
                .with_fix(crate::error::Fix::StartFromGenerator))
            }
            (Some(ck), None) => {
                return Err(Error::Config(format!(
                    "{}: the checkpoint belongs to run {ck} but the directory has no {RUN_FILE}; it was copied from another run (a new run can start from its generator)",
                    path.display()
                ))
                .with_fix(crate::error::Fix::StartFromGenerator))
            }
            (None, dir) => {
                let id = dir.map_or_else(new_id, |d| d.id);
                let run = RunFile {
                    id: id.clone(),
                    textgan: env!("CARGO_PKG_VERSION").into(),
                };
                write_atomic(
                    &file,
                    serde_json::to_string_pretty(&run).expect("serializes").as_bytes(),
                )?;
                id
            }
        };
        progress.run_id = Some(id.clone());
        std::fs::create_dir_all(path.join("samples")).map_err(|e| Error::io(path, e))?;
        Self::open_log(path, id)
    }

    fn open_log(path: &Path, id: String) -> Result<Self> {
        let log_path = path.join("train.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, e))?;
        Ok(RunDir {
            path: path.to_path_buf(),
            log,
            id,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A line in `train.log`.
    pub fn log(&mut self, msg: &str) {
        let _ = writeln!(self.log, "{msg}");
    }

    pub fn write_config(&self, cfg: &RunConfig) -> Result<()> {
        write_atomic(&self.path.join("config.toml"), cfg.to_toml().as_bytes())
    }

    /// Writes an evaluation's samples (`name` relative to the directory).
    pub fn write_samples(&self, name: &str, text: &str, steps: usize) -> Result<()> {
        write_atomic(&self.path.join(name), text.as_bytes())?;
        test_kill("after-samples", steps);
        Ok(())
    }

    /// Appends one record to `metrics.jsonl` and redraws the plots from the whole file.
    pub fn append_metrics(&self, m: &Metrics, steps: usize) -> Result<()> {
        let path = self.path.join(METRICS);
        let line = serde_json::to_string(m).expect("metrics serialize") + "\n";
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.write_all(line.as_bytes())
            .map_err(|e| Error::io(&path, e))?;
        self.plot()?;
        test_kill("after-metrics", steps);
        Ok(())
    }

    /// The records of `metrics.jsonl` (unreadable lines skipped).
    pub fn records(&self) -> Vec<Metrics> {
        crate::record::read_records(&self.path.join(METRICS))
    }

    /// The last record, when it reads as one.
    pub fn last_metrics(&self) -> Option<Metrics> {
        self.records().pop()
    }

    /// Drops the records and sample files that lie past `progress` (written before a kill
    /// that came before their checkpoint); returns how many records went.
    pub fn truncate_past(&self, progress: &Progress) -> Result<usize> {
        let path = self.path.join(METRICS);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let (mut kept, mut dropped) = (String::new(), 0);
        for line in text.lines() {
            let keep = match serde_json::from_str::<Metrics>(line) {
                Ok(m) => progress.covers(m.phase, m.step, m.adv_step.unwrap_or(0)),
                Err(_) => false,
            };
            if keep {
                kept.push_str(line);
                kept.push('\n');
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            write_atomic(&path, kept.as_bytes())?;
            self.plot()?;
        }
        let samples = self.path.join("samples");
        if let Ok(entries) = std::fs::read_dir(&samples) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let past = sample_file_position(&name).is_some_and(|(phase, n)| match phase {
                    Phase::Mle => !progress.covers(phase, n, 0),
                    Phase::Adv => !progress.covers(phase, 0, n),
                });
                if past {
                    std::fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
                }
            }
        }
        Ok(dropped)
    }

    /// Redraws `plots/*.{svg,png}` from the whole of `metrics.jsonl`.
    pub fn plot(&self) -> Result<()> {
        let records = self.records();
        let dir = self.path.join("plots");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (stem, svg) in crate::eval::plot::training_curves(&records) {
            crate::eval::plot::save(&svg, &dir.join(stem))?;
        }
        Ok(())
    }

    /// Writes the checkpoint atomically.
    pub fn save_checkpoint(
        &self,
        cfg: &RunConfig,
        vocab: &Vocab,
        progress: &Progress,
        tensors: &[(String, Tensor)],
    ) -> Result<()> {
        let path = self.path.join(checkpoint::FILE);
        if test_kill_due("in-checkpoint", progress.steps()) {
            let bytes = checkpoint::serialize(&path, cfg, vocab, progress, tensors)?;
            let _ = std::fs::write(crate::fsutil::temp_path(&path), &bytes[..bytes.len() / 2]);
            kill_self();
        }
        checkpoint::save(&path, cfg, vocab, progress, tensors)
    }
}

/// The phase and step of `samples/step-NNNNNNN.txt` or `samples/adv-NNNNNNN.txt`.
fn sample_file_position(name: &str) -> Option<(Phase, usize)> {
    let stem = name.strip_suffix(".txt")?;
    let (phase, n) = match stem.split_once('-')? {
        ("step", n) => (Phase::Mle, n),
        ("adv", n) => (Phase::Adv, n),
        _ => return None,
    };
    Some((phase, n.parse().ok()?))
}

/// A fresh run id: 16 hex digits from the OS's random source and the clock.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{:016x}", rand::random::<u64>() ^ nanos.rotate_left(17))
}

/// The test hook `TEXTGAN_TEST_KILL=POINT:STEPS`: whether to die at `point` after `steps`
/// optimizer steps (MLE and adversarial together).
fn test_kill_due(point: &str, steps: usize) -> bool {
    cfg!(feature = "test-hooks")
        && std::env::var("TEXTGAN_TEST_KILL").is_ok_and(|v| v == format!("{point}:{steps}"))
}

/// Dies by SIGKILL at a test hook's point, as a power cut or `kill -9` would.
pub(crate) fn test_kill(point: &str, steps: usize) {
    if test_kill_due(point, steps) {
        kill_self();
    }
}

fn kill_self() {
    // SAFETY: raising a signal on our own process; SIGKILL cannot be caught.
    unsafe {
        libc::raise(libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_files_name_their_position() {
        assert_eq!(
            sample_file_position("step-0000012.txt"),
            Some((Phase::Mle, 12))
        );
        assert_eq!(
            sample_file_position("adv-0000000.txt"),
            Some((Phase::Adv, 0))
        );
        assert_eq!(sample_file_position(".adv-1.txt.tmp"), None);
        assert_eq!(sample_file_position("notes.txt"), None);
    }

    #[test]
    fn a_new_run_needs_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RunDir::check_new(dir.path()).is_ok());
        assert!(RunDir::check_new(&dir.path().join("new")).is_ok());
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let e = RunDir::check_new(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not empty"), "{e}");
    }
}
