// The CPU loop of the optimizer updates (internal to minidl's sources): calls an
// optim_math functor on every element, in parallel on core/parallel.hpp's pool in
// chunks of kParallelAbove elements (smaller tensors run inline, where threads would not
// pay for themselves) and vectorised within each chunk.
//
// The library is built for baseline x86-64 (SSE2: 4 floats a vector). Adam's update is
// bound by its square root and two divisions (about 2.7 cycles an element in SSE2 on the
// AVX-512 build machine of 2026-12-07: 246 us of a 1.49 ms MLP step at one thread), so
// where the CPU has AVX2 (core/cpu_features.hpp) the same functor runs inlined into a copy
// of the loop compiled for AVX2 (8 floats a vector): 1.9x faster on Adam's update there.
// The results are bit-identical to the SSE2 loop's (a NaN may come out with another sign or
// payload: which of two NaN operands an operation returns follows the operand order the
// compiler picked): the copy is compiled for AVX2 without FMA (and optim/ with
// -ffp-contract=off), so nothing is fused, and every operation of the functors (+ - * /,
// sqrt) is correctly rounded IEEE arithmetic at any vector width
// (tests/optim/update_cpu_test.cpp).
#pragma once

#include <cstdint>

#include "../core/cpu_features.hpp"
#include "../core/parallel.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#define MINIDL_OPTIM_AVX2 1
#define MINIDL_OPTIM_TARGET_AVX2 __attribute__((target("avx2")))
#endif

namespace minidl::optim_detail {

constexpr std::int64_t kParallelAbove = 1 << 15;

/// f(p[0][j], p[1][j], ...) for j in [begin, end) on the calling thread, in baseline SSE2.
/// A local const copy makes f's flags and scalars loop invariants the vectoriser can hoist.
template <class F, class... P>
void for_each_element_range(std::int64_t begin, std::int64_t end, const F& update, P*... p) {
  const F f = update;
#pragma omp simd
  for (std::int64_t j = begin; j < end; ++j) f(p[j]...);
}

#if MINIDL_OPTIM_AVX2
/// The same loop compiled for AVX2; call only where cpu_features().avx2.
template <class F, class... P>
MINIDL_OPTIM_TARGET_AVX2 void for_each_element_range_avx2(std::int64_t begin, std::int64_t end,
                                                          const F& update, P*... p) {
  const F f = update;
#pragma omp simd
  for (std::int64_t j = begin; j < end; ++j) f(p[j]...);
}
#endif

/// f(p[0][j], p[1][j], ...) for j < n; f takes the arrays it updates by reference.
template <class F, class... P>
void for_each_element(std::int64_t n, const F& update, P*... p) {
#if MINIDL_OPTIM_AVX2
  if (cpu_features().avx2) {
    parallel_for(n, kParallelAbove, [&](std::int64_t b, std::int64_t e) {
      for_each_element_range_avx2(b, e, update, p...);
    });
    return;
  }
#endif
  parallel_for(n, kParallelAbove,
               [&](std::int64_t b, std::int64_t e) { for_each_element_range(b, e, update, p...); });
}

}  // namespace minidl::optim_detail
