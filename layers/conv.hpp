// Conv2d: a 2-D convolution layer over NCHW inputs (kernels/conv2d.hpp has the
// math, the layouts and the padding modes).
//   x [B, C_in, H, W] -> y [B, C_out, P, Q]
//   weight [C_out, C_in, K1, K2] (PyTorch's order; conv_weight_to_course /
//   conv_weight_from_course convert to the course notes' (K1, K2, N_in, N_out)),
//   bias [C_out].
//   forward   y = f(conv(x, w) + b), f the fused activation (identity or ReLU)
//   backward  g = dy * f'(y) (for ReLU: dy where y > 0, else 0),
//             dW += corr(x, g), db += sum g, dx = conv^T(g, w)
//
// A fused ReLU (Conv2dOptions::activation = Activation::ReLU) computes what Conv2d followed
// by a ReLU layer computes, bit for bit, with one layer instead of two: on oneDNN the ReLU is
// a post-op of the convolution primitive, on the `cpu` backend it runs on each sample's output
// while that is in cache (no pass of its own over y on either), the graph holds one
// [B, M, P, Q] activation instead of two, and backward masks dy by y > 0 (y = max(0, z) > 0
// exactly where z > 0) instead of a ReLU layer's pass that writes a gradient buffer of its own.
// The fusion is an option the model's builder asks for (the trainer's CNN does), not a graph
// rewrite behind the user's back: a Sequential the user wrote keeps the layers, names and
// values they added. Checkpoints are unaffected (a ReLU has no parameters); ONNX export writes
// a fused layer as Conv followed by Relu.
#pragma once

#include "../kernels/conv2d.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace minidl {

struct Conv2dOptions {
  /// Input channels the layer expects (PyTorch's in_channels); 0 infers them from
  /// the input at the first build (Keras style). A mismatch is a ShapeError at build.
  std::int64_t in_channels = 0;
  std::int64_t stride_h = 1;
  std::int64_t stride_w = 1;
  ConvPadding padding = ConvPadding::Valid;
  std::int64_t pad_h = 0;  // ConvPadding::Explicit only
  std::int64_t pad_w = 0;
  bool bias = true;
  /// He for the ReLU nets convolutions usually feed (fan_in = C_in K1 K2).
  Init init = Init::HeNormal;
  ConvBackend backend = ConvBackend::Auto;
  /// The activation fused into the layer: Identity (none) or ReLU; another is a ValueError.
  Activation activation = Activation::Identity;

  /// Shorthands: Conv2dOptions::same(), Conv2dOptions::valid(2),
  /// Conv2dOptions::half_kernel(2). same() is TensorFlow's "SAME";
  /// half_kernel() is PyTorch's padding=K//2 (kernels/conv2d.hpp compares them).
  static Conv2dOptions same(std::int64_t stride = 1);
  static Conv2dOptions half_kernel(std::int64_t stride = 1);
  static Conv2dOptions valid(std::int64_t stride = 1);
};

class Conv2d : public Layer {
 public:
  /// Requires out_channels, kernel_h, kernel_w >= 1 (ValueError otherwise).
  Conv2d(std::int64_t out_channels, std::int64_t kernel_h, std::int64_t kernel_w,
         Conv2dOptions options = {});
  Conv2d(std::int64_t out_channels, std::int64_t kernel, Conv2dOptions options = {})
      : Conv2d(out_channels, kernel, kernel, options) {}

  std::string type() const override { return "Conv2d"; }
  /// Throws ShapeError naming the layer and the input shape for an input that is
  /// not [B, C, H, W], a channel count other than the one built for, or a kernel
  /// larger than a valid-mode input.
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
  std::vector<Parameter*> parameters() override;
  /// A blocked layout (NCHW8c, NCHW16c: kernels/layout.hpp) for input and output when the
  /// convolution runs on oneDNN (backend onednn, or auto choosing it for the built shape, on
  /// a CPU) and the channels are a multiple of its block: oneDNN then computes in the
  /// graph's blocked tensors directly.
  bool accepts_layout(std::size_t input, Layout layout) const override;
  bool produces_layout(Layout layout) const override;
  /// With a fused ReLU: backward then skips its mask pass when the graph has the layer
  /// reading the output apply it (Layer::set_relu_folds).
  bool output_is_relu() const override { return params_.activation == Activation::ReLU; }

  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }
  const Conv2dParams& params() const { return params_; }
  void set_backend(ConvBackend backend) { params_.backend = backend; }
  /// The fused activation (Identity or ReLU).
  Activation activation() const { return params_.activation; }

 private:
  std::int64_t out_channels_, kernel_h_, kernel_w_;
  std::int64_t in_channels_ = 0;
  Conv2dOptions options_;
  Conv2dParams params_;
  Parameter weight_;
  Parameter bias_;
  Tensor masked_grad_;            // backward with a fused ReLU: dy masked by y > 0
  bool built_on_onednn_ = false;  // as built: CPU tensors and the oneDNN backend
  Conv2dParams layout_params() const;
};

}  // namespace minidl
