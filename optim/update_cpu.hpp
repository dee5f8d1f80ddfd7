// The CPU loop of the optimizer updates (internal to minidl's sources): calls an
// optim_math functor on every element, OpenMP-parallel above a size where
// threads pay for themselves and vectorised within each thread.
#pragma once

#include <cstdint>

namespace minidl::optim_detail {

constexpr std::int64_t kParallelAbove = 1 << 15;

/// f(p[0][j], p[1][j], ...) for j < n; f takes the arrays it updates by reference.
/// firstprivate gives each thread its own copy of f, so its flags and scalars are
/// loop invariants the vectoriser can hoist (a shared f is read through a pointer).
template <class F, class... P>
void for_each_element(std::int64_t n, const F& update, P*... p) {
  F f = update;
#pragma omp parallel for simd schedule(static) firstprivate(f) if (n > kParallelAbove)
  for (std::int64_t j = 0; j < n; ++j) f(p[j]...);
}

}  // namespace minidl::optim_detail
