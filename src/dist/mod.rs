//! Processes that train together, on torch's own distributed engine: a c10d `TCPStore` for the
//! rendezvous and a Gloo (CPU) or NCCL (CUDA) process group for the collectives
//! (csrc/dist*.cpp), configured from the variables `torchrun` and the cluster launchers set
//! (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`). Collectives are
//! synchronous and take dense tensors; [`ProcessGroup::average_grads`] and [`ProcessGroup::broadcast_all`] flatten many tensors into
//! buckets, as PyTorch's DDP does, so a step costs a few messages rather than one per parameter.
//!
//! A peer that dies or stops answering makes the collective fail with [`Error::Dist`] within the
//! group's timeout instead of hanging.
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

mod group;
mod rows;
pub use group::{available, check_available, Backend, ProcessGroup, BUCKET_BYTES};
pub use rows::{gather_rows, my_rows, shard_range, sum_all, sum_each};

/// Where this process stands in the job, as the launcher's environment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
}

impl DistEnv {
    /// The job from `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT`
    /// (torchrun's contract); `None` when `WORLD_SIZE` is unset or 1 (one process alone).
    pub fn from_env() -> Result<Option<DistEnv>> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`DistEnv::from_env`] over any lookup of the variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<DistEnv>> {
        let num = |k: &str, default: Option<usize>| -> Result<usize> {
            match get(k) {
                Some(v) => v.trim().parse().map_err(|_| {
                    Error::Dist(format!("{k}={v:?} is not a non-negative whole number"))
                }),
                None => default.ok_or_else(|| {
                    Error::Dist(format!(
                        "{k} is not set (WORLD_SIZE is, so the job has several processes)"
                    ))
                }),
            }
        };
        let world = num("WORLD_SIZE", Some(1))?;
        if world <= 1 {
            return Ok(None);
        }
        let rank = num("RANK", None)?;
        if rank >= world {
            return Err(Error::Dist(format!(
                "RANK={rank} is not below WORLD_SIZE={world}"
            )));
        }
        let local_rank = num("LOCAL_RANK", Some(rank))?;
        let master_addr = get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = num("MASTER_PORT", Some(29500))?;
        let master_port = u16::try_from(port)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| Error::Dist(format!("MASTER_PORT={port} is not a TCP port")))?;
        Ok(Some(DistEnv {
            rank,
            world,
            local_rank,
            master_addr,
            master_port,
        }))
    }
}

/// The gradients of `vars` in order; zeros, not written back, for a variable without one.
pub fn grads_of(vars: &[Tensor]) -> Vec<Tensor> {
    vars.iter()
        .map(|v| {
            let g = v.grad();
            if g.defined() {
                g
            } else {
                v.zeros_like()
            }
        })
        .collect()
}

static GROUP: std::sync::OnceLock<std::sync::Mutex<ProcessGroup>> = std::sync::OnceLock::new();

/// Makes `g` the process's group: from now on every optimizer step averages its gradients and
/// loss over the ranks (in the optimizer's one update, `minimize_parts`). Once per process.
pub fn install(g: ProcessGroup) -> Result<()> {
    GROUP
        .set(std::sync::Mutex::new(g))
        .map_err(|_| Error::Dist("a process group is already installed".into()))
}

/// Runs `f` on the installed group, if there is one (and no collective has failed: see
/// [`fail`]).
pub fn with_group<T>(f: impl FnOnce(&ProcessGroup) -> T) -> Option<T> {
    if failure().is_some() {
        return None;
    }
    GROUP
        .get()
        .map(|m| f(&m.lock().unwrap_or_else(|e| e.into_inner())))
}

static FAILED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Records a failed collective: the others are gone or stuck, and no step can be taken in
/// agreement with them. From now on the process acts alone (every later collective is skipped:
/// its own values stand for the sums), and [`check`] returns the error, which the run loop
/// does after each step and evaluation, before anything is recorded; the binary then exits.
pub fn fail(e: &Error) {
    let mut f = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if f.is_none() {
        *f = Some(match e {
            Error::Dist(m) => m.clone(),
            other => other.to_string(),
        });
    }
}

/// The first failed collective's message, if one has failed.
fn failure() -> Option<String> {
    FAILED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// [`Error::Dist`] once a collective has failed ([`fail`]): what the process computed since
/// then is its own, not the job's, and must not be kept.
pub fn check() -> Result<()> {
    match failure() {
        Some(m) => Err(Error::Dist(m)),
        None => Ok(()),
    }
}

/// The variable that tells a rank its launcher's job folder (`textgan train --nproc-per-node`).
pub const JOB_DIR: &str = "TEXTGAN_JOB_DIR";

/// Hands a rank's one-line error to its launcher, which prints the first cause of a failed
/// job once, instead of every rank's; false outside a launcher (torchrun, SLURM: the rank
/// prints it). `cause` is false for a collective that failed because a peer had gone.
pub fn hand_to_launcher(line: &str, cause: bool) -> bool {
    let (Some(dir), Ok(rank)) = (std::env::var_os(JOB_DIR), std::env::var("RANK")) else {
        return false;
    };
    let kind = if cause { "cause" } else { "effect" };
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let path = std::path::Path::new(&dir).join(format!("rank-{rank}.err"));
    std::fs::write(path, format!("{kind}\n{line}\n")).is_ok()
}

/// This process's rank and the world size: (0, 1) without a group.
pub fn rank_and_world() -> (usize, usize) {
    with_group(|g| (g.rank, g.world)).unwrap_or((0, 1))
}

/// Rank 0's values of the named tensors on every process, in place (matched by name);
/// nothing outside a job.
pub fn broadcast_named(mut named: Vec<(String, Tensor)>) -> Result<()> {
    with_group(|g| {
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let tensors: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        g.broadcast_all(&tensors, 0)
    })
    .unwrap_or(Ok(()))
}

/// Refuses to go on when this process's named tensors are not rank 0's: every rank should
/// hold the same weights (the same start, the same averaged steps), and one that parted would
/// train something else unseen. Compares each tensor's sum and sum of squares, gathered, in
/// the order of the names, to a relative 1e-6; `Ok` outside a job.
pub fn check_in_sync(mut named: Vec<(String, Tensor)>, what: &str) -> Result<()> {
    let Some(r) = with_group(|g| -> Result<()> {
        named.sort_by(|a, b| a.0.cmp(&b.0));
        // A test hook: the named rank nudges a tensor, as a rank that parted would have.
        // (Only in the test suite's build, with the `test-hooks` feature.)
        if cfg!(feature = "test-hooks")
            && std::env::var("TEXTGAN_TEST_PART").is_ok_and(|r| r == g.rank.to_string())
        {
            let _ = tch::no_grad(|| named[0].1.g_add_scalar_(1e-2));
        }
        let mut v = Vec::with_capacity(2 * named.len());
        for (_, t) in &named {
            let d = t.detach().to_kind(Kind::Double);
            v.push(d.sum(Kind::Double).double_value(&[]));
            v.push(d.square().sum(Kind::Double).double_value(&[]));
        }
        let all = g.all_gather(&Tensor::from_slice(&v))?; // [world, 2n]
        let ours = all.get(0);
        let scale = ours.abs().max().double_value(&[]).max(1.0);
        for r in 1..g.world {
            let d = (all.get(r as i64) - &ours).abs().max().double_value(&[]);
            if d.is_nan() || d > 1e-6 * scale {
                return Err(Error::Dist(format!(
                    "rank {r}'s {what} are not rank 0's (they differ by {d:e}): the ranks parted"
                )));
            }
        }
        Ok(())
    }) else {
        return Ok(());
    };
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<DistEnv>> {
        DistEnv::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    /// torchrun's variables, their defaults and the refusals.
    #[test]
    fn the_environment_reads_as_torchrun_sets_it() {
        assert_eq!(env(&[]).unwrap(), None);
        assert_eq!(env(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap(), None);
        let e = env(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "2"),
            ("MASTER_ADDR", "node1"),
            ("MASTER_PORT", "1234"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            e,
            DistEnv {
                rank: 2,
                world: 4,
                local_rank: 2,
                master_addr: "node1".into(),
                master_port: 1234
            }
        );
        for (pairs, needle) in [
            (&[("WORLD_SIZE", "2")][..], "RANK is not set"),
            (
                &[("WORLD_SIZE", "2"), ("RANK", "2")][..],
                "not below WORLD_SIZE=2",
            ),
            (&[("WORLD_SIZE", "two")][..], "WORLD_SIZE=\"two\""),
            (
                &[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "70000")][..],
                "not a TCP port",
            ),
        ] {
            let err = env(pairs).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
