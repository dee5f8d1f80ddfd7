// conv2d: geometry and operand checks, backend dispatch, weight-layout
// conversions, and the CPU backend.
//
// CPU backend: per sample, im2col builds col [C*K1*K2, P*Q] (zeros where the
// window hangs over the padding), then one OpenBLAS SGEMM:
//   forward          y_b [M, P*Q]     = w [M, C*K1*K2] col_b           (+ b broadcast)
//   backward data    dcol [CKK, P*Q]  = w^T dy_b,  then col2im adds it into dx_b
//   backward filter  dw [M, CKK]     += dy_b col_b^T
// With at least as many samples as threads, OpenMP runs samples in parallel,
// each thread with its own col buffer (OpenBLAS's OpenMP build runs single-
// threaded inside a parallel region); the filter gradient then sums one
// partial per thread in thread order (deterministic for a fixed thread count).
// With fewer samples, samples run in turn and OpenBLAS uses the threads.
// col_b is built a chunk of output rows at a time (at most ~768 KB, so SGEMM reads
// it from L2 rather than DRAM; one chunk for the CNN's shapes, ten of 6 rows for the
// ResNet 3x3 shape).
// A 1x1 kernel at stride 1 without padding needs no im2col: col_b is x_b.
//
// One input channel at stride 1 (the CNN's first layer) takes a direct path instead
// when the CPU has AVX2 and FMA (checked at run time; the file is built for baseline
// x86-64): its GEMMs have K = K1 K2 = 25 (forward), M = 25 (data) or N = 25 (filter),
// so packing, im2col, the bias fill and the per-call overhead cost about as much as
// the multiply-adds (the passes ran at 0.4-0.6 of SGEMM's rate). A zero-padded copy
// of the sample (a few KB) stays in L1, and register blocks of 8-column AVX2 vectors
// times a few channels or taps make each load feed several FMAs. See "direct path".
#include "conv2d.hpp"

#include <cblas.h>
#include <omp.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define MINIDL_CONV_DIRECT_AVX2 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "../core/dispatch.hpp"
#include "checks.hpp"

namespace minidl {

const char* conv_backend_name(ConvBackend b) {
  switch (b) {
    case ConvBackend::Auto:
      return "auto";
    case ConvBackend::Cpu:
      return "cpu";
    case ConvBackend::Cudnn:
      return "cudnn";
    case ConvBackend::Own:
      return "own";
  }
  return "unknown";
}

double Conv2dGeometry::forward_flops() const {
  return 2.0 * static_cast<double>(batch) * static_cast<double>(out_channels) *
         static_cast<double>(out_h) * static_cast<double>(out_w) *
         static_cast<double>(in_channels) * static_cast<double>(kernel_h) *
         static_cast<double>(kernel_w);
}

namespace {

// Output size and the (before, after) padding along one axis.
void resolve_axis(const std::string& who, const char* axis, std::int64_t n, std::int64_t k,
                  std::int64_t s, const Conv2dParams& p, std::int64_t pad, const Shape& xs,
                  const Shape& ws, std::int64_t& out, std::int64_t& before, std::int64_t& after) {
  switch (p.padding) {
    case ConvPadding::Valid:
      MINIDL_CHECK(k <= n, ShapeError, who, ": kernel ", axis, " ", k, " is larger than the ",
                   "valid-mode input ", axis, " ", n, " (input ", xs, ", weight ", ws, ")");
      before = after = 0;
      out = (n - k) / s + 1;
      break;
    case ConvPadding::Same: {
      out = (n + s - 1) / s;
      const std::int64_t total = std::max<std::int64_t>((out - 1) * s + k - n, 0);
      before = total / 2;
      after = total - before;
      break;
    }
    case ConvPadding::HalfKernel:
      before = after = k / 2;  // n + 2 (k / 2) >= k for every n >= 1
      out = (n + 2 * (k / 2) - k) / s + 1;
      break;
    case ConvPadding::Explicit:
      before = after = pad;
      MINIDL_CHECK(n + 2 * pad >= k, ShapeError, who, ": kernel ", axis, " ", k,
                   " is larger than the padded input ", axis, " ", n + 2 * pad, " (input ", xs,
                   ", weight ", ws, ")");
      out = (n + 2 * pad - k) / s + 1;
      break;
  }
}

}  // namespace

Conv2dGeometry conv2d_geometry(const Shape& xs, const Shape& ws, const Conv2dParams& p,
                               const std::string& who) {
  MINIDL_CHECK(xs.rank() == 4, ShapeError, who, ": input must be [batch, channels, height, width]",
               " (NCHW), got ", xs);
  MINIDL_CHECK(ws.rank() == 4, ShapeError, who,
               ": weight must be [out_channels, in_channels, K1, K2], got ", ws);
  MINIDL_CHECK(xs[1] == ws[1], ShapeError, who, ": input has ", xs[1],
               " channels but the weight expects ", ws[1], " (input ", xs, ", weight ", ws, ")");
  MINIDL_CHECK(p.stride_h >= 1 && p.stride_w >= 1, ValueError, who, ": strides must be >= 1, got ",
               p.stride_h, "x", p.stride_w);
  MINIDL_CHECK(p.pad_h >= 0 && p.pad_w >= 0, ValueError, who, ": padding must be >= 0, got ",
               p.pad_h, "x", p.pad_w);
  MINIDL_CHECK(ws[0] >= 1 && ws[2] >= 1 && ws[3] >= 1, ShapeError, who,
               ": weight must have positive extents, got ", ws);
  Conv2dGeometry g;
  g.batch = xs[0];
  g.in_channels = xs[1];
  g.height = xs[2];
  g.width = xs[3];
  g.out_channels = ws[0];
  g.kernel_h = ws[2];
  g.kernel_w = ws[3];
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  resolve_axis(who, "height", g.height, g.kernel_h, g.stride_h, p, p.pad_h, xs, ws, g.out_h,
               g.pad_top, g.pad_bottom);
  resolve_axis(who, "width", g.width, g.kernel_w, g.stride_w, p, p.pad_w, xs, ws, g.out_w,
               g.pad_left, g.pad_right);
  MINIDL_CHECK(g.out_h >= 1 && g.out_w >= 1, ShapeError, who, ": empty output for input ", xs,
               " and weight ", ws);
  return g;
}

// ---- CPU backend ---------------------------------------------------------------------

namespace cpu {
namespace {

int bi(std::int64_t v) {
  MINIDL_CHECK(v <= INT_MAX, ShapeError, "conv2d: dimension ", v,
               " exceeds the BLAS 32-bit index range");
  return static_cast<int>(v);
}

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_h == g.height && g.out_w == g.width;
}

// The output columns q whose input column q * stride + s - pad lies inside [0, W):
// [q_lo, q_hi). Outside it the window hangs over the zero padding.
void valid_columns(const Conv2dGeometry& g, std::int64_t s, std::int64_t& q_lo,
                   std::int64_t& q_hi) {
  const std::int64_t off = s - g.pad_left;  // w = q * stride + off
  q_lo = off >= 0 ? 0 : (-off + g.stride_w - 1) / g.stride_w;
  q_hi = off >= g.width ? 0 : std::min(g.out_w, (g.width - off + g.stride_w - 1) / g.stride_w);
  q_lo = std::min(q_lo, q_hi);
}

// col [C*K1*K2, (p1 - p0) * Q]: the columns of output rows [p0, p1) of one
// sample x [C, H, W]. Rows are copied in runs (a memcpy at stride 1) with the
// padding's zeros written around them.
void im2col(const Conv2dGeometry& g, const float* x, float* col, std::int64_t p0, std::int64_t p1) {
  const std::int64_t Q = g.out_w, sw = g.stride_w, ld = (p1 - p0) * Q;
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    const float* xc = x + c * g.height * g.width;
    for (std::int64_t r = 0; r < g.kernel_h; ++r) {
      for (std::int64_t s = 0; s < g.kernel_w; ++s) {
        float* row = col + ((c * g.kernel_h + r) * g.kernel_w + s) * ld;
        std::int64_t q_lo, q_hi;
        valid_columns(g, s, q_lo, q_hi);
        const std::int64_t off = s - g.pad_left;
        for (std::int64_t p = p0; p < p1; ++p) {
          const std::int64_t h = p * g.stride_h + r - g.pad_top;
          float* out = row + (p - p0) * Q;
          if (h < 0 || h >= g.height) {
            std::fill(out, out + Q, 0.0f);
            continue;
          }
          const float* xr = xc + h * g.width;  // xr[q * sw + off] is column q's input
          std::fill(out, out + q_lo, 0.0f);
          if (sw == 1) {
            std::copy(xr + q_lo + off, xr + q_hi + off, out + q_lo);
          } else {
            for (std::int64_t q = q_lo; q < q_hi; ++q) out[q] = xr[q * sw + off];
          }
          std::fill(out + q_hi, out + Q, 0.0f);
        }
      }
    }
  }
}

// dx [C, H, W] += col2im(col) for output rows [p0, p1): the transpose of im2col.
void col2im_add(const Conv2dGeometry& g, const float* col, float* dx, std::int64_t p0,
                std::int64_t p1) {
  const std::int64_t Q = g.out_w, sw = g.stride_w, ld = (p1 - p0) * Q;
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    float* dxc = dx + c * g.height * g.width;
    for (std::int64_t r = 0; r < g.kernel_h; ++r) {
      for (std::int64_t s = 0; s < g.kernel_w; ++s) {
        const float* row = col + ((c * g.kernel_h + r) * g.kernel_w + s) * ld;
        std::int64_t q_lo, q_hi;
        valid_columns(g, s, q_lo, q_hi);
        const std::int64_t off = s - g.pad_left;
        for (std::int64_t p = p0; p < p1; ++p) {
          const std::int64_t h = p * g.stride_h + r - g.pad_top;
          if (h < 0 || h >= g.height) continue;
          float* dxr = dxc + h * g.width;
          const float* in = row + (p - p0) * Q;
          if (sw == 1) {  // contiguous: a loop the compiler vectorizes
            float* dst = dxr + off;
            for (std::int64_t q = q_lo; q < q_hi; ++q) dst[q] += in[q];
          } else {
            for (std::int64_t q = q_lo; q < q_hi; ++q) dxr[q * sw + off] += in[q];
          }
        }
      }
    }
  }
}

// Output rows per im2col chunk: the chunk's columns (C K1 K2 x rows Q floats) stay
// within ~768 KB, so im2col's writes are still in L2 when SGEMM reads them (a
// whole ResNet-size sample's col, 7 MB, would go through DRAM twice).
std::int64_t chunk_rows(const Conv2dGeometry& g) {
  constexpr std::int64_t kChunkFloats = 196608;
  const std::int64_t ckk = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t cols = std::max(g.out_w, kChunkFloats / ckk);
  return is_pointwise(g) ? g.out_h : std::clamp<std::int64_t>(cols / g.out_w, 1, g.out_h);
}

// Samples in parallel (one per thread) when there are enough of them and the
// work pays for waking the threads (a parallel region costs microseconds, far
// more on an oversubscribed machine).
bool batch_parallel(const Conv2dGeometry& g) {
  return g.batch >= 2 && g.batch >= omp_get_max_threads() && g.forward_flops() > 4e6 &&
         !omp_in_parallel();
}

// sample(n, col) for every sample n, each thread with its own column buffer of col_size
// floats: samples in parallel when batch_parallel(g), else in order on this thread (an
// inactive region), leaving the cores to OpenBLAS inside each GEMM.
template <class F>
void for_each_sample(const Conv2dGeometry& g, std::size_t col_size, F&& sample) {
#pragma omp parallel if (batch_parallel(g))
  {
    std::vector<float> col(col_size);
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < g.batch; ++n) sample(n, col);
  }
}

// ---- direct path: one input channel, stride 1 ------------------------------------------
//
// The sample is copied into xp [hp, wp], zero-padded: xp[i, j] = x[i - pad_top, j -
// pad_left]. At stride 1, output (p, q) with tap (r, s) reads xp[p + r, q + s]. An output
// row is covered by qv = ceil(Q / 8) vectors; wp leaves room for the last vector's loads
// at every tap (its lanes past Q are never stored, and dy is loaded there as zeros).

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

bool cpu_has_avx2_fma() {
#if MINIDL_CONV_DIRECT_AVX2
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

// The direct path takes one input channel at stride 1 on an AVX2+FMA CPU, unless the
// samples are too few to occupy the threads and the work is large enough to want them
// (the GEMM path then threads inside OpenBLAS; the direct path runs samples in parallel).
bool use_direct(const Conv2dGeometry& g) {
  return g.in_channels == 1 && g.stride_h == 1 && g.stride_w == 1 && cpu_has_avx2_fma() &&
         (g.batch >= omp_get_max_threads() || g.forward_flops() <= 4e6);
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
        const __m256 xv = _mm256_loadu_ps(xrp + j + 8 * full);
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
#else   // built without x86 AVX2 support: use_direct() is false, these are never called
void direct_forward_sample(const Conv2dGeometry&, const DirectLayout&, const float*, const float*,
                           const float*, float*) {}
void direct_filter_sample(const Conv2dGeometry&, const DirectLayout&, const float*, const float*,
                          float*) {}
void direct_data_sample(const Conv2dGeometry&, const DirectLayout&, const float*, const float*,
                        float*, float*) {}
#endif  // MINIDL_CONV_DIRECT_AVX2

void direct_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y) {
  const DirectLayout l = direct_layout(g);
  const std::int64_t x_step = g.height * g.width, y_step = g.out_channels * g.out_h * g.out_w;
  const std::size_t xp_size = static_cast<std::size_t>(l.hp * l.wp);
#pragma omp parallel if (batch_parallel(g))
  {
    std::vector<float> xp(xp_size, 0.0f);
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < g.batch; ++n) {
      pad_sample(g, l, x + n * x_step, xp.data());
      direct_forward_sample(g, l, xp.data(), w, b, y + n * y_step);
    }
  }
}

void direct_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx) {
  const DirectLayout l = direct_layout(g);
  const std::int64_t x_step = g.height * g.width, y_step = g.out_channels * g.out_h * g.out_w;
  const std::size_t xp_size = static_cast<std::size_t>(l.hp * l.wp);
#pragma omp parallel if (batch_parallel(g))
  {
    std::vector<float> dxp(xp_size);
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < g.batch; ++n) {
      direct_data_sample(g, l, dy + n * y_step, w, dxp.data(), dx + n * x_step);
    }
  }
}

// dw = beta dw + the sum over samples: one partial per thread, summed in thread order
// (deterministic for a fixed thread count), as in the GEMM path.
void direct_backward_filter(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                            float beta) {
  const DirectLayout l = direct_layout(g);
  const std::int64_t x_step = g.height * g.width, y_step = g.out_channels * g.out_h * g.out_w;
  const std::int64_t wsize = g.out_channels * g.kernel_h * g.kernel_w;
  const std::size_t xp_size = static_cast<std::size_t>(l.hp * l.wp);
  const int threads = batch_parallel(g) ? omp_get_max_threads() : 1;
  std::vector<float> partial(static_cast<std::size_t>(threads * wsize), 0.0f);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    std::vector<float> xp(xp_size, 0.0f);
    float* acc = partial.data() + omp_get_thread_num() * wsize;
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < g.batch; ++n) {
      pad_sample(g, l, x + n * x_step, xp.data());
      direct_filter_sample(g, l, xp.data(), dy + n * y_step, acc);
    }
  }
  for (std::int64_t i = 0; i < wsize; ++i) {
    float s = 0.0f;
    for (int t = 0; t < threads; ++t) s += partial[static_cast<std::size_t>(t * wsize + i)];
    dw[i] = (beta == 0.0f ? 0.0f : beta * dw[i]) + s;
  }
}

}  // namespace

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y) {
  if (use_direct(g)) return direct_forward(g, x, w, b, y);
  const std::int64_t M = g.out_channels, PQ = g.out_h * g.out_w;
  const std::int64_t CKK = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t x_step = g.in_channels * g.height * g.width, y_step = M * PQ;
  const bool pointwise = is_pointwise(g);
  const std::int64_t rows = chunk_rows(g), Q = g.out_w;
  auto sample = [&](std::int64_t n, std::vector<float>& col) {
    float* yn = y + n * y_step;
    const float* xn = x + n * x_step;
    if (b != nullptr) {
      for (std::int64_t m = 0; m < M; ++m) std::fill(yn + m * PQ, yn + (m + 1) * PQ, b[m]);
    }
    for (std::int64_t p0 = 0; p0 < g.out_h; p0 += rows) {
      const std::int64_t p1 = std::min(g.out_h, p0 + rows), nc = (p1 - p0) * Q;
      const float* src = xn + p0 * Q;
      std::int64_t ld = PQ;
      if (!pointwise) {
        im2col(g, xn, col.data(), p0, p1);
        src = col.data();
        ld = nc;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(M), bi(nc), bi(CKK), 1.0f, w,
                  bi(CKK), src, bi(ld), b != nullptr ? 1.0f : 0.0f, yn + p0 * Q, bi(PQ));
    }
  };
  for_each_sample(g, pointwise ? 0 : static_cast<std::size_t>(CKK * rows * Q), sample);
}

void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx) {
  if (use_direct(g)) return direct_backward_data(g, dy, w, dx);
  const std::int64_t M = g.out_channels, PQ = g.out_h * g.out_w;
  const std::int64_t CKK = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t x_step = g.in_channels * g.height * g.width, y_step = M * PQ;
  const bool pointwise = is_pointwise(g);
  const std::int64_t rows = chunk_rows(g), Q = g.out_w;
  auto sample = [&](std::int64_t n, std::vector<float>& col) {
    float* dxn = dx + n * x_step;
    const float* dyn = dy + n * y_step;
    if (pointwise) {  // dx_n = w^T dy_n directly
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(CKK), bi(PQ), bi(M), 1.0f, w, bi(CKK),
                  dyn, bi(PQ), 0.0f, dxn, bi(PQ));
      return;
    }
    std::fill(dxn, dxn + x_step, 0.0f);
    for (std::int64_t p0 = 0; p0 < g.out_h; p0 += rows) {
      const std::int64_t p1 = std::min(g.out_h, p0 + rows), nc = (p1 - p0) * Q;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(CKK), bi(nc), bi(M), 1.0f, w, bi(CKK),
                  dyn + p0 * Q, bi(PQ), 0.0f, col.data(), bi(nc));
      col2im_add(g, col.data(), dxn, p0, p1);
    }
  };
  for_each_sample(g, pointwise ? 0 : static_cast<std::size_t>(CKK * rows * Q), sample);
}

void conv2d_backward_filter(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                            float beta) {
  if (use_direct(g)) return direct_backward_filter(g, x, dy, dw, beta);
  const std::int64_t M = g.out_channels, PQ = g.out_h * g.out_w;
  const std::int64_t CKK = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t x_step = g.in_channels * g.height * g.width, y_step = M * PQ;
  const std::int64_t wsize = M * CKK;
  const bool pointwise = is_pointwise(g);
  const std::int64_t rows = chunk_rows(g), Q = g.out_w;
  // acc [M, CKK] += dy_n [M, PQ] col_n^T [PQ, CKK], a chunk of output rows at a time
  auto sample = [&](std::int64_t n, std::vector<float>& col, float* acc) {
    const float* xn = x + n * x_step;
    const float* dyn = dy + n * y_step;
    for (std::int64_t p0 = 0; p0 < g.out_h; p0 += rows) {
      const std::int64_t p1 = std::min(g.out_h, p0 + rows), nc = (p1 - p0) * Q;
      const float* src = xn + p0 * Q;
      std::int64_t ld = PQ;
      if (!pointwise) {
        im2col(g, xn, col.data(), p0, p1);
        src = col.data();
        ld = nc;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(M), bi(CKK), bi(nc), 1.0f,
                  dyn + p0 * Q, bi(PQ), src, bi(ld), 1.0f, acc, bi(CKK));
    }
  };
  const std::size_t col_size = pointwise ? 0 : static_cast<std::size_t>(CKK * rows * Q);
  if (beta == 0.0f) std::fill(dw, dw + wsize, 0.0f);
  if (batch_parallel(g)) {
    const int threads = omp_get_max_threads();
    std::vector<float> partial(static_cast<std::size_t>(threads * wsize), 0.0f);
#pragma omp parallel num_threads(threads)
    {
      std::vector<float> col(col_size);
      float* acc = partial.data() + omp_get_thread_num() * wsize;
#pragma omp for schedule(static)
      for (std::int64_t n = 0; n < g.batch; ++n) sample(n, col, acc);
    }
    // dw += sum of the partials, in thread order.
#pragma omp parallel for schedule(static) if (wsize > 4096)
    for (std::int64_t i = 0; i < wsize; ++i) {
      float s = 0.0f;
      for (int t = 0; t < threads; ++t) s += partial[static_cast<std::size_t>(t * wsize + i)];
      dw[i] = (beta == 0.0f ? 0.0f : beta * dw[i]) + s;
    }
  } else {
    if (beta != 0.0f && beta != 1.0f) {
      for (std::int64_t i = 0; i < wsize; ++i) dw[i] *= beta;
    }
    std::vector<float> col(col_size);
    for (std::int64_t n = 0; n < g.batch; ++n) sample(n, col, dw);
  }
}

}  // namespace cpu

// ---- public ops ----------------------------------------------------------------------

namespace {

enum class Path { Cpu, Cudnn, Own };

Path choose(const char* op, const Conv2dGeometry& g, const Tensor& t, ConvBackend b) {
  if (t.device().is_cpu()) {
    MINIDL_CHECK(b == ConvBackend::Auto || b == ConvBackend::Cpu, DeviceError, op, ": backend '",
                 conv_backend_name(b), "' needs CUDA tensors, got CPU ones");
    return Path::Cpu;
  }
  MINIDL_CHECK(b != ConvBackend::Cpu, DeviceError, op,
               ": backend 'cpu' needs CPU tensors, got tensors on ", t.device());
  if (b == ConvBackend::Own) return Path::Own;
  if (b == ConvBackend::Cudnn) {
    MINIDL_CHECK(g.symmetric_padding(), ValueError, op,
                 ": cuDNN cannot pad asymmetrically (same padding of an even kernel: top ",
                 g.pad_top, ", bottom ", g.pad_bottom, ", left ", g.pad_left, ", right ",
                 g.pad_right, "); use backend 'own' or 'auto'");
    return Path::Cudnn;
  }
  return g.symmetric_padding() ? Path::Cudnn : Path::Own;
}

Shape output_shape(const Conv2dGeometry& g) {
  return Shape{g.batch, g.out_channels, g.out_h, g.out_w};
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                    const Conv2dParams& params) {
  const char* op = "conv2d_forward";
  detail::check_float(op, "x", x);
  detail::check_float(op, "w", w);
  detail::check_same_device(op, "x", x, "w", w);
  const Conv2dGeometry g = conv2d_geometry(x.shape(), w.shape(), params, op);
  if (b.defined()) {
    detail::check_float(op, "b", b);
    detail::check_same_device(op, "x", x, "b", b);
    MINIDL_CHECK(b.rank() == 1 && b.size(0) == g.out_channels, ShapeError, op, ": bias ", b.shape(),
                 " does not match ", g.out_channels, " output channels");
  }
  detail::prepare_output(op, y, output_shape(g), x.device());
  MINIDL_CHECK(y.storage() != x.storage(), ValueError, op, ": y must not share memory with x");
  const float* pb = b.defined() ? b.data<float>() : nullptr;
  switch (choose(op, g, x, params.backend)) {
    case Path::Cpu:
      cpu::conv2d_forward(g, x.data<float>(), w.data<float>(), pb, y.data<float>());
      break;
    case Path::Cudnn:
      MINIDL_CUDA_CALL(cuda::conv2d_forward_cudnn(g, x.data<float>(), w.data<float>(), pb,
                                                  y.data<float>(), x.device().index()));
      break;
    case Path::Own:
      MINIDL_CUDA_CALL(cuda::conv2d_forward_own(g, x.data<float>(), w.data<float>(), pb,
                                                y.data<float>(), x.device().index()));
      break;
  }
}

void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, Tensor& dx,
                          const Conv2dParams& params) {
  const char* op = "conv2d_backward_data";
  detail::check_float(op, "dy", dy);
  detail::check_float(op, "w", w);
  detail::check_same_device(op, "dy", dy, "w", w);
  const Conv2dGeometry g = conv2d_geometry(x_shape, w.shape(), params, op);
  MINIDL_CHECK(dy.shape() == output_shape(g), ShapeError, op, ": dy ", dy.shape(),
               " is not the output shape ", output_shape(g), " of input ", x_shape, " and weight ",
               w.shape());
  detail::prepare_output(op, dx, x_shape, dy.device());
  MINIDL_CHECK(dx.storage() != dy.storage(), ValueError, op, ": dx must not share memory with dy");
  switch (choose(op, g, dy, params.backend)) {
    case Path::Cpu:
      cpu::conv2d_backward_data(g, dy.data<float>(), w.data<float>(), dx.data<float>());
      break;
    case Path::Cudnn:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_data_cudnn(g, dy.data<float>(), w.data<float>(),
                                                        dx.data<float>(), dy.device().index()));
      break;
    case Path::Own:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_data_own(g, dy.data<float>(), w.data<float>(),
                                                      dx.data<float>(), dy.device().index()));
      break;
  }
}

void conv2d_backward_filter(const Tensor& x, const Tensor& dy, Tensor& dw,
                            const Conv2dParams& params, bool accumulate) {
  const char* op = "conv2d_backward_filter";
  detail::check_float(op, "x", x);
  detail::check_float(op, "dy", dy);
  detail::check_same_device(op, "x", x, "dy", dy);
  MINIDL_CHECK(dw.defined(), ValueError, op,
               ": dw must be given (its shape names the kernel size)");
  const Conv2dGeometry g = conv2d_geometry(x.shape(), dw.shape(), params, op);
  MINIDL_CHECK(dy.shape() == output_shape(g), ShapeError, op, ": dy ", dy.shape(),
               " is not the output shape ", output_shape(g), " of input ", x.shape(),
               " and weight ", dw.shape());
  detail::check_float(op, "dw", dw);
  detail::check_same_device(op, "x", x, "dw", dw);
  const float beta = accumulate ? 1.0f : 0.0f;
  switch (choose(op, g, x, params.backend)) {
    case Path::Cpu:
      cpu::conv2d_backward_filter(g, x.data<float>(), dy.data<float>(), dw.data<float>(), beta);
      break;
    case Path::Cudnn:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_filter_cudnn(
          g, x.data<float>(), dy.data<float>(), dw.data<float>(), beta, x.device().index()));
      break;
    case Path::Own:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_filter_own(
          g, x.data<float>(), dy.data<float>(), dw.data<float>(), beta, x.device().index()));
      break;
  }
}

void conv2d_backward_bias(const Tensor& dy, Tensor& db, bool accumulate) {
  const char* op = "conv2d_backward_bias";
  detail::check_float(op, "dy", dy);
  MINIDL_CHECK(dy.rank() == 4, ShapeError, op, ": dy must be [B, M, P, Q], got ", dy.shape());
  MINIDL_CHECK(!accumulate || db.defined(), ValueError, op, ": accumulating needs a defined db");
  detail::prepare_output(op, db, Shape{dy.size(1)}, dy.device());
  const std::int64_t B = dy.size(0), M = dy.size(1), PQ = dy.size(2) * dy.size(3);
  const float beta = accumulate ? 1.0f : 0.0f;
  if (dy.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::conv2d_backward_bias(dy.data<float>(), db.data<float>(), B, M, PQ, beta,
                                                dy.device().index()));
    return;
  }
  const float* g = dy.data<float>();
  float* out = db.data<float>();
  // Each row dy[n, m, :] is summed in kLanes float lanes (independent chains the
  // compiler vectorizes; a single double chain is bound by the add latency and made
  // this pass cost as much as a filter-gradient GEMM for the CNN's first layer), and
  // the rows' sums are added in double. The order is fixed: deterministic.
  constexpr std::int64_t kLanes = 16;
#pragma omp parallel for schedule(static) if (B * M * PQ > (1 << 16))
  for (std::int64_t m = 0; m < M; ++m) {
    double s = 0.0;
    for (std::int64_t n = 0; n < B; ++n) {
      const float* row = g + (n * M + m) * PQ;
      float lane[kLanes] = {};
      std::int64_t i = 0;
      for (; i + kLanes <= PQ; i += kLanes) {
        for (std::int64_t l = 0; l < kLanes; ++l) lane[l] += row[i + l];
      }
      double r = 0.0;
      for (; i < PQ; ++i) r += static_cast<double>(row[i]);
      for (std::int64_t l = 0; l < kLanes; ++l) r += static_cast<double>(lane[l]);
      s += r;
    }
    out[m] = static_cast<float>(s) + (accumulate ? beta * out[m] : 0.0f);
  }
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& params) {
  Tensor y;
  conv2d_forward(x, w, b, y, params);
  return y;
}

namespace {
// out[perm-indexed] = in: a 4-D transpose on the host. out dims are in dims
// permuted: out_dim[i] = in_dim[perm[i]].
Tensor permute4(const Tensor& t, const int perm[4], const char* op) {
  detail::check_float(op, "weight", t);
  MINIDL_CHECK(t.rank() == 4, ShapeError, op, ": needs a 4-D weight, got ", t.shape());
  const std::vector<float> in = t.to_vector<float>();
  const std::int64_t d[4] = {t.size(0), t.size(1), t.size(2), t.size(3)};
  const std::int64_t od[4] = {d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]};
  std::vector<float> out(in.size());
  std::int64_t idx[4];
  std::int64_t o = 0;
  for (idx[0] = 0; idx[0] < od[0]; ++idx[0])
    for (idx[1] = 0; idx[1] < od[1]; ++idx[1])
      for (idx[2] = 0; idx[2] < od[2]; ++idx[2])
        for (idx[3] = 0; idx[3] < od[3]; ++idx[3]) {
          std::int64_t src[4];
          for (int i = 0; i < 4; ++i) src[perm[i]] = idx[i];
          out[static_cast<std::size_t>(o++)] = in[static_cast<std::size_t>(
              ((src[0] * d[1] + src[1]) * d[2] + src[2]) * d[3] + src[3])];
        }
  return from_vector(out, Shape{od[0], od[1], od[2], od[3]}, t.device());
}
}  // namespace

Tensor conv_weight_from_course(const Tensor& w_course) {
  // (K1, K2, N, M) -> [M, N, K1, K2]: out axis i is in axis perm[i].
  static const int perm[4] = {3, 2, 0, 1};
  return permute4(w_course, perm, "conv_weight_from_course");
}

Tensor conv_weight_to_course(const Tensor& w) {
  // [M, N, K1, K2] -> (K1, K2, N, M)
  static const int perm[4] = {2, 3, 1, 0};
  return permute4(w, perm, "conv_weight_to_course");
}

}  // namespace minidl
