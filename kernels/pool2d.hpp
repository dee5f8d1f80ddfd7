// 2-D max and average pooling over NCHW tensors, forward and backward, on CPU
// and CUDA. x [B, C, H, W] -> y [B, C, P, Q] with P = floor((H + 2 pad - K) / s) + 1
// (PyTorch's ceil_mode=False), each channel pooled on its own.
//
//   Max   y = the largest element of the window; zero padding is not a value
//         (padded positions never win). Ties go to the FIRST maximum in row-major
//         window order, and the whole gradient goes to it. A NaN in the window
//         makes the output NaN, as in PyTorch, and the first NaN takes the gradient
//         (PyTorch gives it to the last one, in window order).
//   Avg   y = sum of the window / divisor, divisor K1*K2 with count_include_pad
//         (PyTorch's default), else the number of in-image elements.
//
// Backward is a gather: each input element sums the gradients of the windows
// that contain it (max: those whose winner it is), in window order, so results
// are deterministic and the CPU and CUDA code run the same per-element math
// (kernels/pool2d_math.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "../core/tensor.hpp"
#include "layout.hpp"

namespace minidl {

enum class PoolMode { Max, Avg };

struct Pool2dParams {
  std::int64_t kernel_h = 2;
  std::int64_t kernel_w = 2;
  std::int64_t stride_h = 0;  // 0: the kernel size
  std::int64_t stride_w = 0;
  std::int64_t pad_h = 0;  // zeros on each side; at most half the kernel
  std::int64_t pad_w = 0;
  bool count_include_pad = true;  // Avg only
};

struct Pool2dGeometry {
  int B = 0, C = 0, H = 0, W = 0, P = 0, Q = 0;
  int kh = 0, kw = 0, sh = 0, sw = 0, ph = 0, pw = 0;
  bool count_include_pad = true;
};

/// Resolves the geometry for x of shape `x` [B, C, H, W]. Throws ShapeError naming
/// `who` and the shape for a wrong rank or a window larger than the padded
/// input; ValueError for kernel or stride < 1, or padding above half the kernel.
Pool2dGeometry pool2d_geometry(const Shape& x, const Pool2dParams& params,
                               const std::string& who = "pool2d");
Shape pool2d_output_shape(const Shape& x, const Pool2dParams& params,
                          const std::string& who = "pool2d");

/// y = pool(x). Overwrites y (allocated when undefined); y must not alias x.
/// x_layout / y_layout: the layouts x and y are held in (kernels/layout.hpp; NCHW8c on the
/// CPU only, for channels a multiple of 8, ValueError otherwise); every layout gives the
/// same values, bit for bit.
void pool2d_forward(PoolMode mode, const Tensor& x, Tensor& y, const Pool2dParams& params,
                    Layout x_layout = Layout::NCHW, Layout y_layout = Layout::NCHW);
/// dx = d loss / d x given dy (max needs x to find the winners; avg reads only
/// its shape). Overwrites dx (allocated when undefined). x and dx are in x_layout, dy in
/// y_layout.
/// through_relu: x is a ReLU's output, x = max(0, z) (a Conv2d's fused ReLU), and dx is
/// d loss / d z instead: fn::ReluBackward(the pooling's dx, x) elementwise
/// (kernels/functors.hpp), what a ReLU's backward after this one gives, bit for bit, without
/// a pass of its own over the activation (the layer graph asks for it: Layer::set_relu_fold).
void pool2d_backward(PoolMode mode, const Tensor& x, const Tensor& dy, Tensor& dx,
                     const Pool2dParams& params, Layout x_layout = Layout::NCHW,
                     Layout y_layout = Layout::NCHW, bool through_relu = false);

Tensor max_pool2d(const Tensor& x, const Pool2dParams& params);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& params);

namespace cpu {
/// pool2d_forward's and pool2d_backward's CPU part on raw pointers (g from pool2d_geometry,
/// layouts as there). Max pooling with a 2x2 window at stride 2 and no padding runs the AVX2
/// kernels of kernels/pool2d_max2x2.cpp where the CPU has AVX2 (pool2d_has_max2x2_path),
/// unless `baseline` (tests compare them with the general loops: the same bits).
void pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const float* x, float* y,
                    Layout x_layout, Layout y_layout, bool baseline = false);
void pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const float* x, const float* dy,
                     float* dx, Layout x_layout, Layout y_layout, bool through_relu,
                     bool baseline = false);
/// Whether those AVX2 kernels take this pooling on this CPU.
bool pool2d_has_max2x2_path(PoolMode mode, const Pool2dGeometry& g);
}  // namespace cpu

namespace cuda {
void pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const float* x, float* y, int device);
void pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const float* x, const float* dy,
                     float* dx, bool through_relu, int device);
}  // namespace cuda

}  // namespace minidl
