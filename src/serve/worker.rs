//! One thread per served run, owning its [`Engine`], with dynamic batching: requests that
//! arrive within `max_wait` of the first, up to `max_batch` texts, are answered together, and
//! draws with the same settings share one forward pass.
use crate::error::{Error, Result};
use crate::infer::{Draw, Scoring};
use crate::infer::{Engine, Prepared, Text};
use serde::Serialize;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tch::Device;
use tokio::sync::oneshot;

/// Why a request got no texts: a status (4xx: the request; 5xx: the server) and a message.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub message: String,
}

impl Failure {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

pub type Reply = oneshot::Sender<std::result::Result<Vec<Text>, Failure>>;

/// Work for a run's thread.
pub enum Job {
    Generate(Draw, Reply),
    Score(Scoring, Reply),
}

impl Job {
    fn rows(&self) -> usize {
        match self {
            Job::Generate(d, _) => d.n,
            Job::Score(s, _) => s.texts.len(),
        }
    }
}

/// How a worker batches.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// Texts gathered into one batch at most (1: every request alone).
    pub max_batch: usize,
    /// How long the first request of a batch waits for others.
    pub max_wait: Duration,
    /// Requests queued at most; more are refused (503) rather than held.
    pub queue: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_batch: 256,
            max_wait: Duration::from_millis(5),
            queue: 1024,
        }
    }
}

/// What a served run is, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub name: String,
    pub generator: String,
    /// The adversarial algorithm of its config (`None`: MLE only).
    pub algorithm: Option<String>,
    /// MLE steps of its checkpoint.
    pub step: usize,
    /// Adversarial steps of its checkpoint.
    pub adv_step: usize,
    /// Optimizer steps of both phases together.
    pub steps: usize,
    /// Whether its checkpoint holds a discriminator (it was trained adversarially).
    pub discriminator: bool,
    /// Whether that discriminator scores each token itself (else each prefix is scored).
    pub d_per_token: bool,
    pub labels: Vec<String>,
    /// Trained on pairs: every draw needs a source.
    pub parallel: bool,
    /// Most tokens in a text (`<eos>` included).
    pub max_tokens: usize,
    pub vocab_size: usize,
    #[serde(skip)]
    pub config: serde_json::Value,
}

/// A run being served: its name, directory, description and its thread's queue.
pub struct RunHandle {
    pub name: String,
    pub dir: PathBuf,
    pub info: RunInfo,
    tx: SyncSender<Job>,
}

impl RunHandle {
    /// Starts the run's thread, which loads it; returns once it is loaded (or failed to).
    /// `on_batch` hears the texts in each forward pass.
    pub fn spawn(
        name: &str,
        dir: &Path,
        device: Device,
        cfg: WorkerConfig,
        on_batch: Arc<dyn Fn(usize) + Send + Sync>,
    ) -> Result<Self> {
        let (tx, rx) = sync_channel::<Job>(cfg.queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (owned_dir, owned_name) = (dir.to_path_buf(), name.to_string());
        std::thread::Builder::new()
            .name(format!("run-{name}"))
            .spawn(move || {
                let engine = match Engine::load(&owned_dir, device) {
                    Ok(e) => e,
                    Err(e) => return drop(ready_tx.send(Err(e))),
                };
                let _ = ready_tx.send(Ok(info(&owned_name, &engine)));
                serve_jobs(&engine, &rx, cfg, on_batch.as_ref());
            })
            .map_err(|e| Error::io(dir, e))?;
        let info = ready_rx.recv().map_err(|_| {
            Error::Config(format!("run `{name}`: its thread ended while loading"))
        })??;
        Ok(RunHandle {
            name: name.into(),
            dir: dir.into(),
            info,
            tx,
        })
    }

    /// Queues a job; `false` when the queue is full (the caller answers 503) or the thread
    /// has stopped.
    pub fn submit(&self, job: Job) -> bool {
        self.tx.try_send(job).is_ok()
    }
}

fn info(name: &str, e: &Engine) -> RunInfo {
    let cfg = &e.gen.config;
    let config = serde_json::to_value(cfg).unwrap_or_default();
    RunInfo {
        name: name.into(),
        generator: config["generator"]["kind"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
        algorithm: cfg.gan.algorithm.map(String::from),
        step: e.gen.step,
        adv_step: e.gen.adv_step,
        steps: e.gen.step + e.gen.adv_step,
        discriminator: e.has_discriminator(),
        d_per_token: e.has_discriminator() && e.d_per_token(),
        labels: e.gen.vocab.labels.clone(),
        parallel: cfg.data.is_parallel(),
        max_tokens: e.max_tokens(),
        vocab_size: e.gen.vocab.len(),
        config,
    }
}

/// The thread's loop: gather a batch, answer it; ends when every sender is gone.
fn serve_jobs(engine: &Engine, rx: &Receiver<Job>, cfg: WorkerConfig, on_batch: &dyn Fn(usize)) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + cfg.max_wait;
        while jobs.iter().map(Job::rows).sum::<usize>() < cfg.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(j) => jobs.push(j),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        answer(engine, jobs, on_batch);
    }
}

/// Runs `f`, turning a panic into a 500 (the thread lives on for the next batch).
fn guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown".into());
        Failure::new(500, format!("internal error: {msg}"))
    })
}

/// A request the run cannot answer as asked, in the words of the check that refused it (the
/// library's `data:` or `config:` prefix means nothing to a client).
fn bad(e: Error) -> Failure {
    let msg = match e {
        Error::Request(m) | Error::Data(m) | Error::Config(m) => m,
        other => other.to_string(),
    };
    Failure::new(400, msg)
}

/// Answers a batch: draws grouped by their settings, one forward pass a group; scores one
/// request a pass. Requests whose client has gone are dropped unanswered.
fn answer(engine: &Engine, jobs: Vec<Job>, on_batch: &dyn Fn(usize)) {
    let mut groups: BTreeMap<String, Vec<(Prepared, Reply)>> = BTreeMap::new();
    for (i, job) in jobs.into_iter().enumerate() {
        match job {
            Job::Generate(_, reply) | Job::Score(_, reply) if reply.is_closed() => {}
            // A guided draw (reranked, energy-sampled) is answered alone.
            Job::Generate(draw, reply) if draw.guide.is_some() => {
                on_batch(draw.n * draw.guide.map_or(1, |g| g.pool()));
                let r = guarded(|| draw.guided(engine).expect("the draw has a guide"));
                let _ = reply.send(r.and_then(|r| r.map_err(bad)));
            }
            Job::Generate(draw, reply) => {
                let seeded = draw.seed.is_some();
                match guarded(|| engine.prepare(draw)) {
                    Ok(Ok(p)) => {
                        // A seeded draw is drawn alone, so its seed alone decides it.
                        let key = match seeded {
                            true => format!("{i}|{}", p.key()),
                            false => p.key(),
                        };
                        groups.entry(key).or_default().push((p, reply));
                    }
                    Ok(Err(e)) => drop(reply.send(Err(bad(e)))),
                    Err(f) => drop(reply.send(Err(f))),
                }
            }
            Job::Score(s, reply) => {
                on_batch(s.texts.len());
                let r = guarded(|| engine.score(&s)).and_then(|r| r.map_err(bad));
                let _ = reply.send(r);
            }
        }
    }
    for (_, group) in groups {
        let prepared: Vec<&Prepared> = group.iter().map(|g| &g.0).collect();
        on_batch(prepared.iter().map(|p| p.draw.n).sum());
        match guarded(|| engine.generate(&prepared)) {
            Ok(texts) => {
                for ((_, reply), t) in group.into_iter().zip(texts) {
                    let _ = reply.send(Ok(t));
                }
            }
            Err(f) => {
                for (_, reply) in group {
                    let _ = reply.send(Err(f.clone()));
                }
            }
        }
    }
}
