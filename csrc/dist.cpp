// torch's c10d process group behind C entry points for src/dist: what
// `torch.distributed.init_process_group` sets up, without Python. This file holds the store and
// the collectives, which go through c10d's `Backend` interface and so serve either engine;
// dist_gloo.cpp forms a Gloo group (CPU tensors) and dist_nccl.cpp an NCCL one (CUDA tensors).
//
// Each collective takes one dense tensor on the group's side (src/dist flattens parameters and
// gradients into buckets and stages other tensors there), waits for the work, and reports
// failure (a peer gone, a timeout) as a malloc'd message; nothing unwinds across FFI. Under NCCL
// the wait orders the current CUDA stream after the collective, so what reads the result next
// on that stream sees it.
#include "dist.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace tg_dist {

char* message(const std::string& s) {
  char* m = static_cast<char*>(std::malloc(s.size() + 1));
  if (m) std::memcpy(m, s.c_str(), s.size() + 1);
  return m;
}

c10::intrusive_ptr<c10d::Store> rendezvous(const char* host, int port, int rank, int world,
                                           std::chrono::milliseconds timeout, bool serve) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = rank == 0 && serve;
  so.numWorkers = static_cast<std::size_t>(world);
  so.waitWorkers = true;
  so.timeout = timeout;
  auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
  return c10::make_intrusive<c10d::PrefixStore>("textgan", tcp);
}

}  // namespace tg_dist

namespace {

using tg_dist::Group;
using tg_dist::guarded;

void check(const Group* g, const at::Tensor& t, const char* what) {
  if (g->cuda) {
    TORCH_CHECK(t.device().is_cuda(), what, ": an NCCL group takes CUDA tensors");
  } else {
    TORCH_CHECK(t.device().is_cpu(), what, ": a Gloo group takes CPU tensors");
  }
  TORCH_CHECK(t.is_contiguous(), what, ": contiguous tensors only");
}

}  // namespace

extern "C" {

// Sum `t` over the ranks, in place.
char* tg_dist_allreduce_sum(void* g, at::Tensor* t) {
  return guarded("all-reduce", [&] {
    auto* grp = static_cast<Group*>(g);
    check(grp, *t, "all-reduce");
    std::vector<at::Tensor> v{*t};
    grp->pg->allreduce(v)->wait();
  });
}

// Rank `root`'s `t` into every rank's `t`.
char* tg_dist_broadcast(void* g, at::Tensor* t, int root) {
  return guarded("broadcast", [&] {
    auto* grp = static_cast<Group*>(g);
    check(grp, *t, "broadcast");
    std::vector<at::Tensor> v{*t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    grp->pg->broadcast(v, o)->wait();
  });
}

// Every rank's `t` (same shape everywhere), stacked in rank order into a new [world, ...] tensor.
char* tg_dist_allgather(void* g, const at::Tensor* t, at::Tensor** out) {
  return guarded("all-gather", [&] {
    auto* grp = static_cast<Group*>(g);
    check(grp, *t, "all-gather");
    std::vector<at::Tensor> in{*t};
    std::vector<std::vector<at::Tensor>> outs(1);
    for (int i = 0; i < grp->pg->getSize(); i++) outs[0].push_back(at::empty_like(*t));
    grp->pg->allgather(outs, in)->wait();
    *out = new at::Tensor(at::stack(outs[0]));
  });
}

char* tg_dist_barrier(void* g) {
  return guarded("barrier", [&] { static_cast<Group*>(g)->pg->barrier()->wait(); });
}

void tg_dist_free(void* g) { delete static_cast<Group*>(g); }

void tg_dist_free_message(char* msg) { std::free(msg); }
}
