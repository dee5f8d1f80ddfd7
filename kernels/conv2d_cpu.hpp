// Internal to the CPU convolution backends (kernels/conv2d_im2col.cpp,
// kernels/conv2d_direct.cpp, kernels/conv2d_onednn.cpp); not installed.
#pragma once

#include <omp.h>

#include "conv2d.hpp"
#include "functors.hpp"

namespace minidl::cpu::conv_detail {

/// Samples in parallel (one per thread) when there are enough of them and the work pays
/// for waking the threads (a parallel region costs microseconds, far more on an
/// oversubscribed machine).
inline bool batch_parallel(const Conv2dGeometry& g) {
  return g.batch >= 2 && g.batch >= omp_get_max_threads() && g.forward_flops() > 4e6 &&
         !omp_in_parallel();
}

/// y[i] = max(0, y[i]) for n floats (ReLU's functor: NaN stays NaN), on one thread: the
/// caller runs it on a sample it has just written, while that sample is in cache.
inline void relu_in_place(float* y, std::int64_t n) {
  const fn::ReluForward f;
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(y[i]);
}

// The AVX2 direct path (kernels/conv2d_direct.cpp): one input channel, stride 1.
/// Whether it takes g on this CPU (AVX2+FMA) at this thread count.
bool direct_applies(const Conv2dGeometry& g);
/// As cpu::conv2d_forward / _backward_data / _backward_filter; require direct_applies(g).
void direct_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y, bool relu = false);
void direct_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx);
void direct_backward_filter(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                            float beta);

}  // namespace minidl::cpu::conv_detail
