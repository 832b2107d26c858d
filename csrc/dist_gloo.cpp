// A Gloo group (CPU tensors) for csrc/dist.cpp's collectives.
//
// The torch wheel ships c10d's headers and, inside libtorch_cpu.so, Gloo's code, but not Gloo's
// headers; Debian's libgloo-dev supplies them (build.rs looks for them and defines
// USE_C10D_GLOO, under which ProcessGroupGloo.hpp declares its class). What this file touches of
// Gloo is a shared_ptr to its device, so a layout difference between those headers and the Gloo
// built into the wheel never reaches it: every collective runs in libtorch's own compiled code.
// It never calls the header's inline setTimeout, which would reach into a Gloo context.
#include "dist.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

extern "C" {

// Rendezvous at host:port and connect the Gloo group. `iface`, when not empty, names the network
// interface Gloo binds (GLOO_SOCKET_IFNAME); otherwise a loopback master binds loopback and any
// other the machine's hostname, as torch does.
char* tg_dist_init_gloo(const char* host, int port, int rank, int world, int64_t timeout_ms,
                        const char* iface, int serve, void** out) {
  return tg_dist::guarded("init", [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto store = tg_dist::rendezvous(host, port, rank, world, timeout, serve != 0);
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
    *out = new tg_dist::Group{store, pg, false};
  });
}
}
