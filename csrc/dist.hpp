// What the process-group shims share (csrc/dist.cpp, dist_gloo.cpp, dist_nccl.cpp): the group,
// the rendezvous store, and the way a C++ exception becomes a malloc'd message for Rust.
#pragma once
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>

namespace tg_dist {

// A formed group: the store that paired the ranks and the backend that runs the collectives.
// `cuda` says which tensors its collectives take (NCCL: CUDA; Gloo: CPU).
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
  bool cuda;
};

char* message(const std::string& s);

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

// The TCPStore at host:port (rank 0 serves it when `serve` is set; under torchrun the agent
// already serves one there, TORCHELASTIC_USE_AGENT_STORE, and every rank is a client), with
// textgan's keys under "textgan/", apart from the agent's own.
c10::intrusive_ptr<c10d::Store> rendezvous(const char* host, int port, int rank, int world,
                                           std::chrono::milliseconds timeout, bool serve);

}  // namespace tg_dist
