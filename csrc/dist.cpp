// torch's c10d process group (a TCPStore for rendezvous, Gloo for the collectives) behind C entry
// points for src/dist.rs: what `torch.distributed.init_process_group("gloo")` sets up, without
// Python.
//
// The torch wheel ships c10d's headers and, inside libtorch_cpu.so, Gloo's code, but not Gloo's
// headers; Debian's libgloo-dev supplies them (build.rs looks for them and defines
// USE_C10D_GLOO, under which ProcessGroupGloo.hpp declares its class). What this file touches of
// Gloo is a shared_ptr to its device, so a layout difference between those headers and the Gloo
// built into the wheel never reaches it: every collective runs in libtorch's own compiled code.
// It never calls the header's inline setTimeout, which would reach into a Gloo context.
//
// Each collective takes one dense CPU tensor (src/dist.rs flattens parameters and gradients into
// buckets), runs synchronously and reports failure (a peer gone, a timeout) as a malloc'd
// message; nothing unwinds across FFI.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

char* message(const std::string& s) {
  char* m = static_cast<char*>(std::malloc(s.size() + 1));
  if (m) std::memcpy(m, s.c_str(), s.size() + 1);
  return m;
}

template <typename F>
char* guarded(const char* what, F f) {
  try {
    f();
    return nullptr;
  } catch (const std::exception& e) {
    return message(std::string(what) + ": " + e.what());
  } catch (...) {
    return message(std::string(what) + ": unknown C++ exception");
  }
}

void check(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.device().is_cpu(), what, ": CPU tensors only (NCCL is not built in)");
  TORCH_CHECK(t.is_contiguous(), what, ": contiguous tensors only");
}

}  // namespace

extern "C" {

// Rendezvous at host:port and connect the Gloo group. Rank 0 serves the store when `serve` is
// set; under torchrun the agent already serves one there (TORCHELASTIC_USE_AGENT_STORE), and
// every rank is a client. Keys live under "textgan/", apart from the agent's own. `iface`, when
// not empty, names the network interface Gloo binds (GLOO_SOCKET_IFNAME); otherwise a loopback
// master binds loopback and any other the machine's hostname, as torch does.
char* tg_dist_init(const char* host, int port, int rank, int world, int64_t timeout_ms,
                   const char* iface, int serve, void** out) {
  return guarded("init", [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0 && serve;
    so.numWorkers = static_cast<std::size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>("textgan", tcp);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    std::string h(host), ifn(iface ? iface : "");
    if (!ifn.empty()) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifn));
    } else if (h == "127.0.0.1" || h == "localhost") {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
    *out = new Group{store, pg};
  });
}

// Sum `t` over the ranks, in place.
char* tg_dist_allreduce_sum(void* g, at::Tensor* t) {
  return guarded("all-reduce", [&] {
    check(*t, "all-reduce");
    std::vector<at::Tensor> v{*t};
    static_cast<Group*>(g)->pg->allreduce(v)->wait();
  });
}

// Rank `root`'s `t` into every rank's `t`.
char* tg_dist_broadcast(void* g, at::Tensor* t, int root) {
  return guarded("broadcast", [&] {
    check(*t, "broadcast");
    std::vector<at::Tensor> v{*t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    static_cast<Group*>(g)->pg->broadcast(v, o)->wait();
  });
}

// Every rank's `t` (same shape everywhere), stacked in rank order into a new [world, ...] tensor.
char* tg_dist_allgather(void* g, const at::Tensor* t, at::Tensor** out) {
  return guarded("all-gather", [&] {
    check(*t, "all-gather");
    auto* grp = static_cast<Group*>(g);
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
