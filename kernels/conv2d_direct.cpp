// conv2d's AVX2 direct path on the CPU (part of backend `cpu`): one input channel at
// stride 1 (the CNN's first layer), on a CPU with AVX2 and FMA (core/cpu_features.hpp; the
// file is built for baseline x86-64 and the kernels carry target attributes). Its GEMMs
// would have K = K1 K2 = 25 (forward), M = 25 (data) or N = 25 (filter), so packing,
// im2col, the bias fill and the per-call overhead cost about as much as the multiply-adds
// (the passes ran at 0.4-0.6 of SGEMM's rate). A zero-padded copy of the sample (a few KB)
// stays in L1, and register blocks of 8-column AVX2 vectors times a few channels or taps
// make each load feed several FMAs.
//
//
// The sample is copied into xp [hp, wp], zero-padded: xp[i, j] = x[i - pad_top, j -
// pad_left]. At stride 1, output (p, q) with tap (r, s) reads xp[p + r, q + s]. An output
// row is covered by qv = ceil(Q / 8) vectors; wp leaves room for the last vector's loads
// at every tap (its lanes past Q are never stored, and dy is loaded there as zeros).

#if defined(__x86_64__) && defined(__GNUC__)
#define MINIDL_CONV_DIRECT_AVX2 1
#include <immintrin.h>
#endif

#include <cstring>
#include <vector>

#include "../core/cpu_features.hpp"
#include "conv2d.hpp"
#include "conv2d_cpu.hpp"

namespace minidl::cpu::conv_detail {
namespace {

struct DirectLayout {
  std::int64_t qv = 0;  // vectors per output row
  std::int64_t hp = 0;  // rows of xp: out_h + K1 - 1
  std::int64_t wp = 0;  // row length of xp: 8 qv + K2 - 1
};

DirectLayout direct_layout(const Conv2dGeometry& g) {
  DirectLayout l;
  l.qv = (g.out_w + 7) / 8;
  l.hp = g.out_h + g.kernel_h - 1;
  l.wp = 8 * l.qv + g.kernel_w - 1;
  return l;
}

// xp's interior = x [H, W]; the border stays as it was (zeros written once).
void pad_sample(const Conv2dGeometry& g, const DirectLayout& l, const float* x, float* xp) {
  for (std::int64_t h = 0; h < g.height; ++h) {
    std::memcpy(xp + (h + g.pad_top) * l.wp + g.pad_left, x + h * g.width,
                static_cast<std::size_t>(g.width) * sizeof(float));
  }
}

#if MINIDL_CONV_DIRECT_AVX2
#define MINIDL_AVX2 __attribute__((target("avx2,fma")))
// Fixed-size register-block loops unrolled early, so the accumulator arrays become
// registers (otherwise GCC keeps them in memory: a store per FMA).
#define MINIDL_UNROLL _Pragma("GCC unroll 16")

// Lanes [0, n) set: the valid lanes of a row's last vector.
MINIDL_AVX2 inline __m256i lane_mask(std::int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Stops the compiler folding a load into each FMA that uses it (it did, loading the same
// vector MB times and making the filter kernel load-bound).
MINIDL_AVX2 inline void keep_in_register(__m256& v) { __asm__("" : "+x"(v)); }

MINIDL_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// Forward, MB channels x NV vectors of one output row:
// y[m, p, q] = b[m] + sum_{r,s} w[m, r, s] xp[p + r, q + s].
// xr = &xp[p, q0], w = &w[m0, 0, 0], y = &y[m0, p, q0]; `last` valid lanes in vector NV-1.
template <int MB, int NV>
MINIDL_AVX2 void direct_fwd_block(const float* xr, std::int64_t wp, const float* w, std::int64_t k1,
                                  std::int64_t k2, const float* b, float* y, std::int64_t plane,
                                  std::int64_t last) {
  __m256 acc[MB][NV];
  MINIDL_UNROLL
  for (int i = 0; i < MB; ++i) {
    const __m256 init = b != nullptr ? _mm256_set1_ps(b[i]) : _mm256_setzero_ps();
    MINIDL_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = init;
  }
  const std::int64_t kk = k1 * k2;
  for (std::int64_t r = 0; r < k1; ++r) {
    const float* xrr = xr + r * wp;
    const float* wr = w + r * k2;
    for (std::int64_t s = 0; s < k2; ++s) {
      __m256 wb[MB];
      MINIDL_UNROLL
      for (int i = 0; i < MB; ++i) wb[i] = _mm256_broadcast_ss(wr + i * kk + s);
      MINIDL_UNROLL
      for (int v = 0; v < NV; ++v) {
        const __m256 xv = _mm256_loadu_ps(xrr + s + 8 * v);
        MINIDL_UNROLL
        for (int i = 0; i < MB; ++i) acc[i][v] = _mm256_fmadd_ps(wb[i], xv, acc[i][v]);
      }
    }
  }
  const __m256i mask = lane_mask(last);
  MINIDL_UNROLL
  for (int i = 0; i < MB; ++i) {
    float* yi = y + i * plane;
    MINIDL_UNROLL
    for (int v = 0; v + 1 < NV; ++v) _mm256_storeu_ps(yi + 8 * v, acc[i][v]);
    _mm256_maskstore_ps(yi + 8 * (NV - 1), mask, acc[i][NV - 1]);
  }
}

template <int MB>
MINIDL_AVX2 void direct_fwd_nv(std::int64_t nv, const float* xr, std::int64_t wp, const float* w,
                               std::int64_t k1, std::int64_t k2, const float* b, float* y,
                               std::int64_t plane, std::int64_t last) {
  switch (nv) {
    case 1:
      return direct_fwd_block<MB, 1>(xr, wp, w, k1, k2, b, y, plane, last);
    case 2:
      return direct_fwd_block<MB, 2>(xr, wp, w, k1, k2, b, y, plane, last);
    case 3:
      return direct_fwd_block<MB, 3>(xr, wp, w, k1, k2, b, y, plane, last);
    default:
      return direct_fwd_block<MB, 4>(xr, wp, w, k1, k2, b, y, plane, last);
  }
}

// y_n [M, P, Q] from xp: 3 channels x 4 vectors per block (12 accumulators; each
// input load feeds 3 FMAs, each weight broadcast 4).
MINIDL_AVX2 void direct_forward_sample(const Conv2dGeometry& g, const DirectLayout& l,
                                       const float* xp, const float* w, const float* b, float* y) {
  const std::int64_t M = g.out_channels, P = g.out_h, Q = g.out_w, PQ = P * Q;
  const std::int64_t kk = g.kernel_h * g.kernel_w;
  for (std::int64_t m0 = 0; m0 < M; m0 += 3) {
    const std::int64_t mb = std::min<std::int64_t>(3, M - m0);
    const float* bm = b != nullptr ? b + m0 : nullptr;
    for (std::int64_t p = 0; p < P; ++p) {
      for (std::int64_t v0 = 0; v0 < l.qv; v0 += 4) {
        const std::int64_t nv = std::min<std::int64_t>(4, l.qv - v0);
        const std::int64_t last = Q - 8 * (v0 + nv - 1);
        const float* xr = xp + p * l.wp + 8 * v0;
        float* yo = y + m0 * PQ + p * Q + 8 * v0;
        if (mb == 3) {
          direct_fwd_nv<3>(nv, xr, l.wp, w + m0 * kk, g.kernel_h, g.kernel_w, bm, yo, PQ, last);
        } else if (mb == 2) {
          direct_fwd_nv<2>(nv, xr, l.wp, w + m0 * kk, g.kernel_h, g.kernel_w, bm, yo, PQ, last);
        } else {
          direct_fwd_nv<1>(nv, xr, l.wp, w + m0 * kk, g.kernel_h, g.kernel_w, bm, yo, PQ, last);
        }
      }
    }
  }
}

// Filter, MB channels x SB taps (r, s0 .. s0+SB-1):
// dw[m, r, s] += sum_{p,q} dy[m, p, q] xp[p + r, q + s], summed in 8 lanes over q.
// xr = &xp[r, s0], dy = &dy[m0, 0, 0], dw = &dw[m0, r, s0].
template <int MB, int SB>
MINIDL_AVX2 void direct_filt_block(const float* xr, std::int64_t wp, const float* dy,
                                   std::int64_t P, std::int64_t Q, std::int64_t plane, float* dw,
                                   std::int64_t kk) {
  __m256 acc[MB][SB];
  MINIDL_UNROLL
  for (int i = 0; i < MB; ++i) {
    MINIDL_UNROLL
    for (int j = 0; j < SB; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  const std::int64_t full = Q / 8, rest = Q - 8 * full;
  const __m256i mask = lane_mask(rest);
  for (std::int64_t p = 0; p < P; ++p) {
    const float* xrp = xr + p * wp;
    const float* dyp = dy + p * Q;
    for (std::int64_t v = 0; v < full; ++v) {
      __m256 d[MB];
      MINIDL_UNROLL
      for (int i = 0; i < MB; ++i) d[i] = _mm256_loadu_ps(dyp + i * plane + 8 * v);
      MINIDL_UNROLL
      for (int j = 0; j < SB; ++j) {
        __m256 xv = _mm256_loadu_ps(xrp + j + 8 * v);
        keep_in_register(xv);
        MINIDL_UNROLL
        for (int i = 0; i < MB; ++i) acc[i][j] = _mm256_fmadd_ps(d[i], xv, acc[i][j]);
      }
    }
    if (rest != 0) {
      __m256 d[MB];
      MINIDL_UNROLL
      for (int i = 0; i < MB; ++i) d[i] = _mm256_maskload_ps(dyp + i * plane + 8 * full, mask);
      MINIDL_UNROLL
      for (int j = 0; j < SB; ++j) {
        // Masked like dy: the lanes past Q read real image columns, and 0 * NaN (or inf)
        // would spread a NaN to taps that never see it (found in review).
        const __m256 xv = _mm256_maskload_ps(xrp + j + 8 * full, mask);
        MINIDL_UNROLL
        for (int i = 0; i < MB; ++i) acc[i][j] = _mm256_fmadd_ps(d[i], xv, acc[i][j]);
      }
    }
  }
  MINIDL_UNROLL
  for (int i = 0; i < MB; ++i) {
    MINIDL_UNROLL
    for (int j = 0; j < SB; ++j) dw[i * kk + j] += hsum(acc[i][j]);
  }
}

template <int MB>
MINIDL_AVX2 void direct_filt_sb(std::int64_t sb, const float* xr, std::int64_t wp, const float* dy,
                                std::int64_t P, std::int64_t Q, std::int64_t plane, float* dw,
                                std::int64_t kk) {
  switch (sb) {
    case 1:
      return direct_filt_block<MB, 1>(xr, wp, dy, P, Q, plane, dw, kk);
    case 2:
      return direct_filt_block<MB, 2>(xr, wp, dy, P, Q, plane, dw, kk);
    case 3:
      return direct_filt_block<MB, 3>(xr, wp, dy, P, Q, plane, dw, kk);
    case 4:
      return direct_filt_block<MB, 4>(xr, wp, dy, P, Q, plane, dw, kk);
    default:
      return direct_filt_block<MB, 5>(xr, wp, dy, P, Q, plane, dw, kk);
  }
}

// acc [M, K1, K2] += corr(xp, dy_n): 2 channels x 5 taps per block (10 accumulators;
// each dy load feeds 5 FMAs, each input load 2).
MINIDL_AVX2 void direct_filter_sample(const Conv2dGeometry& g, const DirectLayout& l,
                                      const float* xp, const float* dy, float* acc) {
  const std::int64_t M = g.out_channels, P = g.out_h, Q = g.out_w, PQ = P * Q;
  const std::int64_t k2 = g.kernel_w, kk = g.kernel_h * k2;
  for (std::int64_t m0 = 0; m0 < M; m0 += 2) {
    const std::int64_t mb = std::min<std::int64_t>(2, M - m0);
    for (std::int64_t r = 0; r < g.kernel_h; ++r) {
      for (std::int64_t s0 = 0; s0 < k2; s0 += 5) {
        const std::int64_t sb = std::min<std::int64_t>(5, k2 - s0);
        const float* xr = xp + r * l.wp + s0;
        float* dwo = acc + m0 * kk + r * k2 + s0;
        if (mb == 2) {
          direct_filt_sb<2>(sb, xr, l.wp, dy + m0 * PQ, P, Q, PQ, dwo, kk);
        } else {
          direct_filt_sb<1>(sb, xr, l.wp, dy + m0 * PQ, P, Q, PQ, dwo, kk);
        }
      }
    }
  }
}

// Data, RB taps (r0 .. r0+RB-1, s) x NV vectors of one dy row p, for each s in turn,
// summed over channels: dxp[p + r, q + s] += sum_m w[m, r, s] dy[m, p, q]. Blocking over
// r rather than s keeps a block's read-modify-writes on distinct rows of dxp (overlapping
// unaligned stores would stall store forwarding). dy = &dy[0, p, q0], w = &w[0, r0, 0],
// dxp = &dxp[p + r0, q0]; `last` valid lanes in vector NV-1 (loaded as zeros past it).
template <int RB, int NV>
MINIDL_AVX2 void direct_data_block(const float* dy, std::int64_t plane, std::int64_t M,
                                   const float* w, std::int64_t k2, std::int64_t kk, float* dxp,
                                   std::int64_t wp, std::int64_t last) {
  const __m256i mask = lane_mask(last);
  for (std::int64_t s = 0; s < k2; ++s) {
    __m256 acc[RB][NV];
    MINIDL_UNROLL
    for (int i = 0; i < RB; ++i) {
      MINIDL_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
    }
    for (std::int64_t m = 0; m < M; ++m) {
      const float* dm = dy + m * plane;
      __m256 d[NV];
      MINIDL_UNROLL
      for (int v = 0; v + 1 < NV; ++v) d[v] = _mm256_loadu_ps(dm + 8 * v);
      d[NV - 1] = _mm256_maskload_ps(dm + 8 * (NV - 1), mask);
      const float* wm = w + m * kk + s;
      MINIDL_UNROLL
      for (int i = 0; i < RB; ++i) {
        const __m256 wb = _mm256_broadcast_ss(wm + i * k2);
        MINIDL_UNROLL
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(wb, d[v], acc[i][v]);
      }
    }
    MINIDL_UNROLL
    for (int i = 0; i < RB; ++i) {
      float* o = dxp + i * wp + s;
      MINIDL_UNROLL
      for (int v = 0; v < NV; ++v) {
        _mm256_storeu_ps(o + 8 * v, _mm256_add_ps(_mm256_loadu_ps(o + 8 * v), acc[i][v]));
      }
    }
  }
}

template <int NV>
MINIDL_AVX2 void direct_data_rb(std::int64_t rb, const float* dy, std::int64_t plane,
                                std::int64_t M, const float* w, std::int64_t k2, std::int64_t kk,
                                float* dxp, std::int64_t wp, std::int64_t last) {
  switch (rb) {
    case 1:
      return direct_data_block<1, NV>(dy, plane, M, w, k2, kk, dxp, wp, last);
    case 2:
      return direct_data_block<2, NV>(dy, plane, M, w, k2, kk, dxp, wp, last);
    case 3:
      return direct_data_block<3, NV>(dy, plane, M, w, k2, kk, dxp, wp, last);
    case 4:
      return direct_data_block<4, NV>(dy, plane, M, w, k2, kk, dxp, wp, last);
    default:
      return direct_data_block<5, NV>(dy, plane, M, w, k2, kk, dxp, wp, last);
  }
}

// dx_n [H, W] = the interior of dxp [hp, wp], which is zeroed here and gets every
// (output, tap) product scattered into it: 5 taps x 2 vectors per block (10
// accumulators; each dy load feeds 5 FMAs, each weight broadcast 2).
MINIDL_AVX2 void direct_data_sample(const Conv2dGeometry& g, const DirectLayout& l, const float* dy,
                                    const float* w, float* dxp, float* dx) {
  const std::int64_t M = g.out_channels, P = g.out_h, Q = g.out_w, PQ = P * Q;
  const std::int64_t k1 = g.kernel_h, k2 = g.kernel_w, kk = k1 * k2;
  std::fill(dxp, dxp + l.hp * l.wp, 0.0f);
  for (std::int64_t p = 0; p < P; ++p) {
    for (std::int64_t v0 = 0; v0 < l.qv; v0 += 2) {
      const std::int64_t nv = std::min<std::int64_t>(2, l.qv - v0);
      const std::int64_t last = Q - 8 * (v0 + nv - 1);
      const float* dyo = dy + p * Q + 8 * v0;
      for (std::int64_t r0 = 0; r0 < k1; r0 += 5) {
        const std::int64_t rb = std::min<std::int64_t>(5, k1 - r0);
        float* o = dxp + (p + r0) * l.wp + 8 * v0;
        if (nv == 2) {
          direct_data_rb<2>(rb, dyo, PQ, M, w + r0 * k2, k2, kk, o, l.wp, last);
        } else {
          direct_data_rb<1>(rb, dyo, PQ, M, w + r0 * k2, k2, kk, o, l.wp, last);
        }
      }
    }
  }
  for (std::int64_t h = 0; h < g.height; ++h) {
    std::memcpy(dx + h * g.width, dxp + (h + g.pad_top) * l.wp + g.pad_left,
                static_cast<std::size_t>(g.width) * sizeof(float));
  }
}

#undef MINIDL_UNROLL
#undef MINIDL_AVX2
#else   // built without x86 AVX2 support: direct_applies() is false, these are never called
void direct_forward_sample(const Conv2dGeometry&, const DirectLayout&, const float*, const float*,
                           const float*, float*) {}
void direct_filter_sample(const Conv2dGeometry&, const DirectLayout&, const float*, const float*,
                          float*) {}
void direct_data_sample(const Conv2dGeometry&, const DirectLayout&, const float*, const float*,
                        float*, float*) {}
#endif  // MINIDL_CONV_DIRECT_AVX2

}  // namespace

// The direct path takes one input channel at stride 1 on an AVX2+FMA CPU, unless the
// samples are too few to occupy the threads and the work is large enough to want them
// (the GEMM path then threads inside OpenBLAS; the direct path runs samples in parallel).
bool direct_applies(const Conv2dGeometry& g) {
#if MINIDL_CONV_DIRECT_AVX2
  // batch >= 1: an empty batch (its FLOPs, 0, pass the size test) would make the filter
  // gradient's grain 0 and divide by it (SIGFPE; found in review); the other paths
  // handle it.
  return g.in_channels == 1 && g.stride_h == 1 && g.stride_w == 1 && g.batch >= 1 &&
         cpu_has_avx2_fma() && (g.batch >= cpu_threads() || g.forward_flops() <= 4e6);
#else
  (void)g;
  return false;
#endif
}

void direct_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y, bool relu) {
  const DirectLayout l = direct_layout(g);
  const std::int64_t x_step = g.height * g.width, y_step = g.out_channels * g.out_h * g.out_w;
  const std::size_t xp_size = static_cast<std::size_t>(l.hp * l.wp);
  auto range = [&](std::int64_t n0, std::int64_t n1) {
    float* xp = thread_scratch(xp_size);
    std::fill(xp, xp + xp_size, 0.0f);  // pad_sample writes the interior only
    for (std::int64_t n = n0; n < n1; ++n) {
      pad_sample(g, l, x + n * x_step, xp);
      direct_forward_sample(g, l, xp, w, b, y + n * y_step);
      if (relu) relu_in_place(y + n * y_step, y_step);
    }
  };
  if (batch_parallel(g)) {
    parallel_for(g.batch, sample_grain(g), range);
  } else {
    range(0, g.batch);
  }
}

void direct_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx) {
  const DirectLayout l = direct_layout(g);
  const std::int64_t x_step = g.height * g.width, y_step = g.out_channels * g.out_h * g.out_w;
  const std::size_t xp_size = static_cast<std::size_t>(l.hp * l.wp);
  auto range = [&](std::int64_t n0, std::int64_t n1) {
    float* dxp = thread_scratch(xp_size);
    for (std::int64_t n = n0; n < n1; ++n) {
      direct_data_sample(g, l, dy + n * y_step, w, dxp, dx + n * x_step);
    }
  };
  if (batch_parallel(g)) {
    parallel_for(g.batch, sample_grain(g), range);
  } else {
    range(0, g.batch);
  }
}

// dw = beta dw + the sum over samples: one partial per fixed group of samples, summed in
// group order (deterministic whatever the thread count), as in the GEMM path.
void direct_backward_filter(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                            float beta) {
  const DirectLayout l = direct_layout(g);
  const std::int64_t x_step = g.height * g.width, y_step = g.out_channels * g.out_h * g.out_w;
  const std::int64_t wsize = g.out_channels * g.kernel_h * g.kernel_w;
  const std::size_t xp_size = static_cast<std::size_t>(l.hp * l.wp);
  const std::int64_t grain = batch_parallel(g) ? sample_grain(g) : g.batch;
  const std::int64_t groups = (g.batch + grain - 1) / grain;
  std::vector<float> partial(static_cast<std::size_t>(groups * wsize), 0.0f);
  auto group_sum = [&](std::int64_t group) {
    float* xp = thread_scratch(xp_size);
    std::fill(xp, xp + xp_size, 0.0f);  // pad_sample writes the interior only
    float* acc = partial.data() + group * wsize;
    for (std::int64_t n = group * grain; n < std::min(g.batch, (group + 1) * grain); ++n) {
      pad_sample(g, l, x + n * x_step, xp);
      direct_filter_sample(g, l, xp, dy + n * y_step, acc);
    }
  };
  if (groups > 1) {
    parallel_chunks(groups, group_sum);
  } else {
    group_sum(0);
  }
  for (std::int64_t i = 0; i < wsize; ++i) {
    float s = 0.0f;
    for (std::int64_t t = 0; t < groups; ++t) s += partial[static_cast<std::size_t>(t * wsize + i)];
    dw[i] = (beta == 0.0f ? 0.0f : beta * dw[i]) + s;
  }
}

}  // namespace minidl::cpu::conv_detail
