// Layers that move values around: Flatten ([B, ...] -> [B, prod(...)]), Reshape
// ([B, ...] -> [B, given per-sample shape], e.g. [B, 784] -> [B, 1, 28, 28]), Add (the
// sum of several equal-shaped inputs) and Concat (inputs [B, F_i] joined along
// the feature axis).
#pragma once

#include "layer.hpp"

namespace minidl {

class Flatten : public Layer {
 public:
  std::string type() const override { return "Flatten"; }
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
};

class Reshape : public Layer {
 public:
  /// The per-sample output shape (without the batch axis); its element count must
  /// equal the input's per-sample count (ShapeError at build, naming both).
  explicit Reshape(const Shape& sample_shape) : sample_shape_(sample_shape) {}
  const Shape& sample_shape() const { return sample_shape_; }
  std::string type() const override { return "Reshape"; }
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;

 private:
  Shape sample_shape_;
};

class Add : public Layer {
 public:
  std::string type() const override { return "Add"; }
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
};

class Concat : public Layer {
 public:
  std::string type() const override { return "Concat"; }
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
};

}  // namespace minidl
