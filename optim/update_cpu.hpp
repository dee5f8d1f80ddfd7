// The CPU loop of the optimizer updates (internal to minidl's sources): calls an
// optim_math functor on every element, OpenMP-parallel above a size where
// threads pay for themselves and vectorised within each thread.
#pragma once

#include <cstdint>

namespace minidl::optim_detail {

constexpr std::int64_t kParallelAbove = 1 << 15;

/// f(p[0][j], p[1][j], ...) for j < n; f takes the arrays it updates by reference.
/// A local const copy makes f's flags and scalars loop invariants the vectoriser
/// can hoist. Not firstprivate: that gives every SIMD lane its own copy and GCC
/// then refuses to vectorise. The if clause is limited to `parallel`: a plain
/// `if` also turns the simd part off for small n (OpenMP 5.0).
template <class F, class... P>
void for_each_element(std::int64_t n, const F& update, P*... p) {
  const F f = update;
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelAbove)
  for (std::int64_t j = 0; j < n; ++j) f(p[j]...);
}

}  // namespace minidl::optim_detail
