// CUDA-graph capture and replay for textgan, a thin C shim over at::cuda::CUDAGraph (tch 0.24 has
// no binding). The whole MLE step (forward, backward, clipping, Adam) is captured once on a side
// stream and replayed as one graph launch, which removes the per-kernel launch overhead that
// dominates small models on the GPU.
//
// Every entry point catches C++ exceptions and returns them as a malloc'd message (NULL on
// success) for the Rust side to turn into an error; nothing unwinds across the FFI boundary.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace {
char* message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}
}  // namespace

extern "C" {

typedef int (*tg_callback)(void* data);

void* tg_cuda_graph_new() {
  try {
    return new at::cuda::CUDAGraph();
  } catch (...) {
    return nullptr;
  }
}

void tg_cuda_graph_free(void* graph) {
  try {
    delete static_cast<at::cuda::CUDAGraph*>(graph);
  } catch (...) {
  }
}

void tg_free_message(char* msg) { std::free(msg); }

// Runs `body(data)` `warmup` times on a side stream of `device` (cuDNN/cuBLAS handles and
// workspaces get created there, outside the capture), then captures one call into `graph`.
// The device is synchronized before and after, so the caller's stream sees the finished work.
char* tg_cuda_graph_capture(void* graph, int device, int warmup, tg_callback body, void* data) {
  // Only exported c10/ATen functions are called here (no inline guards, which would pull the
  // CUDA runtime into this object): the binary then needs no link to libcudart of its own.
  auto* g = static_cast<at::cuda::CUDAGraph*>(graph);
  const auto index = static_cast<c10::DeviceIndex>(device);
  bool capturing = false;
  c10::DeviceIndex previous_device = -1;
  c10::optional<c10::cuda::CUDAStream> previous_stream;
  auto restore = [&]() {
    if (previous_stream) c10::cuda::setCurrentCUDAStream(*previous_stream);
    if (previous_device >= 0) c10::cuda::SetDevice(previous_device);
  };
  try {
    c10::cuda::GetDevice(&previous_device);
    c10::cuda::SetDevice(index);
    c10::cuda::device_synchronize();
    previous_stream = c10::cuda::getCurrentCUDAStream(index);
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, index);
    c10::cuda::setCurrentCUDAStream(side);
    for (int i = 0; i < warmup; ++i) {
      if (body(data) != 0) {
        restore();
        return message("the step failed during the CUDA-graph warm-up");
      }
    }
    side.synchronize();
    g->capture_begin();
    capturing = true;
    int rc = body(data);
    capturing = false;
    g->capture_end();
    side.synchronize();
    c10::cuda::device_synchronize();
    restore();
    if (rc != 0) return message("the step failed while being captured into a CUDA graph");
    return nullptr;
  } catch (const std::exception& e) {
    if (capturing) {
      try {
        g->capture_end();
      } catch (...) {
      }
    }
    try {
      restore();
    } catch (...) {
    }
    return message(e.what());
  } catch (...) {
    return message("unknown C++ exception during CUDA-graph capture");
  }
}

// Launches the captured graph on the current stream.
char* tg_cuda_graph_replay(void* graph) {
  try {
    static_cast<at::cuda::CUDAGraph*>(graph)->replay();
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  } catch (...) {
    return message("unknown C++ exception during CUDA-graph replay");
  }
}

// Peak bytes held by tensors on `device` since the last reset (-1 if it cannot be read).
long long tg_cuda_peak_allocated(int device) {
  try {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    return static_cast<long long>(
        stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak);
  } catch (...) {
    return -1;
  }
}

void tg_cuda_reset_peak(int device) {
  try {
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
  } catch (...) {
  }
}

}  // extern "C"
