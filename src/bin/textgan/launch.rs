//! Several training processes: `textgan train --nproc-per-node N` starts N local workers with
//! torchrun's variables; a worker (started so, or by torchrun, SLURM or a Kubernetes PyTorch
//! job) joins the job's c10d group, checks that every rank runs the same code and config, and
//! lets rank 0 alone write the run directory.
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use textgan::dist::{Backend, DistEnv, ProcessGroup};

/// How long a rank waits for the others to join, and for any collective.
fn timeout() -> Duration {
    let secs = std::env::var("TEXTGAN_DIST_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(300.0);
    Duration::from_secs_f64(secs)
}

/// Starts `n` copies of this command as ranks 0..n of one job on this machine (loopback, a free
/// port), and waits for them. When one fails, the others fail at their next collective; any
/// still running `timeout` later are killed. Errors name the first rank that failed.
pub fn launch(n: usize) -> Result<()> {
    let args = without_nproc(std::env::args_os().skip(1).collect());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe()?;
    // The cores shared out, as torchrun does (it sets 1) unless OMP_NUM_THREADS is given:
    // n processes of all cores each would fight over them.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads =
        std::env::var("OMP_NUM_THREADS").unwrap_or_else(|_| (cores / n).max(1).to_string());
    let mut children: Vec<(usize, Child)> = (0..n)
        .map(|rank| {
            Command::new(&exe)
                .args(&args)
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("WORLD_SIZE", n.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .env("OMP_NUM_THREADS", &threads)
                .spawn()
                .map(|c| (rank, c))
                .with_context(|| format!("starting rank {rank}"))
        })
        .collect::<Result<_>>()?;
    let mut failed: Option<(usize, String, Instant, bool)> = None;
    while !children.is_empty() {
        let tick = Instant::now();
        let mut still = Vec::new();
        for (rank, mut c) in children {
            match c.try_wait()? {
                Some(status) if !status.success() => {
                    // Within one look, a rank ended by a signal (killed, crashed) is the cause
                    // and one that exited with an error (its collective failed) the effect.
                    use std::os::unix::process::ExitStatusExt;
                    let cause = status.signal().is_some();
                    match &failed {
                        Some((_, _, at, was_cause)) if *at < tick || *was_cause || !cause => {}
                        _ => failed = Some((rank, status.to_string(), tick, cause)),
                    }
                }
                Some(_) => {}
                None => still.push((rank, c)),
            }
        }
        children = still;
        if let Some((_, _, at, _)) = &failed {
            if at.elapsed() > timeout() {
                for (_, c) in &mut children {
                    let _ = c.kill();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    match failed {
        Some((rank, status, _, _)) => {
            bail!("rank {rank} of {n} failed ({status}); the job stopped")
        }
        None => Ok(()),
    }
}

/// The arguments without `--nproc-per-node N` / `--nproc-per-node=N`.
fn without_nproc(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        match a.to_str() {
            Some("--nproc-per-node") => skip = true,
            Some(s) if s.starts_with("--nproc-per-node=") => {}
            _ => out.push(a),
        }
    }
    out
}

/// This process's place in a job, when the environment puts it in one: the group is formed
/// and installed, so every optimizer step from here on is averaged over the ranks.
pub fn join(backend: Backend) -> Result<Option<(usize, usize)>> {
    let Some(env) = DistEnv::from_env()? else {
        return Ok(None);
    };
    let g = ProcessGroup::init_with(&env, timeout(), backend)?;
    textgan::dist::install(g)?;
    // The metrics' thread pool takes the share of the cores torch's threads take (the
    // launchers set OMP_NUM_THREADS: 1 under torchrun, cores / N under ours), not all of them.
    let share = std::env::var("OMP_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok());
    if let (Some(n), None) = (share, std::env::var_os("RAYON_NUM_THREADS")) {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(Some((env.rank, env.world)))
}

/// Refuses to go on unless every rank runs the same build with the same resolved config: each
/// rank's SHA-256 of both, gathered and compared.
pub fn agree(config: &str) -> Result<()> {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(
        std::env::current_exe()
            .ok()
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default(),
    );
    h.update(config.as_bytes());
    let digest = h.finalize();
    let words: Vec<i64> = digest
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as i64)
        .collect();
    let mine = tch::Tensor::from_slice(&words);
    let all = textgan::dist::with_group(|g| g.all_gather(&mine)).expect("joined")?;
    let rows = all.size()[0];
    for r in 1..rows {
        if !all.get(r).equal(&all.get(0)) {
            bail!("rank {r} runs a different textgan build or config than rank 0; every rank must run the same binary with the same settings");
        }
    }
    Ok(())
}

/// Where a rank other than 0 keeps its own copy of the run (rank 0 alone writes the real
/// one): a fresh folder under the system's temporary directory, holding a copy of `resume`'s
/// run when resuming.
pub fn scratch(rank: usize, resume: Option<&Path>) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("textgan-rank{rank}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(src) = resume {
        copy_dir(src, &dir)
            .with_context(|| format!("copying {} for rank {rank}", src.display()))?;
    }
    Ok(dir)
}

/// Removes a rank's scratch copy when the run ends, however it ends (a panic or a kill aside).
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else {
            std::fs::copy(e.path(), to)?;
        }
    }
    Ok(())
}

/// A rank's hooks: rank 0 shows progress through `inner`, the others stay quiet; and a stop
/// (a signal to any rank) is agreed on by all, so every rank ends at the same step.
pub struct RankHooks<H> {
    pub inner: H,
    pub show: bool,
}

impl<H: textgan::train::Hooks> textgan::train::Hooks for RankHooks<H> {
    fn on_start(&mut self, step: usize, total: usize) {
        if self.show {
            self.inner.on_start(step, total)
        }
    }
    fn on_step(&mut self, step: usize, loss: f64, lr: f64) {
        if self.show {
            self.inner.on_step(step, loss, lr)
        }
    }
    fn on_eval(&mut self, m: &textgan::train::Metrics) {
        if self.show {
            self.inner.on_eval(m)
        }
    }
    fn on_message(&mut self, msg: &str) {
        if self.show {
            self.inner.on_message(msg)
        }
    }
    fn should_stop(&self) -> bool {
        let mine = self.inner.should_stop();
        textgan::dist::with_group(|g| {
            let mut t = tch::Tensor::from_slice(&[mine as i32 as f32]);
            g.all_reduce_sum(&mut t)
                .map(|_| t.double_value(&[0]) > 0.0)
                .unwrap_or_else(|e| textgan::dist::fail(&e))
        })
        .unwrap_or(mine)
    }
}
