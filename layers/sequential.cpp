#include "sequential.hpp"

namespace minidl {

Sequential::Sequential(const Shape& sample_shape, Device device, std::uint64_t seed,
                       DType input_dtype)
    : graph_(device, seed) {
  input_ = graph_.input("x", sample_shape, input_dtype);
  output_ = input_;
}

Sequential& Sequential::add(std::shared_ptr<Layer> layer, const std::string& name) {
  MINIDL_CHECK(loss_ < 0, ValueError, "Sequential::add: the chain already ends with a loss");
  output_ = graph_.add(std::move(layer), {output_}, name);
  return *this;
}

Sequential& Sequential::loss(std::shared_ptr<LossLayer> loss, const Shape& target_sample_shape,
                             DType target_dtype) {
  MINIDL_CHECK(loss_ < 0, ValueError, "Sequential::loss: the chain already ends with a loss");
  targets_ = graph_.input("targets", target_sample_shape, target_dtype);
  loss_ = graph_.add(std::move(loss), {output_, targets_}, "loss");
  return *this;
}

Tensor Sequential::step(const Tensor& x, const Tensor& targets) {
  MINIDL_CHECK(loss_ >= 0, ValueError, "Sequential::step: add a loss first");
  graph_.zero_grad();
  graph_.forward({x, targets});
  graph_.backward(loss_);
  return graph_.value(loss_);
}

float Sequential::train_step(const Tensor& x, const Tensor& targets) {
  MINIDL_CHECK(loss_ >= 0, ValueError, "Sequential::train_step: add a loss first");
  return step(x, targets).item<float>();
}

Tensor Sequential::predict(const Tensor& x) {
  std::vector<Tensor> inputs{x};
  if (targets_ >= 0) inputs.emplace_back();
  graph_.forward(inputs, output_);
  return graph_.value(output_);
}

}  // namespace minidl
