//! Several training processes: `textgan train --nproc-per-node N` starts N local workers with
//! torchrun's variables; a worker (started so, or by torchrun, SLURM or a Kubernetes PyTorch
//! job) joins the job's c10d group, checks that every rank runs the same code and config, and
//! lets rank 0 alone write the run directory.
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use textgan::dist::{Backend, DistEnv, ProcessGroup, JOB_DIR};

/// How long a rank waits for the others to join, and for any collective.
fn timeout() -> Duration {
    let secs = std::env::var("TEXTGAN_DIST_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(300.0);
    Duration::from_secs_f64(secs)
}

/// The job's own folder under the system's temporary directory (the ranks' scratch copies
/// and error lines), removed when the launcher ends however the ranks ended.
struct JobDir(PathBuf);

impl Drop for JobDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Processes a core (or GPU) at most, even with `--oversubscribe`.
const OVERSUBSCRIBE_MAX: usize = 8;

/// How many processes this machine runs side by side without oversubscribing: its cores, or
/// its GPUs for NCCL (one a process).
pub fn check_bound(n: usize, nccl: bool, oversubscribe: bool) -> Result<()> {
    let (have, what) = match nccl {
        true => (tch::Cuda::device_count().max(0) as usize, "CUDA GPUs"),
        false => (
            std::thread::available_parallelism().map_or(1, |c| c.get()),
            "CPU cores",
        ),
    };
    if n > have && !oversubscribe {
        bail!("--nproc-per-node {n}: more processes than this machine's {have} {what}; pass --oversubscribe to start them anyway");
    }
    // Even when asked: each rank holds a whole model and a libtorch, and thousands of them
    // exhaust the memory before the group could form.
    let most = OVERSUBSCRIBE_MAX * have.max(1);
    if n > most {
        bail!("--nproc-per-node {n}: more than {OVERSUBSCRIBE_MAX} processes for each of this machine's {have} {what} ({most}), even with --oversubscribe");
    }
    Ok(())
}

/// Starts `n` copies of this command as ranks 0..n of one job on this machine (loopback, a free
/// port), and waits for them. SIGINT and SIGTERM are passed on to every rank (which stop
/// together after the step, with a checkpoint); the ranks run in their own process group, so a
/// terminal's Ctrl-C reaches them once, through here, and they get SIGTERM if the launcher
/// dies. When one fails, the others fail at their next collective; any still running `timeout`
/// later are killed. The error names the rank that failed first and says why, in one line.
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
    let job = JobDir(std::env::temp_dir().join(format!("textgan-job-{}", std::process::id())));
    std::fs::create_dir_all(&job.0).with_context(|| format!("creating {}", job.0.display()))?;
    let pids = Arc::new(Mutex::new(Vec::<i32>::new()));
    let forwarder = forward_signals(Arc::clone(&pids))?;
    let mut children: Vec<(usize, Child)> = Vec::with_capacity(n);
    for rank in 0..n {
        let mut cmd = Command::new(&exe);
        cmd.args(&args)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", n.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env("OMP_NUM_THREADS", &threads)
            .env(JOB_DIR, &job.0)
            .process_group(0);
        let parent = std::process::id() as i32;
        // SAFETY: prctl, getppid and raise are async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    libc::raise(libc::SIGTERM);
                }
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(c) => {
                pids.lock().expect("pids").push(c.id() as i32);
                children.push((rank, c));
            }
            Err(e) => {
                // None of the started ranks is left behind.
                for (_, c) in &mut children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                forwarder.close();
                return Err(e).with_context(|| format!("starting rank {rank} of {n}"));
            }
        }
    }
    let failed = wait_all(children);
    forwarder.close();
    match failed {
        Some((rank, status)) => bail!("{}", first_cause(&job.0, n, (rank, &status))),
        None => Ok(()),
    }
}

/// Passes SIGINT and SIGTERM on to the ranks, for as long as the returned handle is open.
fn forward_signals(pids: Arc<Mutex<Vec<i32>>>) -> Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            for &pid in pids.lock().expect("pids").iter() {
                // SAFETY: kill has no memory effects; a rank already gone gives ESRCH.
                unsafe { libc::kill(pid, sig) };
            }
        }
    });
    Ok(handle)
}

/// Waits for every rank; the first that failed and how, if one did.
fn wait_all(mut children: Vec<(usize, Child)>) -> Option<(usize, String)> {
    let mut failed: Option<(usize, String, Instant, bool)> = None;
    while !children.is_empty() {
        let tick = Instant::now();
        let mut still = Vec::new();
        for (rank, mut c) in children {
            match c.try_wait() {
                Ok(Some(status)) if !status.success() => {
                    // Within one look, a rank ended by a signal (killed, crashed) is the cause
                    // and one that exited with an error (its collective failed) the effect.
                    use std::os::unix::process::ExitStatusExt;
                    let cause = status.signal().is_some();
                    match &failed {
                        Some((_, _, at, was_cause)) if *at < tick || *was_cause || !cause => {}
                        _ => failed = Some((rank, status.to_string(), tick, cause)),
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => still.push((rank, c)),
                Err(e) => {
                    failed.get_or_insert((rank, e.to_string(), tick, true));
                    let _ = c.kill();
                    let _ = c.wait();
                }
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
    failed.map(|(rank, status, _, _)| (rank, status))
}

/// The one line that says why the job failed: a rank's own error (not a collective that
/// failed because another rank had gone) where one wrote one, else the first rank to fail.
fn first_cause(job: &Path, n: usize, (rank, status): (usize, &str)) -> String {
    let said = |r: usize| std::fs::read_to_string(job.join(format!("rank-{r}.err"))).ok();
    let mut effect = None;
    for r in 0..n {
        let Some(text) = said(r) else { continue };
        match text.split_once('\n') {
            Some(("cause", msg)) => return format!("rank {r} of {n}: {}", msg.trim_end()),
            Some((_, msg)) if r == rank => effect = Some(msg.trim_end().to_string()),
            _ => {}
        }
    }
    match effect {
        Some(msg) => format!("rank {rank} of {n}: {msg}"),
        None => format!("rank {rank} of {n} failed ({status}); the job stopped"),
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
    // Under the launcher, inside its job folder, which it removes even when this rank is
    // killed with -9; elsewhere (torchrun, SLURM), folders that dead ranks left go first.
    let dir = match std::env::var_os(JOB_DIR) {
        Some(job) => Path::new(&job).join(format!("rank{rank}")),
        None => {
            remove_dead_scratch();
            std::env::temp_dir().join(format!("textgan-rank{rank}-{}", std::process::id()))
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(src) = resume {
        copy_dir(src, &dir)
            .with_context(|| format!("copying {} for rank {rank}", src.display()))?;
    }
    Ok(dir)
}

/// Removes the scratch folders (`textgan-rankR-PID`) of ranks whose process is gone.
fn remove_dead_scratch() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("textgan-rank"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
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
            match g.all_reduce_sum(&mut t) {
                Ok(()) => t.double_value(&[0]) > 0.0,
                Err(e) => {
                    // The run loop ends the run with this error after its check.
                    textgan::dist::fail(&e);
                    mine
                }
            }
        })
        .unwrap_or(mine)
    }
}
