// Pooling layers over NCHW inputs (kernels/pool2d.hpp has the math):
//   MaxPool2d  y = the window's maximum (first maximum on ties; it takes the gradient)
//   AvgPool2d  y = the window's mean (divisor K1*K2 unless count_include_pad is off)
// x [B, C, H, W] -> y [B, C, P, Q], P = floor((H + 2 pad - K) / stride) + 1.
// No parameters; backward recomputes the winners from the saved input.
#pragma once

#include "../kernels/pool2d.hpp"
#include "layer.hpp"

namespace minidl {

class Pool2d : public Layer {
 public:
  Pool2d(PoolMode mode, Pool2dParams params) : mode_(mode), params_(params) {}

  std::string type() const override { return mode_ == PoolMode::Max ? "MaxPool2d" : "AvgPool2d"; }
  /// Throws ShapeError naming the layer and the input shape for an input that is
  /// not [B, C, H, W] or smaller than the window.
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
  const Pool2dParams& params() const { return params_; }
  /// A blocked layout in and out on the CPU when the channels are a multiple of its block (the same
  /// values, kernels/pool2d.hpp): a pooling layer between oneDNN convolutions keeps their blocked
  /// tensors, and one at the end of a blocked chain converts while it pools.
  bool accepts_layout(std::size_t input, Layout layout) const override;
  bool produces_layout(Layout layout) const override;
  /// Always: backward writes every element of dx, and applies the ReLU's backward of the
  /// layer before as it does (pool2d_backward's through_relu) when the graph folds it.
  bool can_fold_input_relu(std::size_t) const override { return true; }

 private:
  PoolMode mode_;
  Pool2dParams params_;
  bool cpu_ = false;           // as built: on a CPU device
  std::int64_t channels_ = 0;  // as built
};

class MaxPool2d : public Pool2d {
 public:
  /// kernel x kernel windows; stride 0 means stride = kernel.
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0);
  explicit MaxPool2d(Pool2dParams params) : Pool2d(PoolMode::Max, params) {}
};

class AvgPool2d : public Pool2d {
 public:
  explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0,
                     bool count_include_pad = true);
  explicit AvgPool2d(Pool2dParams params) : Pool2d(PoolMode::Avg, params) {}
};

}  // namespace minidl
