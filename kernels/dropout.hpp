// Inverted dropout with a counter-based mask: element i is kept when the Philox
// word i of the draw (seed, offset) gives uniform01 >= p, and kept values are
// scaled by 1 / (1 - p). The mask is never stored: backward recomputes it from
// the same draw, and CPU and CUDA make the same mask for the same draw.
// A dropped element becomes x * 0 (so NaN stays NaN, as in PyTorch).
#pragma once

#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace minidl {

/// y = x * mask / (1 - p). Requires 0 <= p < 1 (ValueError), float32, equal shapes.
/// y may be x (in place); an undefined y is allocated.
void dropout_forward(const Tensor& x, Tensor& y, float p, Generator::Draw draw);
/// dx = dy * mask / (1 - p) with the mask of the same draw. dx may be dy.
void dropout_backward(const Tensor& dy, Tensor& dx, float p, Generator::Draw draw);

namespace cuda {
void dropout(const float* in, float* out, std::int64_t n, float p, Generator::Draw draw,
             int device);
}  // namespace cuda

/// The shared mask math: MINIDL_HD so the CPU loop and the CUDA kernel agree.
struct DropoutMask {
  float p;
  float scale;
  MINIDL_HD MINIDL_INLINE float operator()(std::uint32_t bits, float x) const {
    return x * (uniform01(bits) >= p ? scale : 0.0f);
  }
};

}  // namespace minidl
