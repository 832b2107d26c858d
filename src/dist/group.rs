//! A formed process group over the C++ shims (csrc/dist*.cpp): Gloo for CPU tensors, NCCL for
//! CUDA ones. Collectives are synchronous; a tensor on the other side (a CPU tensor under NCCL,
//! a CUDA one under Gloo) makes the trip to the group's device and back.
use super::DistEnv;
use crate::error::{Error, Result};
use std::time::Duration;
use tch::{Device, Kind, Tensor};

/// The engine that runs the collectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Gloo over TCP: CPU tensors (a GPU run's buckets go through host memory).
    Gloo,
    /// NCCL: CUDA tensors, each rank on CUDA device `LOCAL_RANK`.
    Nccl,
}

impl Backend {
    /// `gloo`, `nccl` or `auto`: NCCL when this build has it and the run trains on CUDA, as
    /// torch's own default pairs CUDA with NCCL; Gloo otherwise. Refuses an engine this build
    /// or this machine lacks, in one line.
    pub fn choose(name: &str, cuda_run: bool) -> Result<Backend> {
        let nccl = || -> Result<Backend> {
            if !cfg!(textgan_nccl) {
                return Err(Error::Dist(
                    "--backend nccl: this textgan was built without NCCL (it needs a CUDA libtorch and the CUDA headers scripts/setup-torch.sh installs); use --backend gloo".into(),
                ));
            }
            if !tch::Cuda::is_available() {
                return Err(Error::Dist(
                    "--backend nccl needs CUDA GPUs and this machine has none; use --backend gloo"
                        .into(),
                ));
            }
            Ok(Backend::Nccl)
        };
        match name {
            "gloo" => Ok(Backend::Gloo),
            "nccl" => nccl(),
            "auto" if cuda_run && cfg!(textgan_nccl) && tch::Cuda::is_available() => nccl(),
            "auto" => Ok(Backend::Gloo),
            other => Err(Error::Dist(format!(
                "unknown backend `{other}` (expected gloo, nccl or auto)"
            ))),
        }
    }
}

/// `Ok` when this build has `backend`; else what to do to get it, in one line.
pub fn check_available(backend: Backend, world: usize) -> std::result::Result<(), String> {
    if available(Some(backend)) {
        return Ok(());
    }
    Err(format!(
        "this textgan was built without {backend:?}, so it cannot train in {world} processes that way ({})",
        match (backend, cfg!(feature = "dist")) {
            (_, false) => "build with the `dist` feature: cargo build --release --features dist",
            (Backend::Gloo, true) => "run `sudo apt-get install libgloo-dev`, then ./textgan again: it rebuilds with Gloo",
            (Backend::Nccl, true) => "it needs a CUDA libtorch and scripts/setup-torch.sh's CUDA headers",
        }
    ))
}

/// Whether this build has a process group (Gloo needs Gloo's headers when built, NCCL a CUDA
/// libtorch and the CUDA headers); with `Some`, whether it has that one.
pub fn available(backend: Option<Backend>) -> bool {
    match backend {
        None => cfg!(textgan_dist),
        Some(Backend::Gloo) => cfg!(textgan_gloo),
        Some(Backend::Nccl) => cfg!(textgan_nccl),
    }
}

/// A formed process group: this process's rank among `world`.
pub struct ProcessGroup {
    #[cfg(textgan_dist)]
    ptr: *mut std::ffi::c_void,
    pub rank: usize,
    pub world: usize,
    /// This process's rank on its machine (`LOCAL_RANK`): the CUDA device it trains on.
    pub local_rank: usize,
    /// Where the collectives' tensors live: the CPU under Gloo, CUDA device `LOCAL_RANK` under
    /// NCCL.
    pub device: Device,
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
        #[cfg(textgan_gloo)]
        pub fn tg_dist_init_gloo(
            host: *const c_char,
            port: c_int,
            rank: c_int,
            world: c_int,
            timeout_ms: i64,
            iface: *const c_char,
            serve: c_int,
            out: *mut *mut c_void,
        ) -> *mut c_char;
        #[cfg(textgan_nccl)]
        pub fn tg_dist_init_nccl(
            host: *const c_char,
            port: c_int,
            rank: c_int,
            world: c_int,
            timeout_ms: i64,
            device: c_int,
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

#[cfg(textgan_dist)]
fn c_string(v: String, what: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(v).map_err(|_| Error::Dist(format!("{what} holds a NUL byte")))
}

impl ProcessGroup {
    /// Forms a Gloo group: [`ProcessGroup::init_with`] Gloo.
    pub fn init(env: &DistEnv, timeout: Duration) -> Result<ProcessGroup> {
        Self::init_with(env, timeout, Backend::Gloo)
    }

    /// Forms the group: rank 0 serves the store at `MASTER_ADDR:MASTER_PORT` (under torchrun,
    /// whose agent serves it, every rank is a client), every rank connects, and the backend
    /// pairs them up. Fails after `timeout` if the others do not come; collectives fail after
    /// the same timeout. Under Gloo `GLOO_SOCKET_IFNAME` names the interface to bind; under
    /// NCCL each rank takes CUDA device `LOCAL_RANK`.
    pub fn init_with(env: &DistEnv, timeout: Duration, backend: Backend) -> Result<ProcessGroup> {
        check_available(backend, env.world)
            .map_err(|e| Error::Dist(format!("rank {}: {e}", env.rank)))?;
        #[cfg(textgan_dist)]
        {
            let host = c_string(env.master_addr.clone(), "MASTER_ADDR")?;
            // Under torchrun the agent serves the store at MASTER_PORT already.
            let agent = std::env::var("TORCHELASTIC_USE_AGENT_STORE").is_ok_and(|v| v == "True");
            let serve = i32::from(!agent);
            let (port, rank, world) = (env.master_port as i32, env.rank as i32, env.world as i32);
            let ms = timeout.as_millis() as i64;
            let mut ptr = std::ptr::null_mut();
            let device = match backend {
                Backend::Gloo => Device::Cpu,
                Backend::Nccl => Device::Cuda(env.local_rank),
            };
            // SAFETY: valid C strings for the call; on success `ptr` is a new group we own.
            let msg = match backend {
                #[cfg(textgan_gloo)]
                Backend::Gloo => {
                    let iface = std::env::var("GLOO_SOCKET_IFNAME").unwrap_or_default();
                    let iface = c_string(iface, "GLOO_SOCKET_IFNAME")?;
                    unsafe {
                        ffi::tg_dist_init_gloo(
                            host.as_ptr(),
                            port,
                            rank,
                            world,
                            ms,
                            iface.as_ptr(),
                            serve,
                            &mut ptr,
                        )
                    }
                }
                #[cfg(textgan_nccl)]
                Backend::Nccl => unsafe {
                    let dev = env.local_rank as i32;
                    ffi::tg_dist_init_nccl(
                        host.as_ptr(),
                        port,
                        rank,
                        world,
                        ms,
                        dev,
                        serve,
                        &mut ptr,
                    )
                },
                #[allow(unreachable_patterns)]
                _ => unreachable!("checked available above"),
            };
            // SAFETY: what the entry point returned.
            unsafe { ffi::check(msg, env.rank)? };
            Ok(ProcessGroup {
                ptr,
                rank: env.rank,
                world: env.world,
                local_rank: env.local_rank,
                device,
            })
        }
        #[cfg(not(textgan_dist))]
        unreachable!("checked available above: {timeout:?}")
    }

    /// Runs `op` on `t` where the group's collectives take it: in place when `t` is there
    /// already, else on a copy there, copied back.
    #[cfg_attr(not(textgan_dist), allow(dead_code))]
    fn staged(&self, t: &mut Tensor, op: impl FnOnce(&mut Tensor) -> Result<()>) -> Result<()> {
        if t.device() == self.device && t.is_contiguous() {
            return op(t);
        }
        let mut there = t.to_device(self.device).contiguous();
        op(&mut there)?;
        tch::no_grad(|| t.copy_(&there));
        Ok(())
    }

    /// Sums a dense tensor over the ranks, in place.
    pub fn all_reduce_sum(&self, t: &mut Tensor) -> Result<()> {
        #[cfg(textgan_dist)]
        {
            // SAFETY: a live group and a live tensor for the call.
            self.staged(t, |t| unsafe {
                ffi::check(
                    ffi::tg_dist_allreduce_sum(self.ptr, t.as_mut_ptr()),
                    self.rank,
                )
            })
        }
        #[cfg(not(textgan_dist))]
        unreachable!("no group forms without a backend: {}", t.numel())
    }

    /// Rank `root`'s tensor into every rank's, in place.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<()> {
        #[cfg(textgan_dist)]
        {
            // SAFETY: as `all_reduce_sum`.
            self.staged(t, |t| unsafe {
                ffi::check(
                    ffi::tg_dist_broadcast(self.ptr, t.as_mut_ptr(), root as i32),
                    self.rank,
                )
            })
        }
        #[cfg(not(textgan_dist))]
        unreachable!(
            "no group forms without a backend: {} from {root}",
            t.numel()
        )
    }

    /// Every rank's tensor (the same shape on each), stacked in rank order: [world, ...], on
    /// `t`'s device.
    pub fn all_gather(&self, t: &Tensor) -> Result<Tensor> {
        #[cfg(textgan_dist)]
        {
            let there = t.to_device(self.device).contiguous();
            let mut out = std::ptr::null_mut();
            // SAFETY: as `all_reduce_sum`; on success `out` is a new tensor we own.
            unsafe {
                ffi::check(
                    ffi::tg_dist_allgather(self.ptr, there.as_ptr(), &mut out),
                    self.rank,
                )?;
                Ok(Tensor::from_ptr(out).to_device(t.device()))
            }
        }
        #[cfg(not(textgan_dist))]
        unreachable!("no group forms without a backend: {}", t.numel())
    }

    /// Waits until every rank has come here.
    pub fn barrier(&self) -> Result<()> {
        #[cfg(textgan_dist)]
        // SAFETY: a live group.
        unsafe {
            ffi::check(ffi::tg_dist_barrier(self.ptr), self.rank)
        }
        #[cfg(not(textgan_dist))]
        unreachable!("no group forms without a backend")
    }

    /// Replaces each variable's gradient by its mean over the ranks, in buckets of up to
    /// [`BUCKET_BYTES`] of float32. A variable without a gradient here takes part as zeros (so
    /// the buckets match across ranks) and keeps having none.
    pub fn average_grads(&self, vars: &[Tensor]) -> Result<()> {
        self.average(&super::grads_of(vars))
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

    /// Replaces each tensor's values by their sum over the ranks, in place, in buckets.
    pub fn sum_all(&self, tensors: &[Tensor]) -> Result<()> {
        self.bucketed(tensors, |flat| self.all_reduce_sum(flat))
    }

    /// Rank `root`'s values of every tensor into every rank's (parameters at the start of a
    /// run or a resume, optimizer state), in buckets.
    pub fn broadcast_all(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        self.bucketed(tensors, |flat| self.broadcast(flat, root))
    }

    /// Runs `op` on flat float buffers holding `tensors` in order, on the group's device, in
    /// buckets of up to [`BUCKET_BYTES`], and copies the results back. The buckets are the same
    /// on every rank because they depend only on the tensors' shapes.
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
            // Gloo reduces host memory, NCCL device memory: buckets go where the group works.
            let mut flat = Tensor::cat(&flats, 0).to_device(self.device);
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
        // SAFETY: `ptr` came from `tg_dist_init_*` and is freed once.
        unsafe {
            ffi::tg_dist_free(self.ptr)
        }
    }
}
