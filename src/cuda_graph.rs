//! CUDA graphs: capture a piece of work once, replay it as one launch.
//!
//! tch 0.24 has no binding for `at::cuda::CUDAGraph`; `csrc/cuda_graph.cpp` is a small C shim over
//! it, compiled by `build.rs` against the same libtorch headers when the CUDA runtime headers are
//! at hand. [`CudaGraph::capture`] runs a closure a few times on a side stream (so cuDNN and
//! cuBLAS set up their handles and workspaces outside the capture), captures one more call, and
//! [`CudaGraph::replay`] launches what was captured. The closure must be capture-safe: no
//! host-device synchronization (`double_value`, `.to(Cpu)`), no copies from host memory and the
//! same shapes every time; inputs go into tensors allocated beforehand, which the replays read.
use crate::error::{Error, Result};
use std::ffi::c_void;
use tch::Device;

#[cfg(textgan_cuda_graph)]
mod ffi {
    use std::ffi::{c_char, c_int, c_void};
    pub type Callback = extern "C" fn(*mut c_void) -> c_int;
    extern "C" {
        pub fn tg_cuda_graph_new() -> *mut c_void;
        pub fn tg_cuda_graph_free(graph: *mut c_void);
        pub fn tg_free_message(msg: *mut c_char);
        pub fn tg_cuda_graph_capture(
            graph: *mut c_void,
            device: c_int,
            warmup: c_int,
            body: Callback,
            data: *mut c_void,
        ) -> *mut c_char;
        pub fn tg_cuda_graph_replay(graph: *mut c_void) -> *mut c_char;
        pub fn tg_cuda_peak_allocated(device: c_int) -> i64;
        pub fn tg_cuda_reset_peak(device: c_int);
    }

    /// Turns the shim's malloc'd message (NULL: success) into a Result, freeing it.
    pub fn check(msg: *mut c_char) -> Result<(), String> {
        if msg.is_null() {
            return Ok(());
        }
        // SAFETY: a non-null message is a NUL-terminated string the shim malloc'd for us.
        let text = unsafe { std::ffi::CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned();
        unsafe { tg_free_message(msg) };
        Err(text)
    }
}

/// One captured CUDA graph; freed on drop.
#[derive(Debug)]
pub struct CudaGraph {
    #[cfg_attr(not(textgan_cuda_graph), allow(dead_code))]
    ptr: *mut c_void,
}

impl CudaGraph {
    /// Whether this build carries the CUDA-graph shim (a GPU is needed as well to use it).
    pub fn compiled() -> bool {
        cfg!(textgan_cuda_graph)
    }

    /// Runs `body` `warmup` times on a side stream of `device`, then captures one more call.
    ///
    /// The warm-up calls really run: a caller whose body updates state restores it afterwards.
    /// A panic inside `body` is caught and returned as an error.
    pub fn capture<F: FnMut()>(device: Device, warmup: usize, mut body: F) -> Result<CudaGraph> {
        let Device::Cuda(index) = device else {
            return Err(Error::Device(format!(
                "CUDA graphs need a CUDA device; this run is on {}",
                crate::device::describe(device)
            )));
        };
        Self::capture_on(index, warmup, &mut body)
    }

    #[cfg(textgan_cuda_graph)]
    fn capture_on<F: FnMut()>(index: usize, warmup: usize, body: &mut F) -> Result<CudaGraph> {
        use std::ffi::c_int;
        extern "C" fn trampoline<F: FnMut()>(data: *mut c_void) -> c_int {
            // SAFETY: `data` is the `&mut F` passed to tg_cuda_graph_capture below, alive for
            // the whole call, and the shim calls back on this thread only.
            let f = unsafe { &mut *(data as *mut F) };
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        // SAFETY: plain constructor; null means it threw.
        let ptr = unsafe { ffi::tg_cuda_graph_new() };
        if ptr.is_null() {
            return Err(Error::Device("could not create a CUDA graph".into()));
        }
        let graph = CudaGraph { ptr };
        // SAFETY: `graph.ptr` is live; `body` outlives the call.
        let msg = unsafe {
            ffi::tg_cuda_graph_capture(
                graph.ptr,
                index as c_int,
                warmup as c_int,
                trampoline::<F>,
                body as *mut F as *mut c_void,
            )
        };
        ffi::check(msg).map_err(|e| Error::Device(format!("CUDA-graph capture failed: {e}")))?;
        Ok(graph)
    }

    #[cfg(not(textgan_cuda_graph))]
    fn capture_on<F: FnMut()>(_index: usize, _warmup: usize, _body: &mut F) -> Result<CudaGraph> {
        Err(Error::Device(
            "this textgan was built without CUDA graphs (no CUDA runtime headers at build time)"
                .into(),
        ))
    }

    /// Launches the captured work on the current stream (asynchronously, like any CUDA op).
    pub fn replay(&self) -> Result<()> {
        #[cfg(textgan_cuda_graph)]
        {
            // SAFETY: `self.ptr` is a graph that captured successfully.
            let msg = unsafe { ffi::tg_cuda_graph_replay(self.ptr) };
            ffi::check(msg).map_err(|e| Error::Device(format!("CUDA-graph replay failed: {e}")))
        }
        #[cfg(not(textgan_cuda_graph))]
        Err(Error::Device(
            "this textgan was built without CUDA graphs".into(),
        ))
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        #[cfg(textgan_cuda_graph)]
        // SAFETY: `ptr` came from tg_cuda_graph_new and is freed once.
        unsafe {
            ffi::tg_cuda_graph_free(self.ptr)
        };
    }
}

/// Peak bytes held by tensors on CUDA device `index` since the last [`reset_peak_memory`]
/// (the caching allocator's count, as `torch.cuda.max_memory_allocated`); `None` off CUDA.
pub fn peak_memory(device: Device) -> Option<u64> {
    #[cfg(textgan_cuda_graph)]
    if let Device::Cuda(i) = device {
        // SAFETY: reads allocator statistics; returns -1 on any error.
        let b = unsafe { ffi::tg_cuda_peak_allocated(i as std::ffi::c_int) };
        return u64::try_from(b).ok();
    }
    let _ = device;
    None
}

/// Starts a new peak for [`peak_memory`].
pub fn reset_peak_memory(device: Device) {
    #[cfg(textgan_cuda_graph)]
    if let Device::Cuda(i) = device {
        // SAFETY: resets allocator statistics; errors are swallowed by the shim.
        unsafe { ffi::tg_cuda_reset_peak(i as std::ffi::c_int) };
    }
    let _ = device;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_off_cuda_is_a_clear_error() {
        let e = CudaGraph::capture(Device::Cpu, 1, || {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("need a CUDA device"), "{e}");
        assert_eq!(peak_memory(Device::Cpu), None);
    }

    #[test]
    fn this_build_carries_the_shim_when_the_wheel_has_cuda() {
        // scripts/setup-torch.sh installs the CUDA wheel, whose headers build the shim; a CPU-only
        // libtorch leaves it out. Either way the answer must match what build.rs found.
        let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/libtorch/lib");
        if lib.join("libtorch_cuda.so").exists() {
            assert!(CudaGraph::compiled());
        }
    }
}
