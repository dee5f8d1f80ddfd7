// CPU loops over the functors of kernels/functors.hpp (internal; not installed).
// Parallel on core/parallel.hpp's pool in chunks of kParallelAbove elements (so a loop
// of at most that many runs inline on the caller, where threads would not pay for
// themselves); vectorised at every size.
//
// The library is built for baseline x86-64 (SSE2: 4 floats a vector, no FMA).
// That is enough for loops that only move memory (ReLU runs at copy speed), not
// for the polynomial ones (sigmoid, tanh: about 12 instructions a float). map_wide
// runs the same functor, inlined into a copy of the loop compiled for AVX2+FMA
// (8 floats a vector, fused multiply-adds, blends; 3x the SSE2 loop's rate), when
// the CPU has both (core/cpu_features.hpp, asked once). The
// math stays written once, in functors.hpp; FMA contraction may move a result by
// an ulp or two against the SSE2 loop (tests/kernels/activation_test.cpp).
#pragma once

#include <cstdint>

#include "../core/cpu_features.hpp"
#include "../core/parallel.hpp"
#include "chunked_sum.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#define MINIDL_CPU_AVX2 1
#define MINIDL_TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace minidl::cpu_detail {

constexpr std::int64_t kParallelAbove = 1 << 15;
/// Terms per chunk of an elementwise loss's sum (chunked_sum.hpp).
constexpr std::int64_t kLossChunk = 1 << 14;

/// out[i] = f(in[i]...) for i in [begin, end), on the calling thread.
template <class F, class... In>
void map_range(float* out, std::int64_t begin, std::int64_t end, F f, const In*... in) {
#pragma omp simd
  for (std::int64_t i = begin; i < end; ++i) out[i] = f(in[i]...);
}

/// out[i] = f(in[i]...) for i < n. out may alias an input.
template <class F, class... In>
void map(float* out, std::int64_t n, F f, const In*... in) {
  parallel_for(n, kParallelAbove,
               [&](std::int64_t b, std::int64_t e) { map_range(out, b, e, f, in...); });
}

/// Whether this CPU runs AVX2 and FMA instructions (and so map_avx2): core/cpu_features.hpp.
using minidl::cpu_has_avx2_fma;

#if MINIDL_CPU_AVX2
/// map_range compiled for AVX2+FMA. Requires cpu_has_avx2_fma(). (The loop must sit in
/// this function: a lambda does not inherit its enclosing function's target.)
template <class F, class... In>
MINIDL_TARGET_AVX2 void map_range_avx2(float* out, std::int64_t begin, std::int64_t end, F f,
                                       const In*... in) {
#pragma omp simd
  for (std::int64_t i = begin; i < end; ++i) out[i] = f(in[i]...);
}

/// map on AVX2+FMA. Requires cpu_has_avx2_fma().
template <class F, class... In>
void map_avx2(float* out, std::int64_t n, F f, const In*... in) {
  parallel_for(n, kParallelAbove,
               [&](std::int64_t b, std::int64_t e) { map_range_avx2(out, b, e, f, in...); });
}
#endif

/// map for compute-heavy functors: map_avx2 where the CPU has AVX2+FMA, else map.
/// `baseline` forces map (for tests that compare the two).
template <class F, class... In>
void map_wide(bool baseline, float* out, std::int64_t n, F f, const In*... in) {
#if MINIDL_CPU_AVX2
  if (!baseline && cpu_has_avx2_fma()) return map_avx2(out, n, f, in...);
#endif
  (void)baseline;
  map(out, n, f, in...);
}

/// grad[i] = scale * d loss_i, returns sum_i loss_i (in double) for an elementwise loss f.
/// The sum's bits do not depend on the thread count (chunked_sum.hpp).
template <class F>
double loss(const float* z, const float* y, float* grad, std::int64_t n, float grad_scale, F f) {
  return chunked_sum(n, kLossChunk, 1, [&](std::int64_t i) {
    float g;
    const auto l = static_cast<double>(f(z[i], y[i], &g));
    grad[i] = g * grad_scale;
    return l;
  });
}

}  // namespace minidl::cpu_detail
