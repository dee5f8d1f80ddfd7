#include "activation.hpp"

#include "../kernels/softmax.hpp"

namespace minidl {

namespace {
void check_single_float(const Layer& layer, const std::vector<Shape>& in,
                        const std::vector<DType>& dtypes) {
  MINIDL_CHECK(in.size() == 1, ShapeError, layer.type(), " '", layer.name(),
               "': takes one input, got ", in.size());
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, layer.type(), " '", layer.name(),
               "': input must be float32, got ", dtypes[0]);
}
}  // namespace

std::string ActivationLayer::type() const {
  switch (activation_) {
    case Activation::Identity:
      return "Identity";
    case Activation::ReLU:
      return "ReLU";
    case Activation::LeakyReLU:
      return "LeakyReLU";
    case Activation::Sigmoid:
      return "Sigmoid";
    case Activation::Tanh:
      return "Tanh";
    case Activation::Step:
      return "Step";
  }
  return "Activation";
}

Shape ActivationLayer::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                             const BuildContext&) {
  check_single_float(*this, in, dtypes);
  return in[0];
}

void ActivationLayer::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  activation_forward(activation_, *inputs[0], output, alpha_);
}

void ActivationLayer::backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                               const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  if (d_inputs[0] == nullptr) return;
  activation_backward(activation_, d_output, *inputs[0], output, *d_inputs[0], alpha_);
}

std::shared_ptr<Layer> relu_layer() { return std::make_shared<ActivationLayer>(Activation::ReLU); }
std::shared_ptr<Layer> leaky_relu_layer(float alpha) {
  return std::make_shared<ActivationLayer>(Activation::LeakyReLU, alpha);
}
std::shared_ptr<Layer> sigmoid_layer() {
  return std::make_shared<ActivationLayer>(Activation::Sigmoid);
}
std::shared_ptr<Layer> tanh_layer() { return std::make_shared<ActivationLayer>(Activation::Tanh); }
std::shared_ptr<Layer> step_layer() { return std::make_shared<ActivationLayer>(Activation::Step); }
std::shared_ptr<Layer> identity_layer() {
  return std::make_shared<ActivationLayer>(Activation::Identity);
}

Shape Softmax::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                     const BuildContext&) {
  check_single_float(*this, in, dtypes);
  MINIDL_CHECK(in[0].rank() >= 2, ShapeError, "Softmax '", name(),
               "': needs [batch, ..., classes], got ", batch_shape_str(in[0]));
  return in[0];
}

void Softmax::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  softmax(*inputs[0], output);
}

void Softmax::backward(const std::vector<const Tensor*>&, const Tensor& output,
                       const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  if (d_inputs[0] != nullptr) softmax_backward(d_output, output, *d_inputs[0]);
}

}  // namespace minidl
