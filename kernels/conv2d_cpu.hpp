// Internal to the CPU convolution backends (kernels/conv2d_im2col.cpp,
// kernels/conv2d_direct.cpp, kernels/conv2d_onednn.cpp); not installed.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../core/parallel.hpp"
#include "conv2d.hpp"
#include "functors.hpp"

namespace minidl::cpu::conv_detail {

/// Samples in parallel (core/parallel.hpp's pool) when there are enough of them and the
/// work pays for waking the threads (a parallel loop costs microseconds).
inline bool batch_parallel(const Conv2dGeometry& g) {
  return g.batch >= 2 && g.batch >= cpu_threads() && g.forward_flops() > 4e6 &&
         !in_parallel_region() && !omp_in_parallel();
}

/// Samples per chunk of a batch-parallel loop: about 8 chunks, so the pool can balance
/// them, fixed by the batch (not the thread count).
inline std::int64_t sample_grain(const Conv2dGeometry& g) {
  return std::max<std::int64_t>(1, (g.batch + 7) / 8);
}

/// A scratch buffer of at least `size` floats that belongs to the calling thread (kept
/// between calls: the pool's threads live on). `slot` tells a caller's buffers apart.
inline float* thread_scratch(std::size_t size, int slot = 0) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (b.size() < size) b.resize(size);
  return b.data();
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
