// Activation and output-map layers over the kernels of kernels/activation.hpp and
// kernels/softmax.hpp: ReLU, LeakyReLU, Sigmoid, Tanh, Step (hard threshold; its
// gradient is zero), Identity, and Softmax over the last axis.
#pragma once

#include "../kernels/activation.hpp"
#include "layer.hpp"

namespace minidl {

class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(Activation activation, float alpha = 0.01f)
      : activation_(activation), alpha_(alpha) {}

  std::string type() const override;
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;

  Activation activation() const { return activation_; }
  /// LeakyReLU's negative slope.
  float alpha() const { return alpha_; }

 private:
  Activation activation_;
  float alpha_;
};

/// Convenience constructors: graph.add(relu_layer(), {x}).
std::shared_ptr<Layer> relu_layer();
std::shared_ptr<Layer> leaky_relu_layer(float alpha = 0.01f);
std::shared_ptr<Layer> sigmoid_layer();
std::shared_ptr<Layer> tanh_layer();
std::shared_ptr<Layer> step_layer();
std::shared_ptr<Layer> identity_layer();

/// Softmax over the last axis (an output map; pair softmax cross-entropy with
/// raw logits instead, which is fused and more accurate).
class Softmax : public Layer {
 public:
  std::string type() const override { return "Softmax"; }
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
};

}  // namespace minidl
