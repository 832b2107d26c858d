// The CNN discriminator's highway mix and dropout on the CPU, as one autograd op.
//
// After the highway layer's matrix product z (and the gate t = sigmoid of its own product, or
// of z itself when tied), the head computes y = t * relu(z) + (1 - t) * h and drops out y. As
// separate torch ops that is about ten passes over [rows, features] forward and as many backward,
// plus a Bernoulli mask that torch draws serially on AMD CPUs (its MKL path is Intel-only); for
// RelGAN's 4,096 rows of 1,200 features they were a tenth of the step. Here it is one pass each
// way. The mask comes from a counter-based hash of (seed, element index), so it needs no state,
// is the same for any number of threads, and the backward pass recomputes it instead of storing
// it; the seed is drawn from torch's generator by the caller, so runs stay reproducible.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A 32-bit integer hash (Wellons' lowbias32): uniform enough for dropout, and vectorizable.
inline __attribute__((always_inline)) uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

struct Mask {
  uint32_t key;        // mix(seed)
  uint32_t threshold;  // keep where hash >= threshold
  float scale;         // 1 / (1 - p), or 1 without dropout
  bool on;
  inline __attribute__((always_inline)) float at(int64_t i) const {
    if (!on) return 1.0f;
    return mix(static_cast<uint32_t>(i) ^ key) >= threshold ? scale : 0.0f;
  }
};

Mask mask_for(double p, int64_t seed) {
  Mask m{mix(static_cast<uint32_t>(seed) ^ mix(static_cast<uint32_t>(seed >> 32))), 0, 1.0f,
         p > 0.0};
  if (m.on) {
    m.threshold = static_cast<uint32_t>(p * 4294967296.0 < 4294967295.0 ? p * 4294967296.0
                                                                          : 4294967295.0);
    m.scale = static_cast<float>(1.0 / (1.0 - p));
  }
  return m;
}

inline __attribute__((always_inline)) void forward_range(const float* z, const float* t,
                                                         const float* h, float* out,
                                                         const Mask& m, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) {
    const float r = z[i] < 0.0f ? 0.0f : z[i];  // a NaN passes, as in torch's relu
    out[i] = (t[i] * r + (1.0f - t[i]) * h[i]) * m.at(i);
  }
}

inline __attribute__((always_inline)) void backward_range(const float* go, const float* z,
                                                          const float* t, const float* h,
                                                          float* gz, float* gt, float* gh,
                                                          const Mask& m, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) {
    const float dy = go[i] * m.at(i);
    const float r = z[i] < 0.0f ? 0.0f : z[i];
    gz[i] = z[i] <= 0.0f ? 0.0f : dy * t[i];
    gt[i] = dy * (r - h[i]);
    gh[i] = dy * (1.0f - t[i]);
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void forward_avx2(const float* z, const float* t,
                                                     const float* h, float* out, const Mask& m,
                                                     int64_t b, int64_t e) {
  forward_range(z, t, h, out, m, b, e);
}
__attribute__((target("avx2,fma"))) void backward_avx2(const float* go, const float* z,
                                                      const float* t, const float* h, float* gz,
                                                      float* gt, float* gh, const Mask& m,
                                                      int64_t b, int64_t e) {
  backward_range(go, z, t, h, gz, gt, gh, m, b, e);
}
#endif

bool has_avx2() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

constexpr int64_t kGrain = 1 << 15;

struct HighwayDropout : public torch::autograd::Function<HighwayDropout> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& z, const at::Tensor& t,
                            const at::Tensor& h, double p, int64_t seed) {
    at::Tensor zc = z.contiguous(), tc = t.contiguous(), hc = h.contiguous();
    at::Tensor out = at::empty_like(zc);
    const Mask m = mask_for(p, seed);
    const float *zp = zc.data_ptr<float>(), *tp = tc.data_ptr<float>(), *hp = hc.data_ptr<float>();
    float* op = out.data_ptr<float>();
    const bool avx2 = has_avx2();
    at::parallel_for(0, zc.numel(), kGrain, [&](int64_t b, int64_t e) {
#if defined(__x86_64__)
      if (avx2) return forward_avx2(zp, tp, hp, op, m, b, e);
#endif
      forward_range(zp, tp, hp, op, m, b, e);
    });
    ctx->save_for_backward({zc, tc, hc});
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Its own arithmetic is not recorded: refuse a graph of the gradient (second derivatives).
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "highway: no second derivatives (create_graph); use the separate ops");
    if (!grads[0].defined()) {
      return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
    auto saved = ctx->get_saved_variables();
    const at::Tensor &z = saved[0], &t = saved[1], &h = saved[2];
    const Mask m = mask_for(ctx->saved_data["p"].toDouble(), ctx->saved_data["seed"].toInt());
    at::Tensor go = grads[0].contiguous();
    at::Tensor gz = at::empty_like(z), gt = at::empty_like(t), gh = at::empty_like(h);
    const float *gop = go.data_ptr<float>(), *zp = z.data_ptr<float>(),
                *tp = t.data_ptr<float>(), *hp = h.data_ptr<float>();
    float *gzp = gz.data_ptr<float>(), *gtp = gt.data_ptr<float>(), *ghp = gh.data_ptr<float>();
    const bool avx2 = has_avx2();
    at::parallel_for(0, z.numel(), kGrain, [&](int64_t b, int64_t e) {
#if defined(__x86_64__)
      if (avx2) return backward_avx2(gop, zp, tp, hp, gzp, gtp, ghp, m, b, e);
#endif
      backward_range(gop, zp, tp, hp, gzp, gtp, ghp, m, b, e);
    });
    return {gz, gt, gh, at::Tensor(), at::Tensor()};
  }
};

char* message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

}  // namespace

extern "C" {

// (t * relu(z) + (1 - t) * h) dropped out with probability p (p = 0: no dropout), for float
// CPU tensors of one shape. On success *out is a new tensor and NULL comes back.
char* tg_highway_dropout(const at::Tensor* z, const at::Tensor* t, const at::Tensor* h, double p,
                         int64_t seed, at::Tensor** out) {
  try {
    TORCH_CHECK(z->sizes() == t->sizes() && z->sizes() == h->sizes(), "highway: shapes");
    TORCH_CHECK(z->scalar_type() == at::kFloat && t->scalar_type() == at::kFloat &&
                    h->scalar_type() == at::kFloat,
                "highway: float tensors only");
    TORCH_CHECK(z->device().is_cpu() && t->device().is_cpu() && h->device().is_cpu(),
                "highway: CPU tensors only");
    TORCH_CHECK(p >= 0.0 && p < 1.0, "highway: dropout probability in [0, 1)");
    *out = new at::Tensor(HighwayDropout::apply(*z, *t, *h, p, seed));
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  } catch (...) {
    return message("highway: unknown C++ exception");
  }
}
}
