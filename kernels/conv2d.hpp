// 2-D convolution (cross-correlation, no kernel reversal), forward and the three
// gradients, on four backends: on the CPU, `cpu` (im2col + OpenBLAS SGEMM, OpenMP over
// the batch, an AVX2 direct path for one input channel; the oracle) and `onednn`
// (oneDNN's convolution primitives, planned per shape and cached, when minidl is built
// with oneDNN); on CUDA, cuDNN 9 (algorithms found per shape and cached with their
// workspace) and minidl's own kernel (implicit GEMM with shared-memory tiles).
//
// Layout: NCHW activations, x [B, C_in, H, W], y [B, C_out, P, Q] (cuDNN's and
// PyTorch's default), weights [C_out, C_in, K1, K2] (PyTorch's), bias [C_out].
// The course notes' formula, per sample, with W_notes[k1,k2,n,m] = w[m,n,k1,k2]:
//
//   Z[m,i1,i2]  = sum_{k1,k2,n} W[k1,k2,n,m] X[n, i1*s1 + k1 - t, i2*s2 + k2 - l] + b[m]
//   dJ/dW[k1,k2,n,m] = sum_{i1,i2} X[n, i1*s1 + k1 - t, i2*s2 + k2 - l] dJ/dZ[m,i1,i2]
//   dJ/db[m]    = sum_{i1,i2} dJ/dZ[m,i1,i2]
//   dJ/dX       = the transpose of the forward map applied to dJ/dZ
//
// with s1, s2 the strides, t, l the top / left zero padding, and X read as zero
// outside the image. conv_weight_from_course / conv_weight_to_course convert
// the notes' (K1, K2, N_in, N_out) weights in one call.
//
// Padding modes:
//   Valid       no padding; output floor((N - K) / s) + 1 (N - K + 1 at stride 1).
//               A kernel larger than the input is a ShapeError.
//   Same        TensorFlow's padding="SAME" (Keras' padding="same"): output
//               ceil(N / s) (N at stride 1), zero padding of total
//               max((out - 1) s + K - N, 0) split as TensorFlow does: top/left get
//               floor(total / 2), bottom/right the rest. Odd kernels at stride 1 are
//               padded symmetrically ((K-1)/2 each side); an even kernel, or a stride
//               > 1, may put the extra row/column at the bottom/right only.
//   HalfKernel  PyTorch's nn.Conv2d(..., padding=K // 2): floor(K / 2) zeros on
//               every side; output floor((N + 2 floor(K / 2) - K) / s) + 1. The same
//               as Same for odd kernels at stride 1, but not at stride 2: for N = 8,
//               K = 3, s = 2 both give 4 outputs, Same padding (0 top, 1 bottom) and
//               HalfKernel (1, 1), so the values differ. Use it to reproduce PyTorch
//               models, Same to reproduce TensorFlow / Keras ones.
//   Explicit    pad_h / pad_w zeros on every side (PyTorch's padding=<int>);
//               output floor((N + 2 pad - K) / s) + 1.
#pragma once

#include <cstdint>
#include <string>

#include "../core/tensor.hpp"
#include "activation.hpp"
#include "layout.hpp"

namespace minidl {

enum class ConvPadding { Valid, Same, HalfKernel, Explicit };

/// Which implementation runs.
/// CPU tensors: Cpu = im2col + OpenBLAS (with the AVX2 direct path where it applies);
/// OneDnn = oneDNN (ValueError when minidl was built without it); Auto = oneDNN when
/// built with it, except where conv2d_cpu_auto_uses_onednn says the `cpu` backend is
/// faster, else Cpu. Cudnn / Own on CPU tensors are a DeviceError.
/// CUDA tensors: Auto = cuDNN, except asymmetric `same` padding (even kernels), which
/// cuDNN cannot express and minidl's own kernel handles; Cudnn = cuDNN (ValueError on
/// asymmetric padding); Own = minidl's implicit-GEMM kernels; Cpu / OneDnn on CUDA
/// tensors = DeviceError.
enum class ConvBackend { Auto, Cpu, Cudnn, Own, OneDnn };

const char* conv_backend_name(ConvBackend b);  // "auto", "cpu", "cudnn", "own", "onednn"
/// The backend named `name` (one of conv_backend_name's); ValueError listing them otherwise.
ConvBackend parse_conv_backend(const std::string& name);

struct Conv2dParams {
  std::int64_t stride_h = 1;
  std::int64_t stride_w = 1;
  ConvPadding padding = ConvPadding::Valid;
  std::int64_t pad_h = 0;  // Explicit only
  std::int64_t pad_w = 0;
  ConvBackend backend = ConvBackend::Auto;
  /// Identity or ReLU (any other is a ValueError): with ReLU, conv2d_forward writes
  /// y = max(0, conv(x, w) + b), fused into the primitive on backend `onednn` (an eltwise
  /// post-op), applied to each sample's output right after it is computed (still in cache)
  /// on backend `cpu`, and to y in place after the convolution on CUDA. The backward
  /// ops take the gradient with respect to the convolution's output before the activation:
  /// the caller masks it first (layers/conv.cpp: dy where y > 0, else 0).
  Activation activation = Activation::Identity;
  /// The layouts the operands are held in (kernels/layout.hpp): x_layout for x and dx,
  /// y_layout for y and dy. NCHW8c / NCHW16c are for CPU tensors whose channels are a
  /// multiple of 8 / 16 (ValueError otherwise); backend `onednn` computes in them directly
  /// (no reorder), backend
  /// `cpu` converts to NCHW and back around its own loops. Weights and bias are always
  /// [M, C, K1, K2] and [M].
  Layout x_layout = Layout::NCHW;
  Layout y_layout = Layout::NCHW;
};

/// Every size of one convolution, resolved from the operand shapes and params.
struct Conv2dGeometry {
  std::int64_t batch = 0, in_channels = 0, height = 0, width = 0;  // x [B, C, H, W]
  std::int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;       // w [M, C, K1, K2]
  std::int64_t out_h = 0, out_w = 0;                               // y [B, M, P, Q]
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

  bool symmetric_padding() const { return pad_top == pad_bottom && pad_left == pad_right; }
  /// 2 * B * M * P * Q * C * K1 * K2: the multiply-adds of one forward pass, as FLOPs.
  double forward_flops() const;
};

/// Resolves the geometry of x [B, C, H, W] with w [M, C, K1, K2]. Throws
/// ShapeError naming `who` and both shapes for a wrong rank, a channel mismatch, no
/// channels or an empty image (C, H or W of 0; B = 0 is an empty batch), a kernel larger
/// than a valid-mode input, or an empty output; ValueError for
/// strides < 1 or negative padding.
Conv2dGeometry conv2d_geometry(const Shape& x, const Shape& w, const Conv2dParams& params,
                               const std::string& who = "conv2d");

/// The CPU backend Auto runs for g on this machine and build (Cpu or OneDnn): the rule
/// and the measurements behind it are in kernels/conv2d.cpp.
ConvBackend conv2d_cpu_auto_backend(const Conv2dGeometry& g);

/// y [B, M, P, Q] = conv(x, w) (+ b when b is defined, [M]), then params.activation. Overwrites y
/// (allocated when undefined). y must not alias x.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                    const Conv2dParams& params = {});
/// dx [B, C, H, W] = d loss / d x given dy. Overwrites dx (allocated when
/// undefined). `x_shape` gives H and W (several input sizes give one output size
/// at stride > 1).
void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, Tensor& dx,
                          const Conv2dParams& params = {});
/// dw [M, C, K1, K2] (+)= d loss / d w. accumulate: adds into dw (parameter
/// gradients); otherwise overwrites. dw must be defined: its shape gives the kernel size.
void conv2d_backward_filter(const Tensor& x, const Tensor& dy, Tensor& dw,
                            const Conv2dParams& params = {}, bool accumulate = false);
/// db [M] (+)= sum over batch and positions of dy [B, M, P, Q], dy held in `dy_layout`.
void conv2d_backward_bias(const Tensor& dy, Tensor& db, bool accumulate = false,
                          Layout dy_layout = Layout::NCHW);

/// Functional forms: new tensors.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
              const Conv2dParams& params = {});

/// (K1, K2, N_in, N_out) (the course notes' order) -> [N_out, N_in, K1, K2], and back.
/// A new tensor on the input's device.
Tensor conv_weight_from_course(const Tensor& w_course);
Tensor conv_weight_to_course(const Tensor& w);

namespace cpu {
// Backend `cpu`: im2col + OpenBLAS (kernels/conv2d_im2col.cpp), with the AVX2 direct path
// (kernels/conv2d_direct.cpp) where it applies.
/// relu: y = max(0, conv + b), applied to each sample's output while it is in cache.
void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y, bool relu = false);
void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx);
void conv2d_backward_filter(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                            float beta);
// Backend `onednn` (kernels/conv2d_onednn.cpp). Same contracts as the three above; without
// oneDNN in the build each throws ValueError.
/// Whether this minidl was built with oneDNN, and its version ("2.6.3"; "" without).
bool onednn_available();
std::string onednn_version();
/// The blocked layout oneDNN's convolution kernels compute in on this CPU: NCHW16c where it
/// runs its AVX-512 kernels (avx512_core or later, as oneDNN reports its ISA: DNNL_MAX_CPU_ISA
/// may lower it), else NCHW8c (its AVX2 kernels'; also without oneDNN).
Layout onednn_blocked_layout();
/// relu: y = max(0, conv + b), an eltwise post-op of the forward primitive. x_layout /
/// y_layout: the layouts of x (dx) and y (dy), which the primitives then compute in.
void conv2d_forward_onednn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                           float* y, bool relu = false, Layout x_layout = Layout::NCHW,
                           Layout y_layout = Layout::NCHW);
void conv2d_backward_data_onednn(const Conv2dGeometry& g, const float* dy, const float* w,
                                 float* dx, Layout x_layout = Layout::NCHW,
                                 Layout y_layout = Layout::NCHW);
void conv2d_backward_filter_onednn(const Conv2dGeometry& g, const float* x, const float* dy,
                                   float* dw, float beta, Layout x_layout = Layout::NCHW,
                                   Layout y_layout = Layout::NCHW);
/// oneDNN's name for the implementation it picked for pass 0 (forward with bias),
/// 1 (backward data) or 2 (backward weights) of g with x and y in these layouts, e.g.
/// "jit:avx2" (plans it if needed). Never a reference ("ref:...") implementation for blocked
/// operands where oneDNN has a faster one for NCHW: the plan then reorders instead.
std::string conv2d_onednn_impl(const Conv2dGeometry& g, int pass, Layout x_layout = Layout::NCHW,
                               Layout y_layout = Layout::NCHW);
}  // namespace cpu

namespace cuda {
// cuDNN (kernels/conv2d_cudnn.cpp). beta 0 overwrites, 1 accumulates.
void conv2d_forward_cudnn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                          float* y, int device);
void conv2d_backward_data_cudnn(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                                int device);
void conv2d_backward_filter_cudnn(const Conv2dGeometry& g, const float* x, const float* dy,
                                  float* dw, float beta, int device);
// minidl's own implicit-GEMM kernels (kernels/conv2d_cuda.cu).
void conv2d_forward_own(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                        float* y, int device);
void conv2d_backward_data_own(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                              int device);
void conv2d_backward_filter_own(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                float beta, int device);
/// db[m] = beta * db[m] + sum_{b,p,q} dy[b,m,p,q].
void conv2d_backward_bias(const float* dy, float* db, std::int64_t batch, std::int64_t channels,
                          std::int64_t plane, float beta, int device);
}  // namespace cuda

}  // namespace minidl
