// Max pooling with a 2x2 window at stride 2 and no padding on the CPU: the CNN's pooling,
// in AVX2 (kernels/pool2d_max2x2.cpp). Internal to kernels/pool2d.cpp (not installed).
#pragma once

#include "pool2d.hpp"

namespace minidl::cpu::pool_detail {

/// Whether the kernels below take g: a 2x2 window at stride 2 without padding, on a CPU
/// with AVX2 (core/cpu_features.hpp).
bool max2x2_applies(const Pool2dGeometry& g);

/// y = max pooling of x (x in x_layout, y in y_layout: kernels/layout.hpp), the bits of
/// the general loops (pool2d_math.hpp's window rule: the first maximum in row-major window
/// order, the first NaN for good). Requires max2x2_applies(g); a blocked operand requires
/// C % 8 == 0.
void max2x2_forward(const Pool2dGeometry& g, Layout x_layout, Layout y_layout, const float* x,
                    float* y);

/// dx = d loss / d x given dy (x and dx in x_layout, dy in y_layout): dy of each window at
/// its winner as 0 + dy, +0 everywhere else (elements no window covers included), the
/// general loops' bits. through_relu: then dx = fn::ReluBackward(dx, x) elementwise.
/// Overwrites every element of dx. Requires as max2x2_forward.
void max2x2_backward(const Pool2dGeometry& g, Layout x_layout, Layout y_layout, const float* x,
                     const float* dy, float* dx, bool through_relu);

}  // namespace minidl::cpu::pool_detail
