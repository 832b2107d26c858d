// An NCCL group (CUDA tensors) for csrc/dist.cpp's collectives.
//
// Everything here comes from the torch wheel itself: c10d's headers, ProcessGroupNCCL's code in
// libtorch_cuda.so, NCCL's header from its nvidia-nccl dependency, and the CUDA headers from
// nvidia-cuda-runtime, -crt and -cccl (scripts/setup-torch.sh). So, unlike Gloo, the class this
// file constructs is laid out by the very headers it was built from. Two things could still
// differ from the wheel's own build: the NCCL feature macros, which follow nccl.h (the wheel
// pins the NCCL it was built with), and std::hardware_destructive_interference_size, which
// c10's CUDAEvent pads with (build.rs fixes it at 64, GCC's x86-64 value).
#include "dist.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

extern "C" {

// Rendezvous at host:port and form the NCCL group on CUDA device `device` (LOCAL_RANK).
// Its communicator comes up at the first collective, which fails if the device is missing.
char* tg_dist_init_nccl(const char* host, int port, int rank, int world, int64_t timeout_ms,
                        int device, int serve, void** out) {
  return tg_dist::guarded("init", [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto store = tg_dist::rendezvous(host, port, rank, world, timeout, serve != 0);
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
    pg->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
    *out = new tg_dist::Group{store, pg, true};
  });
}
}
