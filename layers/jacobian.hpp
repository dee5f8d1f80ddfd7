// Gradient tensors: the course notes' generalised Jacobian [dY/dX] of a tensor
// function Y = f(X), a tensor of shape (Y's shape..., X's shape...) with
//   J[i..., j...] = d Y[i...] / d X[j...].
// For small tensors: tests use them to check backward passes, users to inspect models.
#pragma once

#include <functional>
#include <vector>

#include "../core/tensor.hpp"
#include "layer.hpp"

namespace minidl {

/// By central differences with step h: column j is (f(x + h e_j) - f(x - h e_j)) / 2h.
/// x is read on the CPU (a copy); f receives CPU float32 tensors of x's shape.
/// Requires rank(Y) + rank(X) <= 8. The result is a CPU float32 tensor.
Tensor numerical_jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x,
                          float h = 1e-3f);

/// By reverse mode: row i is vjp(e_i), where vjp(dy) must return d<dy, Y>/dX (the
/// backward pass seeded with dy). e_i are CPU float32 tensors of y_shape.
Tensor backward_jacobian(const std::function<Tensor(const Tensor&)>& vjp, const Shape& y_shape,
                         const Shape& x_shape);

/// Builds `layer` for the inputs' shapes and dtypes on the CPU (generator seed 0) and
/// returns its forward output for them.
Tensor layer_output(Layer& layer, const std::vector<Tensor>& inputs);

/// The Jacobian of a built layer's output with respect to its input `which`, from
/// its backward pass; inputs on the CPU. Parameter gradients it accumulates along
/// the way are restored.
Tensor layer_jacobian(Layer& layer, const std::vector<Tensor>& inputs, std::size_t which);

}  // namespace minidl
