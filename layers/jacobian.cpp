#include "jacobian.hpp"

#include <cstring>

namespace minidl {

namespace {
Shape joined(const Shape& a, const Shape& b) {
  MINIDL_CHECK(a.rank() + b.rank() <= Shape::kMaxRank, ShapeError, "jacobian: ", a, " and ", b,
               " together exceed rank ", Shape::kMaxRank);
  std::vector<std::int64_t> dims = a.dims();
  for (std::int64_t d : b) dims.push_back(d);
  return Shape(dims);
}
}  // namespace

Tensor numerical_jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, float h) {
  MINIDL_CHECK(h > 0.0f, ValueError, "numerical_jacobian: the step must be positive, got ", h);
  Tensor probe = x.to(Device::cpu()).clone();
  MINIDL_CHECK(probe.dtype() == DType::Float32, DTypeError,
               "numerical_jacobian: x must be float32");
  const Tensor y0 = f(probe);
  const Shape y_shape = y0.shape();
  Tensor jac = zeros(joined(y_shape, x.shape()));
  float* p = probe.data<float>();
  float* j = jac.data<float>();
  const std::int64_t nx = x.numel(), ny = y0.numel();
  for (std::int64_t c = 0; c < nx; ++c) {
    const float saved = p[c];
    p[c] = saved + h;
    const std::vector<float> up = f(probe).to_vector<float>();
    p[c] = saved - h;
    const std::vector<float> down = f(probe).to_vector<float>();
    p[c] = saved;
    const double step = static_cast<double>(saved + h) - static_cast<double>(saved - h);
    for (std::int64_t r = 0; r < ny; ++r) {
      j[r * nx + c] = static_cast<float>((static_cast<double>(up[static_cast<std::size_t>(r)]) -
                                          down[static_cast<std::size_t>(r)]) /
                                         step);
    }
  }
  return jac;
}

Tensor backward_jacobian(const std::function<Tensor(const Tensor&)>& vjp, const Shape& y_shape,
                         const Shape& x_shape) {
  Tensor jac = zeros(joined(y_shape, x_shape));
  const std::int64_t ny = y_shape.numel(), nx = x_shape.numel();
  Tensor seed = zeros(y_shape);
  for (std::int64_t r = 0; r < ny; ++r) {
    seed.data<float>()[r] = 1.0f;
    const Tensor row = vjp(seed).to(Device::cpu());
    MINIDL_CHECK(row.shape() == x_shape, ShapeError, "backward_jacobian: vjp returned ",
                 row.shape(), ", expected ", x_shape);
    std::memcpy(jac.data<float>() + r * nx, row.data<float>(),
                static_cast<std::size_t>(nx) * sizeof(float));
    seed.data<float>()[r] = 0.0f;
  }
  return jac;
}

Tensor layer_output(Layer& layer, const std::vector<Tensor>& inputs) {
  std::vector<const Tensor*> in;
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  for (const Tensor& t : inputs) {
    in.push_back(&t);
    shapes.push_back(t.shape());
    dtypes.push_back(t.dtype());
  }
  Generator gen(0);
  Tensor out = empty(layer.build(shapes, dtypes, BuildContext{Device::cpu(), &gen}));
  layer.forward(in, out);
  return out;
}

Tensor layer_jacobian(Layer& layer, const std::vector<Tensor>& inputs, std::size_t which) {
  MINIDL_CHECK(which < inputs.size(), ValueError, "layer_jacobian: input ", which, " of ",
               inputs.size());
  std::vector<const Tensor*> in;
  for (const Tensor& t : inputs) in.push_back(&t);
  const Tensor out = layer_output(layer, inputs);
  const Shape out_shape = out.shape();
  std::vector<Tensor> saved_grads;
  for (Parameter* p : layer.parameters()) saved_grads.push_back(p->grad.clone());
  Tensor d_in = empty(inputs[which].shape());
  auto vjp = [&](const Tensor& dy) {
    std::vector<Tensor*> d_inputs(inputs.size(), nullptr);
    d_inputs[which] = &d_in;
    layer.backward(in, out, dy, d_inputs);
    return d_in.clone();
  };
  Tensor jac = backward_jacobian(vjp, out_shape, inputs[which].shape());
  std::size_t k = 0;
  for (Parameter* p : layer.parameters()) p->grad.copy_from(saved_grads[k++]);
  return jac;
}

}  // namespace minidl
