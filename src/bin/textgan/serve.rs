//! `textgan serve`: trained runs behind a JSON API (OpenAI-style completions included) and a
//! web page.
use crate::report::run_names;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use textgan::serve::classify::ClassifierHandle;
use textgan::serve::http::{router, shutdown_signal, App, Metrics};
use textgan::serve::{Limits, RunHandle, WorkerConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Run directory to serve (repeat for several; the first is the default run).
    #[arg(
        long = "run",
        value_name = "DIR",
        required_unless_present = "classifiers"
    )]
    runs: Vec<PathBuf>,
    /// A classifier run (`textgan classify train`) answering POST /v1/classify (repeatable).
    #[arg(long = "classifier", value_name = "DIR")]
    classifiers: Vec<PathBuf>,
    /// A `textgan sweep` output directory whose quality-diversity plot the page shows (repeatable).
    #[arg(long = "sweep", value_name = "DIR")]
    sweeps: Vec<PathBuf>,
    /// Address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Texts gathered into one batched forward pass at most (1: every request alone).
    #[arg(long, default_value_t = 256)]
    max_batch: usize,
    /// How long a request waits for others to share its batch, in milliseconds.
    #[arg(long, default_value_t = 5)]
    max_wait_ms: u64,
    /// Texts per request at most (n, or texts to score).
    #[arg(long, default_value_t = 64)]
    max_n: usize,
    /// Requests queued per run at most; more are answered 503.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Request body size limit in KiB.
    #[arg(long, default_value_t = 64)]
    max_body_kb: usize,
    /// A request (reading it, waiting, generating) is answered 408 after this many seconds; a
    /// connection whose request headers have not all arrived by then is closed.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Loads each run on its own thread.
fn load(
    dirs: &[PathBuf],
    device: tch::Device,
    cfg: WorkerConfig,
    metrics: &Arc<Metrics>,
) -> Result<Vec<RunHandle>> {
    let names = run_names(dirs);
    let mut runs = Vec::new();
    for (dir, name) in dirs.iter().zip(names) {
        if !dir.is_dir() {
            bail!("--run {}: not a run directory", dir.display());
        }
        let m = metrics.clone();
        let on_batch = Arc::new(move |n: usize| m.batch.observe(n as f64));
        let run = RunHandle::spawn(&name, dir, device, cfg, on_batch)
            .with_context(|| format!("loading run {}", dir.display()))?;
        eprintln!(
            "loaded {name}: {}{}, {} tokens{}",
            run.info.generator,
            run.info
                .algorithm
                .as_deref()
                .map_or(String::new(), |a| format!(" + {a}")),
            run.info.vocab_size,
            if run.info.discriminator {
                ", with its discriminator"
            } else {
                ""
            }
        );
        runs.push(run);
    }
    Ok(runs)
}

/// Loads each classifier run.
fn load_classifiers(dirs: &[PathBuf], device: tch::Device) -> Result<Vec<ClassifierHandle>> {
    let mut out = Vec::new();
    for (dir, name) in dirs.iter().zip(run_names(dirs)) {
        let c = textgan::classify::Classifier::load(dir, device)
            .with_context(|| format!("--classifier {}", dir.display()))?;
        eprintln!("loaded classifier {name}: {} classes", c.spec.labels.len());
        out.push(ClassifierHandle {
            name,
            model: Arc::new(std::sync::Mutex::new(c)),
        });
    }
    Ok(out)
}

pub fn run(a: ServeArgs) -> Result<()> {
    for (flag, v) in [
        ("--max-batch", a.max_batch),
        ("--max-n", a.max_n),
        ("--queue", a.queue),
        ("--max-body-kb", a.max_body_kb),
        ("--timeout-s", a.timeout_s as usize),
    ] {
        if v == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    let device = textgan::device::resolve(&a.device)?;
    let metrics = Arc::new(Metrics::default());
    let cfg = WorkerConfig {
        max_batch: a.max_batch,
        max_wait: Duration::from_millis(a.max_wait_ms),
        queue: a.queue,
    };
    let runs = load(&a.runs, device, cfg, &metrics)?;
    let classifiers = load_classifiers(&a.classifiers, device)?;
    for s in &a.sweeps {
        if textgan::serve::sweep_plot(s).is_none() {
            bail!(
                "--sweep {}: no quality_diversity.svg or beam_sweep.svg (is it a `textgan sweep` output directory?)",
                s.display()
            );
        }
    }
    let sweeps = run_names(&a.sweeps)
        .into_iter()
        .zip(a.sweeps.iter().cloned())
        .collect();
    let app = Arc::new(App {
        runs,
        classifiers,
        sweeps,
        limits: Limits {
            max_n: a.max_n,
            max_texts: a.max_n,
            ..Limits::default()
        },
        metrics,
        started: Instant::now(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr.as_str())
            .await
            .with_context(|| {
                format!(
                    "--addr {}: cannot listen there (HOST:PORT such as 127.0.0.1:8080)",
                    a.addr
                )
            })?;
        let local = listener.local_addr()?;
        // The first line on standard output is the address (tests and scripts read it).
        println!("listening on http://{local}/");
        eprintln!(
            "serving {} run(s) and {} classifier(s) at http://{local}/ (Ctrl-C to stop)",
            app.runs.len(),
            app.classifiers.len()
        );
        let routes = router(app, a.max_body_kb * 1024, Duration::from_secs(a.timeout_s));
        let timeout = Duration::from_secs(a.timeout_s);
        serve_until_signal(listener, routes, timeout + Duration::from_secs(1), timeout).await
    })
}

/// Serves until SIGINT or SIGTERM. Requests in flight then have `grace` to finish;
/// connections still open after that (a client that stalled mid-request) are closed, so the
/// shutdown is bounded. A request's headers must arrive within `header_timeout` (hyper's
/// header read timeout; the body is bounded by the router's timeout), so a client that never
/// finishes them does not hold a connection forever.
async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    routes: axum::Router,
    grace: Duration,
    header_timeout: Duration,
) -> Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let (tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // Each connection holds a receiver; all are dropped when every connection has closed.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut signalled = stop.clone();
    loop {
        let stream = tokio::select! {
            c = listener.accept() => match c {
                Ok((stream, _)) => stream,
                // Out of descriptors and the like: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = signalled.wait_for(|s| *s) => break,
        };
        let service = TowerToHyperService::new(routes.clone());
        let (builder, mut stop, open) = (builder.clone(), stop.clone(), open_rx.clone());
        tokio::spawn(async move {
            // A client that sends nothing at all (hyper's header timer starts with the first
            // byte) is dropped after the same time.
            let mut first = [0u8; 1];
            if tokio::time::timeout(header_timeout, stream.peek(&mut first))
                .await
                .is_err()
            {
                return;
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = stop.wait_for(|s| *s), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(open);
        });
    }
    drop(open_rx);
    drop(listener);
    tokio::select! {
        _ = open_tx.closed() => eprintln!("stopped: in-flight requests answered"),
        _ = tokio::time::sleep(grace) => eprintln!(
            "stopped: connections still open {} s after the signal were closed",
            grace.as_secs()
        ),
    }
    Ok(())
}
