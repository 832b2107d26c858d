// Max-over-time convolution for narrow embedded representations on the CPU, as one autograd op.
//
// RelGAN's discriminator convolves 64 one-number representations of each sequence with 300
// filters of each width and keeps each filter's maximum over time. Through matrix products that
// is a product with an inner dimension of 2 to 5 and a [rows, windows, filters] block of
// activations (93 MB per width at batch 64) that is written, scanned for its maxima and, in the
// backward pass, written again as a mostly-zero gradient. Here the forward pass keeps each
// filter's running maximum and its position in registers while the windows stream past, and the
// backward pass touches only the window at each maximum (the max pooling's own gradient):
// dx[row, pos + j] += g * w[j], dw[j] += g * x[row, pos + j], db += g.
//
// tch has no custom autograd functions, so this is a torch::autograd::Function behind a C entry
// point. Errors come back as a malloc'd message (NULL on success); nothing unwinds across FFI.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kLanes = 32;  // filters per block: four 8-wide vectors

struct Shape {
  int64_t t, s, f, n, n_pad;
};

// One block of 32 filters for one row: running maxima and first positions of the maxima.
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void block_avx2(const float* xr, const float* wt,
                                                   const float* bias, const Shape& sh, int64_t g,
                                                   float* best_out, int32_t* pos_out) {
  const int64_t k = sh.f * sh.s, w = sh.t - sh.f + 1;
  __m256 best[4], z[4];
  __m256i pos[4];
  for (int i = 0; i < 4; i++) {
    best[i] = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    pos[i] = _mm256_setzero_si256();
  }
  for (int64_t p = 0; p < w; p++) {
    const __m256i pv = _mm256_set1_epi32(static_cast<int32_t>(p));
    for (int i = 0; i < 4; i++) z[i] = _mm256_loadu_ps(bias + g + 8 * i);
    const float* xs = xr + p * sh.s;
    for (int64_t kk = 0; kk < k; kk++) {
      const __m256 xv = _mm256_set1_ps(xs[kk]);
      const float* o = wt + kk * sh.n_pad + g;
      for (int i = 0; i < 4; i++) z[i] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(o + 8 * i), z[i]);
    }
    for (int i = 0; i < 4; i++) {
      // Strictly greater keeps the first maximum, as torch's max does.
      const __m256 gt = _mm256_cmp_ps(z[i], best[i], _CMP_GT_OQ);
      best[i] = _mm256_blendv_ps(best[i], z[i], gt);
      pos[i] = _mm256_blendv_epi8(pos[i], pv, _mm256_castps_si256(gt));
    }
  }
  for (int i = 0; i < 4; i++) {
    _mm256_storeu_ps(best_out + 8 * i, best[i]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pos_out + 8 * i), pos[i]);
  }
}
#endif

void block_scalar(const float* xr, const float* wt, const float* bias, const Shape& sh, int64_t g,
                  float* best, int32_t* pos) {
  const int64_t k = sh.f * sh.s, w = sh.t - sh.f + 1;
  float z[kLanes];
  for (int64_t l = 0; l < kLanes; l++) {
    best[l] = -std::numeric_limits<float>::infinity();
    pos[l] = 0;
  }
  for (int64_t p = 0; p < w; p++) {
    for (int64_t l = 0; l < kLanes; l++) z[l] = bias[g + l];
    for (int64_t kk = 0; kk < k; kk++) {
      const float xv = xr[p * sh.s + kk];
      const float* o = wt + kk * sh.n_pad + g;
      for (int64_t l = 0; l < kLanes; l++) z[l] += xv * o[l];
    }
    for (int64_t l = 0; l < kLanes; l++) {
      if (z[l] > best[l]) {
        best[l] = z[l];
        pos[l] = static_cast<int32_t>(p);
      }
    }
  }
}

bool has_avx2() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

// x [N, T, s], ws [n, f * s], bias [n] (all float, contiguous) -> maxima [N, n], positions
// [N, n] (int32, the window's first time step).
std::pair<at::Tensor, at::Tensor> forward_kernel(const at::Tensor& x, const at::Tensor& ws,
                                                 const at::Tensor& bias, int64_t f) {
  const int64_t rows = x.size(0), t = x.size(1), s = x.size(2), n = ws.size(0);
  const int64_t n_pad = (n + kLanes - 1) / kLanes * kLanes;
  const Shape sh{t, s, f, n, n_pad};
  // Weights as [f * s, n_pad], filters innermost, zero past n; the bias likewise.
  at::Tensor wt = at::zeros({f * s, n_pad}, x.options());
  wt.narrow(1, 0, n).copy_(ws.t());
  at::Tensor bs = at::zeros({n_pad}, x.options());
  bs.narrow(0, 0, n).copy_(bias);
  at::Tensor out = at::empty({rows, n}, x.options());
  at::Tensor pos = at::empty({rows, n}, x.options().dtype(at::kInt));
  const float* xp = x.data_ptr<float>();
  const float* wp = wt.data_ptr<float>();
  const float* bp = bs.data_ptr<float>();
  float* op = out.data_ptr<float>();
  int32_t* pp = pos.data_ptr<int32_t>();
  const bool avx2 = has_avx2();
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    float best[kLanes];
    int32_t at_[kLanes];
    for (int64_t r = begin; r < end; r++) {
      const float* xr = xp + r * t * s;
      for (int64_t g = 0; g < n; g += kLanes) {
#if defined(__x86_64__)
        if (avx2) {
          block_avx2(xr, wp, bp, sh, g, best, at_);
        } else {
          block_scalar(xr, wp, bp, sh, g, best, at_);
        }
#else
        block_scalar(xr, wp, bp, sh, g, best, at_);
#endif
        const int64_t m = std::min(kLanes, n - g);
        std::memcpy(op + r * n + g, best, m * sizeof(float));
        std::memcpy(pp + r * n + g, at_, m * sizeof(int32_t));
      }
    }
  });
  return {out, pos};
}

struct MaxOverTime : public torch::autograd::Function<MaxOverTime> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& ws,
                            const at::Tensor& bias, int64_t f) {
    const int64_t n = ws.size(0);
    at::Tensor xc = x.contiguous();
    at::Tensor wc = ws.reshape({n, -1}).contiguous();
    at::Tensor bc = bias.contiguous();
    auto [out, pos] = forward_kernel(xc, wc, bc, f);
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["pos"] = pos;
    ctx->saved_data["f"] = f;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Its own arithmetic is not recorded, so a gradient of this gradient would silently miss
    // the convolution: refuse (textgan's WGAN-GP penalty takes the matrix products).
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "max_over_time: no second derivatives (create_graph); use the matrix products");
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& ws = saved[1];
    const at::Tensor pos = ctx->saved_data["pos"].toTensor();
    const int64_t f = ctx->saved_data["f"].toInt();
    const int64_t rows = x.size(0), t = x.size(1), s = x.size(2), n = ws.size(0), k = f * s;
    at::Tensor g = grads[0].contiguous();
    at::Tensor gx = at::zeros_like(x);
    at::Tensor gw = at::zeros_like(ws);
    const float* gp = g.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    const float* wp = ws.data_ptr<float>();
    const int32_t* pp = pos.data_ptr<int32_t>();
    float* gxp = gx.data_ptr<float>();
    float* gwp = gw.data_ptr<float>();
    // dx: each row on its own.
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; r++) {
        float* gxr = gxp + r * t * s;
        for (int64_t j = 0; j < n; j++) {
          const float gv = gp[r * n + j];
          if (gv == 0.0f) continue;
          float* dst = gxr + pp[r * n + j] * s;
          const float* w = wp + j * k;
          for (int64_t kk = 0; kk < k; kk++) dst[kk] += gv * w[kk];
        }
      }
    });
    // dw: each filter on its own, rows in blocks for the cache.
    at::parallel_for(0, n, 8, [&](int64_t begin, int64_t end) {
      for (int64_t r0 = 0; r0 < rows; r0 += 256) {
        const int64_t r1 = std::min(rows, r0 + 256);
        for (int64_t j = begin; j < end; j++) {
          float* dw = gwp + j * k;
          for (int64_t r = r0; r < r1; r++) {
            const float gv = gp[r * n + j];
            const float* src = xp + r * t * s + pp[r * n + j] * s;
            for (int64_t kk = 0; kk < k; kk++) dw[kk] += gv * src[kk];
          }
        }
      }
    });
    at::Tensor gb = g.sum(0);
    return {gx, gw.view({n, 1, f, s}), gb, at::Tensor()};
  }
};

char* message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

}  // namespace

extern "C" {

// x [N, T, s], ws [n, 1, f, s], bias [n]: float CPU tensors (tch's at::Tensor pointers).
// On success *out is a new at::Tensor [N, n] (the maxima before the ReLU) and NULL comes back.
char* tg_max_over_time(const at::Tensor* x, const at::Tensor* ws, const at::Tensor* bias,
                       int64_t f, at::Tensor** out) {
  try {
    TORCH_CHECK(x->dim() == 3 && ws->dim() == 4 && bias->dim() == 1, "max_over_time: shapes");
    TORCH_CHECK(x->scalar_type() == at::kFloat && ws->scalar_type() == at::kFloat &&
                    bias->scalar_type() == at::kFloat,
                "max_over_time: float tensors only");
    TORCH_CHECK(x->device().is_cpu() && ws->device().is_cpu() && bias->device().is_cpu(),
                "max_over_time: CPU tensors only");
    TORCH_CHECK(ws->size(2) == f && ws->size(3) == x->size(2) && x->size(1) >= f,
                "max_over_time: filter width");
    *out = new at::Tensor(MaxOverTime::apply(*x, *ws, *bias, f));
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  } catch (...) {
    return message("max_over_time: unknown C++ exception");
  }
}

void tg_mot_free_message(char* msg) { std::free(msg); }
}
