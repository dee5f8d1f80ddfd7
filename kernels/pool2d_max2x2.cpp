// Max pooling with a 2x2 window at stride 2 (the CNN's) in AVX2 (kernels/pool2d_max2x2.hpp).
//
// Why: the general loops (kernels/pool2d.cpp over pool2d_math.hpp) find each window's
// winner with a scalar compare-and-branch per element, which mispredicts on about every
// other element of real activations: pooling conv1's output [128, 32, 28, 28] took about
// 4 ms each way, several times its memory traffic, and 8% of the CNN's training step.
// Here 8 windows at once run the same rule as vector compares and blends, without a branch:
//   v takes over from best  <=>  best is not a NaN, and v is a NaN or v > best
// over the window's elements a, b, c, d (row-major order), which is window_argmax's rule
// (the first maximum; the first NaN for good). Backward knows the winner of each lane from
// the same three steps and writes all four elements of every window (0 + dy at the winner,
// +0 elsewhere: the general loops' sum over a zeroed dx), so dx needs no separate zeroing.
//
// Layouts (kernels/layout.hpp):
//   x NCHW      8 windows = 16 consecutive floats of each of the window's two rows, split
//               into even and odd columns by a shuffle; backward interleaves them back.
//   x blocked   8 windows = one window of 8 channels: each element is one vector load
//               (NCHW16c: a position's 16 channels as two such vectors in turn).
//   y / dy in the other layout than x: the L channels (8 or 16) of a (sample, channel
//               block) group go through a scratch [L, P Q] <-> [P Q, L] with 8x8 transposes.
// The file is built for baseline x86-64; the kernels carry target attributes and run only
// where core/cpu_features.hpp reports AVX2 (max2x2_applies).

#include "pool2d_max2x2.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#define MINIDL_POOL_AVX2 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <vector>

#include "../core/cpu_features.hpp"
#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "functors.hpp"

namespace minidl::cpu::pool_detail {

namespace {

constexpr std::int64_t kV = 8;  // floats per AVX2 vector

// dx of an element no window covers (the last row or column of an odd-sized plane).
inline float uncovered(float x, bool relu) { return relu ? fn::ReluBackward()(0.0f, x) : 0.0f; }

#if MINIDL_POOL_AVX2
#define MINIDL_AVX2 __attribute__((target("avx2")))

// Lanes [0, n) set.
MINIDL_AVX2 inline __m256i lane_mask(std::int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Where v takes over from best (all ones) under the window rule.
MINIDL_AVX2 inline __m256 takes(__m256 best, __m256 v) {
  const __m256 best_ok = _mm256_cmp_ps(best, best, _CMP_ORD_Q);
  const __m256 v_wins =
      _mm256_or_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(v, best, _CMP_GT_OQ));
  return _mm256_and_ps(best_ok, v_wins);
}

// The elements of 8 windows, in row-major window order.
struct Window {
  __m256 a, b, c, d;
};

MINIDL_AVX2 inline __m256 window_max(const Window& w) {
  __m256 best = _mm256_blendv_ps(w.a, w.b, takes(w.a, w.b));
  best = _mm256_blendv_ps(best, w.c, takes(best, w.c));
  return _mm256_blendv_ps(best, w.d, takes(best, w.d));
}

// fn::ReluBackward in 8 lanes: x > 0 ? v : (x <= 0 ? 0 : x).
MINIDL_AVX2 inline __m256 relu_grad(__m256 v, __m256 x) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 kept = _mm256_andnot_ps(_mm256_cmp_ps(x, zero, _CMP_LE_OQ), x);  // NaN stays
  return _mm256_blendv_ps(kept, v, _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
}

// dx of the window's four elements given the window's dy.
MINIDL_AVX2 inline Window window_grad(const Window& w, __m256 dy, bool relu) {
  const __m256 tb = takes(w.a, w.b);
  __m256 best = _mm256_blendv_ps(w.a, w.b, tb);
  const __m256 tc = takes(best, w.c);
  best = _mm256_blendv_ps(best, w.c, tc);
  const __m256 td = takes(best, w.d);
  // The winner is the last element that took over (a when none did).
  const __m256 g = _mm256_add_ps(_mm256_setzero_ps(), dy);  // 0 + dy: -0 lands as +0
  const __m256 after_b = _mm256_or_ps(tc, td);
  Window r;
  r.d = _mm256_and_ps(td, g);
  r.c = _mm256_andnot_ps(td, _mm256_and_ps(tc, g));
  r.b = _mm256_andnot_ps(after_b, _mm256_and_ps(tb, g));
  r.a = _mm256_andnot_ps(_mm256_or_ps(after_b, tb), g);
  if (relu) {
    r.a = relu_grad(r.a, w.a);
    r.b = relu_grad(r.b, w.b);
    r.c = relu_grad(r.c, w.c);
    r.d = relu_grad(r.d, w.d);
  }
  return r;
}

// lo, hi = 16 consecutive floats -> their even and odd elements.
MINIDL_AVX2 inline void deinterleave(__m256 lo, __m256 hi, __m256& even, __m256& odd) {
  even = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
}

// even, odd -> lo, hi = the 16 floats even[0], odd[0], even[1], odd[1], ...
MINIDL_AVX2 inline void interleave(__m256 even, __m256 odd, __m256& lo, __m256& hi) {
  const __m256 l = _mm256_unpacklo_ps(even, odd), h = _mm256_unpackhi_ps(even, odd);
  lo = _mm256_permute2f128_ps(l, h, 0x20);
  hi = _mm256_permute2f128_ps(l, h, 0x31);
}

// The 8 windows whose top-left elements are x0[0], x0[2], ... (row 2p) over x1 (row 2p+1);
// n2 = the floats of each row to read (16, fewer at a row's end: the rest load as zeros).
MINIDL_AVX2 inline Window load_rows(const float* x0, const float* x1, std::int64_t n2) {
  __m256 lo0, hi0, lo1, hi1;
  if (n2 >= 16) {
    lo0 = _mm256_loadu_ps(x0);
    hi0 = _mm256_loadu_ps(x0 + kV);
    lo1 = _mm256_loadu_ps(x1);
    hi1 = _mm256_loadu_ps(x1 + kV);
  } else {
    const __m256i ml = lane_mask(std::min<std::int64_t>(n2, kV)), mh = lane_mask(n2 - kV);
    lo0 = _mm256_maskload_ps(x0, ml);
    hi0 = _mm256_maskload_ps(x0 + kV, mh);
    lo1 = _mm256_maskload_ps(x1, ml);
    hi1 = _mm256_maskload_ps(x1 + kV, mh);
  }
  Window w;
  deinterleave(lo0, hi0, w.a, w.b);
  deinterleave(lo1, hi1, w.c, w.d);
  return w;
}

// Stores lo, hi (16 floats) at d, or their first n2.
MINIDL_AVX2 inline void store_pair(float* d, __m256 lo, __m256 hi, std::int64_t n2) {
  if (n2 >= 16) {
    _mm256_storeu_ps(d, lo);
    _mm256_storeu_ps(d + kV, hi);
  } else {
    _mm256_maskstore_ps(d, lane_mask(std::min<std::int64_t>(n2, kV)), lo);
    _mm256_maskstore_ps(d + kV, lane_mask(n2 - kV), hi);
  }
}

// y [P, Q] = max pooling of one NCHW plane x [H, W].
MINIDL_AVX2 void forward_plane(const Pool2dGeometry& g, const float* x, float* y) {
  for (std::int64_t p = 0; p < g.P; ++p) {
    const float* x0 = x + 2 * p * g.W;
    float* yp = y + p * g.Q;
    for (std::int64_t q = 0; q < g.Q; q += kV) {
      const std::int64_t n = std::min<std::int64_t>(kV, g.Q - q);
      const __m256 m = window_max(load_rows(x0 + 2 * q, x0 + g.W + 2 * q, 2 * n));
      if (n == kV) {
        _mm256_storeu_ps(yp + q, m);
      } else {
        _mm256_maskstore_ps(yp + q, lane_mask(n), m);
      }
    }
  }
}

// dx [H, W] of one NCHW plane x given dy [P, Q]: every element written.
MINIDL_AVX2 void backward_plane(const Pool2dGeometry& g, const float* x, const float* dy, float* dx,
                                bool relu) {
  for (std::int64_t p = 0; p < g.P; ++p) {
    const float* x0 = x + 2 * p * g.W;
    const float* x1 = x0 + g.W;
    float* d0 = dx + 2 * p * g.W;
    float* d1 = d0 + g.W;
    const float* dyp = dy + p * g.Q;
    for (std::int64_t q = 0; q < g.Q; q += kV) {
      const std::int64_t n = std::min<std::int64_t>(kV, g.Q - q);
      const __m256 dv =
          n == kV ? _mm256_loadu_ps(dyp + q) : _mm256_maskload_ps(dyp + q, lane_mask(n));
      const Window r = window_grad(load_rows(x0 + 2 * q, x1 + 2 * q, 2 * n), dv, relu);
      __m256 lo, hi;
      interleave(r.a, r.b, lo, hi);
      store_pair(d0 + 2 * q, lo, hi, 2 * n);
      interleave(r.c, r.d, lo, hi);
      store_pair(d1 + 2 * q, lo, hi, 2 * n);
    }
    for (std::int64_t w = 2 * g.Q; w < g.W; ++w) {
      d0[w] = uncovered(x0[w], relu);
      d1[w] = uncovered(x1[w], relu);
    }
  }
  for (std::int64_t i = 2 * std::int64_t{g.P} * g.W; i < std::int64_t{g.H} * g.W; ++i)
    dx[i] = uncovered(x[i], relu);
}

// y [P Q, L] = max pooling of one channel group x [H W, L] (L = 8 or 16: a blocked layout),
// 8 channels at a time.
MINIDL_AVX2 void forward_group(const Pool2dGeometry& g, const float* x, float* y, std::int64_t L) {
  for (std::int64_t p = 0; p < g.P; ++p) {
    const float* x0 = x + 2 * p * g.W * L;
    const float* x1 = x0 + g.W * L;
    float* yp = y + p * g.Q * L;
    for (std::int64_t q = 0; q < g.Q; ++q) {
      for (std::int64_t c = 0; c < L; c += kV) {
        const std::int64_t i0 = 2 * q * L + c, i1 = (2 * q + 1) * L + c;
        const Window w{_mm256_loadu_ps(x0 + i0), _mm256_loadu_ps(x0 + i1), _mm256_loadu_ps(x1 + i0),
                       _mm256_loadu_ps(x1 + i1)};
        _mm256_storeu_ps(yp + q * L + c, window_max(w));
      }
    }
  }
}

// dx at position i of a channel group that no window covers.
MINIDL_AVX2 inline void uncovered_group(const float* x, float* dx, std::int64_t i, bool relu,
                                        std::int64_t L) {
  const __m256 zero = _mm256_setzero_ps();
  for (std::int64_t c = i * L; c < (i + 1) * L; c += kV)
    _mm256_storeu_ps(dx + c, relu ? relu_grad(zero, _mm256_loadu_ps(x + c)) : zero);
}

// dx [H W, L] of one channel group x [H W, L] given dy [P Q, L]: every element written.
MINIDL_AVX2 void backward_group(const Pool2dGeometry& g, const float* x, const float* dy, float* dx,
                                bool relu, std::int64_t L) {
  for (std::int64_t p = 0; p < g.P; ++p) {
    const std::int64_t r0 = 2 * p * g.W, r1 = r0 + g.W;  // positions starting rows 2p, 2p+1
    for (std::int64_t q = 0; q < g.Q; ++q) {
      for (std::int64_t c = 0; c < L; c += kV) {
        const std::int64_t a = (r0 + 2 * q) * L + c, b = a + L;  // floats of a, b, c, d
        const std::int64_t e = (r1 + 2 * q) * L + c, f = e + L;
        const Window w{_mm256_loadu_ps(x + a), _mm256_loadu_ps(x + b), _mm256_loadu_ps(x + e),
                       _mm256_loadu_ps(x + f)};
        const Window r = window_grad(w, _mm256_loadu_ps(dy + (p * g.Q + q) * L + c), relu);
        _mm256_storeu_ps(dx + a, r.a);
        _mm256_storeu_ps(dx + b, r.b);
        _mm256_storeu_ps(dx + e, r.c);
        _mm256_storeu_ps(dx + f, r.d);
      }
    }
    for (std::int64_t w = 2 * g.Q; w < g.W; ++w) {
      uncovered_group(x, dx, r0 + w, relu, L);
      uncovered_group(x, dx, r1 + w, relu, L);
    }
  }
  for (std::int64_t i = 2 * std::int64_t{g.P} * g.W; i < std::int64_t{g.H} * g.W; ++i)
    uncovered_group(x, dx, i, relu, L);
}

// dst [j, i] = src [i, j] for an 8x8 block; rows of src ss floats apart, of dst ds apart.
MINIDL_AVX2 inline void transpose8(const float* src, std::int64_t ss, float* dst,
                                   std::int64_t ds) {
  __m256 r[8], t[8], s[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ss);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ds, _mm256_permute2f128_ps(s[i], s[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ds, _mm256_permute2f128_ps(s[i], s[i + 4], 0x31));
  }
}

// [L, n] (L planes of n) -> [n, L] (a channel group), and back; 8x8 blocks.
MINIDL_AVX2 void planes_to_group(const float* src, std::int64_t n, float* dst, std::int64_t L) {
  std::int64_t j = 0;
  for (; j + kV <= n; j += kV)
    for (std::int64_t c = 0; c < L; c += kV) transpose8(src + c * n + j, n, dst + j * L + c, L);
  for (; j < n; ++j)
    for (std::int64_t c = 0; c < L; ++c) dst[j * L + c] = src[c * n + j];
}

MINIDL_AVX2 void group_to_planes(const float* src, std::int64_t n, float* dst, std::int64_t L) {
  std::int64_t j = 0;
  for (; j + kV <= n; j += kV)
    for (std::int64_t c = 0; c < L; c += kV) transpose8(src + j * L + c, L, dst + c * n + j, n);
  for (; j < n; ++j)
    for (std::int64_t c = 0; c < L; ++c) dst[c * n + j] = src[j * L + c];
}

#undef MINIDL_AVX2
#else   // built without x86 AVX2 support: max2x2_applies() is false and these never run
[[noreturn]] void not_built() {
  throw Error("max pooling 2x2: the AVX2 kernels are not built on this platform");
}
void forward_plane(const Pool2dGeometry&, const float*, float*) { not_built(); }
void backward_plane(const Pool2dGeometry&, const float*, const float*, float*, bool) {
  not_built();
}
void forward_group(const Pool2dGeometry&, const float*, float*, std::int64_t) { not_built(); }
void backward_group(const Pool2dGeometry&, const float*, const float*, float*, bool, std::int64_t) {
  not_built();
}
void planes_to_group(const float*, std::int64_t, float*, std::int64_t) { not_built(); }
void group_to_planes(const float*, std::int64_t, float*, std::int64_t) { not_built(); }
#endif  // MINIDL_POOL_AVX2

}  // namespace

bool max2x2_applies(const Pool2dGeometry& g) {
#if MINIDL_POOL_AVX2
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
         cpu_features().avx2;
#else
  (void)g;
  return false;
#endif
}

// Both passes run over planes when x and y are NCHW, else over the (sample, channel block)
// groups of the blocked operand's layout (L = 8 or 16 channels; the public ops allow no two
// different blocked layouts): L consecutive planes in NCHW, one [H W, L] block in the
// blocked layout, starting at the same offset L k H W in either (kernels/layout.hpp). About
// 32K input floats per chunk.
void max2x2_forward(const Pool2dGeometry& g, Layout x_layout, Layout y_layout, const float* x,
                    float* y) {
  const std::int64_t in_plane = std::int64_t{g.H} * g.W, out_plane = std::int64_t{g.P} * g.Q;
  if (x_layout == Layout::NCHW && y_layout == Layout::NCHW) {
    parallel_for(std::int64_t{g.B} * g.C, grain_for(in_plane, 1 << 15),
                 [&](std::int64_t begin, std::int64_t end) {
                   for (std::int64_t pl = begin; pl < end; ++pl)
                     forward_plane(g, x + pl * in_plane, y + pl * out_plane);
                 });
    return;
  }
  const std::int64_t L = channel_block(x_layout != Layout::NCHW ? x_layout : y_layout);
  const std::int64_t in_group = in_plane * L, out_group = out_plane * L;
  parallel_for(std::int64_t{g.B} * g.C / L, grain_for(in_group, 1 << 15),
               [&](std::int64_t begin, std::int64_t end) {
                 std::vector<float> scratch(
                     x_layout == y_layout ? 0 : static_cast<std::size_t>(out_group));
                 for (std::int64_t k = begin; k < end; ++k) {
                   const float* xg = x + k * in_group;
                   float* yg = y + k * out_group;
                   if (x_layout == y_layout) {
                     forward_group(g, xg, yg, L);
                   } else if (x_layout != Layout::NCHW) {
                     forward_group(g, xg, scratch.data(), L);
                     group_to_planes(scratch.data(), out_plane, yg, L);
                   } else {
                     for (std::int64_t c = 0; c < L; ++c)
                       forward_plane(g, xg + c * in_plane, scratch.data() + c * out_plane);
                     planes_to_group(scratch.data(), out_plane, yg, L);
                   }
                 }
               });
}

void max2x2_backward(const Pool2dGeometry& g, Layout x_layout, Layout y_layout, const float* x,
                     const float* dy, float* dx, bool through_relu) {
  const std::int64_t in_plane = std::int64_t{g.H} * g.W, out_plane = std::int64_t{g.P} * g.Q;
  if (x_layout == Layout::NCHW && y_layout == Layout::NCHW) {
    parallel_for(std::int64_t{g.B} * g.C, grain_for(in_plane, 1 << 15),
                 [&](std::int64_t begin, std::int64_t end) {
                   for (std::int64_t pl = begin; pl < end; ++pl)
                     backward_plane(g, x + pl * in_plane, dy + pl * out_plane, dx + pl * in_plane,
                                    through_relu);
                 });
    return;
  }
  const std::int64_t L = channel_block(x_layout != Layout::NCHW ? x_layout : y_layout);
  const std::int64_t in_group = in_plane * L, out_group = out_plane * L;
  parallel_for(std::int64_t{g.B} * g.C / L, grain_for(in_group, 1 << 15),
               [&](std::int64_t begin, std::int64_t end) {
                 std::vector<float> scratch(
                     x_layout == y_layout ? 0 : static_cast<std::size_t>(out_group));
                 for (std::int64_t k = begin; k < end; ++k) {
                   const float* xg = x + k * in_group;
                   const float* dyg = dy + k * out_group;
                   float* dxg = dx + k * in_group;
                   if (x_layout == y_layout) {
                     backward_group(g, xg, dyg, dxg, through_relu, L);
                   } else if (x_layout != Layout::NCHW) {
                     planes_to_group(dyg, out_plane, scratch.data(), L);
                     backward_group(g, xg, scratch.data(), dxg, through_relu, L);
                   } else {
                     group_to_planes(dyg, out_plane, scratch.data(), L);
                     for (std::int64_t c = 0; c < L; ++c)
                       backward_plane(g, xg + c * in_plane, scratch.data() + c * out_plane,
                                      dxg + c * in_plane, through_relu);
                   }
                 }
               });
}

}  // namespace minidl::cpu::pool_detail
