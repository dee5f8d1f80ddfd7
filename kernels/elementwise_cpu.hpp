// CPU loops over the functors of kernels/functors.hpp (internal; not installed).
// OpenMP-parallel above a size where threads pay for themselves; vectorised at
// every size (the if clauses name `parallel`: a plain `if` would also switch the
// simd part off for small loops).
#pragma once

#include <cstdint>

namespace minidl::cpu_detail {

constexpr std::int64_t kParallelAbove = 1 << 15;

/// out[i] = f(in[i]...) for i < n. out may alias an input.
template <class F, class... In>
void map(float* out, std::int64_t n, F f, const In*... in) {
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelAbove)
  for (std::int64_t i = 0; i < n; ++i) out[i] = f(in[i]...);
}

/// grad[i] = scale * d loss_i, returns sum_i loss_i (in double) for an elementwise loss f.
template <class F>
double loss(const float* z, const float* y, float* grad, std::int64_t n, float grad_scale, F f) {
  double total = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : total) if (parallel : n > kParallelAbove)
  for (std::int64_t i = 0; i < n; ++i) {
    float g;
    total += static_cast<double>(f(z[i], y[i], &g));
    grad[i] = g * grad_scale;
  }
  return total;
}

}  // namespace minidl::cpu_detail
