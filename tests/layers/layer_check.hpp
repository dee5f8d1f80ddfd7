// Gradient checks for a layer (dlib's test_layer): the Jacobian of the output with
// respect to every float input from backward against central differences, and
// every parameter gradient of a random projection <r, output> likewise.
#pragma once

#include <functional>

#include "gradcheck.hpp"
#include "layers/jacobian.hpp"
#include "layers/layer.hpp"
#include "test_util.hpp"

namespace minidl::test {

/// Checks d output / d input for each float input (skipping entries where skip(input, j)).
inline void check_layer_gradients(
    Layer& layer, const std::vector<Tensor>& inputs, double thr = 5e-3, float h = 1e-2f,
    const std::function<bool(std::size_t, std::size_t)>& skip = nullptr) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != DType::Float32) continue;
    if (layer.is_loss() && i > 0) continue;  // loss layers give no gradient for the targets
    const Tensor analytic = layer_jacobian(layer, inputs, i);
    auto f = [&](const Tensor& xi) {
      std::vector<Tensor> in = inputs;
      in[i] = xi;
      return layer_output(layer, in).clone();
    };
    const Tensor numeric = numerical_jacobian(f, inputs[i], h);
    const auto a = analytic.to_vector<float>();
    const auto n = numeric.to_vector<float>();
    const std::vector<double> nd(n.begin(), n.end());
    const std::size_t nx = static_cast<std::size_t>(inputs[i].numel());
    EXPECT_TRUE(gradients_agree(
        a, nd, thr,
        skip ? std::function<bool(std::size_t)>([&](std::size_t k) { return skip(i, k % nx); })
             : std::function<bool(std::size_t)>()))
        << layer.type() << " input " << i;
  }
  // Parameters: L = <r, out>, analytic dL/dp from backward(r) against central differences.
  Generator gen(99);
  const Tensor out = layer_output(layer, inputs);
  const Tensor r = normal(out.shape(), 0.0f, 1.0f, gen);
  for (Parameter* p : layer.parameters()) {
    for (Parameter* q : layer.parameters()) q->grad.fill_(0);
    std::vector<const Tensor*> in;
    for (const Tensor& t : inputs) in.push_back(&t);
    std::vector<Tensor*> none(inputs.size(), nullptr);
    layer.backward(in, out, r, none);
    const auto analytic = p->grad.to_vector<float>();
    auto f = [&](const Tensor& value) {
      p->value.copy_from(value);
      const double v = project(r, layer_output(layer, inputs));
      return v;
    };
    Tensor probe = p->value.clone();
    const Tensor original = p->value.clone();
    const auto numeric = numerical_gradient(f, probe, h);
    p->value.copy_from(original);
    EXPECT_TRUE(gradients_agree(analytic, numeric, thr))
        << layer.type() << " parameter " << p->name;
  }
}

}  // namespace minidl::test
