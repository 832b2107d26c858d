//! `textgan loadtest`: many concurrent clients against a running `textgan serve`, for the
//! throughput and latency of its batching and the stability of its memory.
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct LoadtestArgs {
    /// The server's address, e.g. http://127.0.0.1:8080
    #[arg(long)]
    url: String,
    /// Concurrent clients (each sends its next request when its last is answered).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Requests in all.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Route to POST to.
    #[arg(long, default_value = "/v1/generate")]
    path: String,
    /// Request body (JSON).
    #[arg(long, default_value = r#"{"n": 1}"#)]
    body: String,
    /// Write the summary (JSON) here as well as to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
}

/// `--out` can take the summary: checked before the load, not after it.
fn check_out(p: &std::path::Path) -> Result<()> {
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
    if p.is_dir() {
        bail!(
            "--out {}: a folder; give a file to write the summary to",
            p.display()
        );
    }
    if parent.is_some_and(|d| !d.is_dir()) {
        bail!("--out {}: its folder does not exist", p.display());
    }
    Ok(())
}

/// The server's resident and peak memory in MiB, from its `/metrics`.
fn server_memory(url: &str) -> Option<(f64, f64)> {
    let text = ureq::get(&format!("{url}/metrics"))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    let get = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map(|b| b / 1048576.0)
    };
    Some((
        get("textgan_process_resident_memory_bytes")?,
        get("textgan_process_peak_resident_memory_bytes")?,
    ))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((p * (n - 1) as f64).round() as usize).min(n - 1)],
    }
}

pub fn run(a: LoadtestArgs) -> Result<()> {
    if a.clients == 0 || a.requests == 0 {
        bail!("--clients and --requests must be at least 1");
    }
    if let Some(p) = &a.out {
        check_out(p)?;
    }
    let body: serde_json::Value = serde_json::from_str(&a.body).context("--body is not JSON")?;
    let url = a.url.trim_end_matches('/').to_string();
    let before =
        server_memory(&url).with_context(|| format!("no textgan server answers at {url}"))?;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .max_idle_connections_per_host(a.clients)
        .build();
    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::with_capacity(a.requests)));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mid = Arc::new(Mutex::new(None));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..a.clients {
            let (agent, next, lat, errors, mid) = (&agent, &next, &lat, &errors, &mid);
            let (url, path, body, total) = (&url, &a.path, &a.body, a.requests);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                if i == total / 2 {
                    *mid.lock().unwrap() = server_memory(url);
                }
                let t = Instant::now();
                let req = agent
                    .post(&format!("{url}{path}"))
                    .set("Content-Type", "application/json");
                match req.send_string(body) {
                    Ok(r) => {
                        let _ = r.into_string();
                        lat.lock().unwrap().push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    Err(e) => errors.lock().unwrap().push(e.to_string()),
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let after = server_memory(&url);
    let mut l = lat.lock().unwrap().clone();
    l.sort_by(f64::total_cmp);
    let errors = errors.lock().unwrap().clone();
    let n_texts = body["n"].as_u64().unwrap_or(1) as f64;
    let summary = json!({
        "url": url, "path": a.path, "body": body, "clients": a.clients,
        "requests": a.requests, "ok": l.len(), "errors": errors.len(),
        "first_error": errors.first(),
        "seconds": secs,
        "requests_per_s": l.len() as f64 / secs,
        "texts_per_s": l.len() as f64 * n_texts / secs,
        "latency_ms": {"p50": percentile(&l, 0.5), "p90": percentile(&l, 0.9), "p99": percentile(&l, 0.99), "max": l.last()},
        "server_rss_mib": {"before": before.0, "middle": mid.lock().unwrap().map(|m| m.0), "after": after.map(|m| m.0)},
        "server_peak_rss_mib": after.map(|m| m.1),
    });
    let text = serde_json::to_string_pretty(&summary)?;
    println!("{text}");
    if let Some(p) = &a.out {
        textgan::fsutil::write_atomic(p, text.as_bytes())?;
    }
    if !errors.is_empty() {
        bail!(
            "{} of {} requests failed (first: {})",
            errors.len(),
            a.requests,
            errors[0]
        );
    }
    Ok(())
}
