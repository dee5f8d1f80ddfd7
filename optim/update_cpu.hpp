// The CPU loop of the optimizer updates (internal to minidl's sources): calls an
// optim_math functor on every element, in parallel on core/parallel.hpp's pool in
// chunks of kParallelAbove elements (smaller tensors run inline, where threads would not
// pay for themselves) and vectorised within each chunk.
#pragma once

#include <cstdint>

#include "../core/parallel.hpp"

namespace minidl::optim_detail {

constexpr std::int64_t kParallelAbove = 1 << 15;

/// f(p[0][j], p[1][j], ...) for j in [begin, end) on the calling thread. A local const
/// copy makes f's flags and scalars loop invariants the vectoriser can hoist.
template <class F, class... P>
void for_each_element_range(std::int64_t begin, std::int64_t end, const F& update, P*... p) {
  const F f = update;
#pragma omp simd
  for (std::int64_t j = begin; j < end; ++j) f(p[j]...);
}

/// f(p[0][j], p[1][j], ...) for j < n; f takes the arrays it updates by reference.
template <class F, class... P>
void for_each_element(std::int64_t n, const F& update, P*... p) {
  parallel_for(n, kParallelAbove,
               [&](std::int64_t b, std::int64_t e) { for_each_element_range(b, e, update, p...); });
}

}  // namespace minidl::optim_detail
