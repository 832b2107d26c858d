//! Processes that train together, on torch's own distributed engine: a c10d `TCPStore` for the
//! rendezvous and a Gloo process group for the collectives (csrc/dist.cpp), configured from the
//! variables `torchrun` and the cluster launchers set (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `MASTER_ADDR`, `MASTER_PORT`). Collectives are synchronous and take dense CPU tensors;
//! [`ProcessGroup::average_grads`] and [`ProcessGroup::broadcast_all`] flatten many tensors into
//! buckets, as PyTorch's DDP does, so a step costs a few messages rather than one per parameter.
//!
//! A peer that dies or stops answering makes the collective fail with [`Error::Dist`] within the
//! group's timeout instead of hanging.
use crate::error::{Error, Result};
use std::time::Duration;
use tch::{Kind, Tensor};

mod rows;
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

/// Runs `f` on the installed group, if there is one.
pub fn with_group<T>(f: impl FnOnce(&ProcessGroup) -> T) -> Option<T> {
    GROUP
        .get()
        .map(|m| f(&m.lock().unwrap_or_else(|e| e.into_inner())))
}

/// Ends the process on a failed collective: the others are gone or stuck, and no step can be
/// taken in agreement with them. Prints the one-line error and exits with status 1.
pub fn fail(e: &Error) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1)
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
        if std::env::var("TEXTGAN_TEST_PART").is_ok_and(|r| r == g.rank.to_string()) {
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

/// Whether this build has the Gloo process group (it needs Gloo's headers when built).
pub fn available() -> bool {
    cfg!(textgan_dist)
}

/// A formed process group: this process's rank among `world`.
pub struct ProcessGroup {
    #[cfg(textgan_dist)]
    ptr: *mut std::ffi::c_void,
    pub rank: usize,
    pub world: usize,
}

// SAFETY: the group is used from one thread at a time (it is not Sync); c10d's objects may move
// between threads.
unsafe impl Send for ProcessGroup {}

/// Bytes per all-reduce bucket: DDP's default of 25 MiB.
pub const BUCKET_BYTES: usize = 25 << 20;

#[cfg(textgan_dist)]
mod ffi {
    use std::ffi::c_void;
    use std::os::raw::{c_char, c_int};
    use torch_sys::C_tensor;
    extern "C" {
        pub fn tg_dist_init(
            host: *const c_char,
            port: c_int,
            rank: c_int,
            world: c_int,
            timeout_ms: i64,
            iface: *const c_char,
            serve: c_int,
            out: *mut *mut c_void,
        ) -> *mut c_char;
        pub fn tg_dist_allreduce_sum(g: *mut c_void, t: *mut C_tensor) -> *mut c_char;
        pub fn tg_dist_broadcast(g: *mut c_void, t: *mut C_tensor, root: c_int) -> *mut c_char;
        pub fn tg_dist_allgather(
            g: *mut c_void,
            t: *const C_tensor,
            out: *mut *mut C_tensor,
        ) -> *mut c_char;
        pub fn tg_dist_barrier(g: *mut c_void) -> *mut c_char;
        pub fn tg_dist_free(g: *mut c_void);
        pub fn tg_dist_free_message(msg: *mut c_char);
    }

    /// `Ok` for a null message, else the message as an error (freed here).
    ///
    /// # Safety
    /// `msg` is null or what an entry point above returned.
    pub unsafe fn check(msg: *mut c_char, rank: usize) -> crate::Result<()> {
        if msg.is_null() {
            return Ok(());
        }
        let text = std::ffi::CStr::from_ptr(msg).to_string_lossy().into_owned();
        tg_dist_free_message(msg);
        Err(crate::Error::Dist(format!(
            "rank {rank}: {text} (another process of the job may have stopped)"
        )))
    }
}

impl ProcessGroup {
    /// Forms the group: rank 0 serves the store at `MASTER_ADDR:MASTER_PORT` (under torchrun,
    /// whose agent serves it, every rank is a client), every rank connects, and Gloo pairs
    /// them up. Fails after `timeout` if the others do not come;
    /// collectives fail after the same timeout. `GLOO_SOCKET_IFNAME` names the interface to bind.
    pub fn init(env: &DistEnv, timeout: Duration) -> Result<ProcessGroup> {
        #[cfg(textgan_dist)]
        {
            let host = std::ffi::CString::new(env.master_addr.clone())
                .map_err(|_| Error::Dist("MASTER_ADDR holds a NUL byte".into()))?;
            let iface =
                std::ffi::CString::new(std::env::var("GLOO_SOCKET_IFNAME").unwrap_or_default())
                    .map_err(|_| Error::Dist("GLOO_SOCKET_IFNAME holds a NUL byte".into()))?;
            // Under torchrun the agent serves the store at MASTER_PORT already.
            let agent = std::env::var("TORCHELASTIC_USE_AGENT_STORE").is_ok_and(|v| v == "True");
            let mut ptr = std::ptr::null_mut();
            // SAFETY: valid C strings for the call; on success `ptr` is a new group we own.
            unsafe {
                let msg = ffi::tg_dist_init(
                    host.as_ptr(),
                    env.master_port as i32,
                    env.rank as i32,
                    env.world as i32,
                    timeout.as_millis() as i64,
                    iface.as_ptr(),
                    i32::from(!agent),
                    &mut ptr,
                );
                ffi::check(msg, env.rank)?;
            }
            Ok(ProcessGroup {
                ptr,
                rank: env.rank,
                world: env.world,
            })
        }
        #[cfg(not(textgan_dist))]
        {
            let _ = timeout;
            Err(Error::Dist(format!(
                "rank {}: this textgan was built without Gloo, so it cannot train in {} processes (install libgloo-dev and rebuild)",
                env.rank, env.world
            )))
        }
    }

    /// Sums a dense CPU tensor over the ranks, in place.
    pub fn all_reduce_sum(&self, t: &mut Tensor) -> Result<()> {
        #[cfg(textgan_dist)]
        // SAFETY: a live group and a live tensor for the call.
        unsafe {
            ffi::check(
                ffi::tg_dist_allreduce_sum(self.ptr, t.as_mut_ptr()),
                self.rank,
            )
        }
        #[cfg(not(textgan_dist))]
        unreachable!("no group forms without Gloo: {}", t.numel())
    }

    /// Rank `root`'s tensor into every rank's, in place.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<()> {
        #[cfg(textgan_dist)]
        // SAFETY: as `all_reduce_sum`.
        unsafe {
            ffi::check(
                ffi::tg_dist_broadcast(self.ptr, t.as_mut_ptr(), root as i32),
                self.rank,
            )
        }
        #[cfg(not(textgan_dist))]
        unreachable!("no group forms without Gloo: {} from {root}", t.numel())
    }

    /// Every rank's tensor (the same shape on each), stacked in rank order: [world, ...].
    pub fn all_gather(&self, t: &Tensor) -> Result<Tensor> {
        #[cfg(textgan_dist)]
        {
            let t = t.contiguous();
            let mut out = std::ptr::null_mut();
            // SAFETY: as `all_reduce_sum`; on success `out` is a new tensor we own.
            unsafe {
                ffi::check(
                    ffi::tg_dist_allgather(self.ptr, t.as_ptr(), &mut out),
                    self.rank,
                )?;
                Ok(Tensor::from_ptr(out))
            }
        }
        #[cfg(not(textgan_dist))]
        unreachable!("no group forms without Gloo: {}", t.numel())
    }

    /// Waits until every rank has come here.
    pub fn barrier(&self) -> Result<()> {
        #[cfg(textgan_dist)]
        // SAFETY: a live group.
        unsafe {
            ffi::check(ffi::tg_dist_barrier(self.ptr), self.rank)
        }
        #[cfg(not(textgan_dist))]
        unreachable!("no group forms without Gloo")
    }

    /// Replaces each variable's gradient by its mean over the ranks, in buckets of up to
    /// [`BUCKET_BYTES`] of float32. A variable without a gradient here takes part as zeros (so
    /// the buckets match across ranks) and keeps having none.
    pub fn average_grads(&self, vars: &[Tensor]) -> Result<()> {
        self.average(&grads_of(vars))
    }

    /// Replaces each tensor's values by their mean over the ranks, in place, in buckets (one
    /// all-reduce for gradients and a loss together, as the optimizer's update sends them).
    pub fn average(&self, tensors: &[Tensor]) -> Result<()> {
        let scale = 1.0 / self.world as f64;
        self.bucketed(tensors, |flat| {
            self.all_reduce_sum(flat)?;
            let _ = flat.g_mul_scalar_(scale);
            Ok(())
        })
    }

    /// Rank `root`'s values of every tensor into every rank's (parameters at the start of a
    /// run or a resume, optimizer state), in buckets.
    pub fn broadcast_all(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        self.bucketed(tensors, |flat| self.broadcast(flat, root))
    }

    /// Runs `op` on flat float buffers holding `tensors` in order, in buckets of up to
    /// [`BUCKET_BYTES`], and copies the results back. The buckets are the same on every rank
    /// because they depend only on the tensors' shapes.
    fn bucketed(
        &self,
        tensors: &[Tensor],
        mut op: impl FnMut(&mut Tensor) -> Result<()>,
    ) -> Result<()> {
        let mut start = 0;
        while start < tensors.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < tensors.len()
                && (end == start || bytes + 4 * tensors[end].numel() <= BUCKET_BYTES)
            {
                bytes += 4 * tensors[end].numel();
                end += 1;
            }
            let part = &tensors[start..end];
            let flats: Vec<Tensor> = part
                .iter()
                .map(|t| t.detach().to_kind(Kind::Float).reshape([-1]))
                .collect();
            // Gloo reduces host memory: a GPU run's buckets make the trip through it.
            let mut flat = Tensor::cat(&flats, 0).to_device(tch::Device::Cpu);
            op(&mut flat)?;
            let mut at = 0;
            tch::no_grad(|| {
                for t in part {
                    let n = t.numel() as i64;
                    let mut t = t.shallow_clone();
                    let part = flat.narrow(0, at, n).view_as(&t);
                    t.copy_(&part.to_device(t.device()).to_kind(t.kind()));
                    at += n;
                }
            });
            start = end;
        }
        Ok(())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(textgan_dist)]
        // SAFETY: `ptr` came from `tg_dist_init` and is freed once.
        unsafe {
            ffi::tg_dist_free(self.ptr)
        }
    }
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
