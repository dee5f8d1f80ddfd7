// Activations: checks, dispatch, and the CPU loops over the shared functors.
#include "activation.hpp"

#include <cmath>

#include "../core/dispatch.hpp"
#include "checks.hpp"
#include "elementwise_cpu.hpp"
#include "fill.hpp"
#include "functors.hpp"

namespace minidl {

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Identity:
      return "identity";
    case Activation::ReLU:
      return "relu";
    case Activation::LeakyReLU:
      return "leaky_relu";
    case Activation::Sigmoid:
      return "sigmoid";
    case Activation::Tanh:
      return "tanh";
    case Activation::Step:
      return "step";
  }
  return "unknown";
}

namespace {

// Which saved tensor backward reads: 0 none, 1 z, 2 y.
int saved_operand(Activation a) {
  switch (a) {
    case Activation::ReLU:
    case Activation::LeakyReLU:
      return 1;
    case Activation::Sigmoid:
    case Activation::Tanh:
      return 2;
    case Activation::Step:
    case Activation::Identity:
      return 0;
  }
  return 0;
}

}  // namespace

// Sigmoid and tanh are compute-bound on SSE2 (about 50 instructions per 4 floats):
// they take map_wide's AVX2+FMA loop (about 25 per 8) where the CPU has one. The
// others are memory-bound on SSE2 already.
void cpu::activation_forward(Activation a, const float* z, float* y, std::int64_t n, float alpha,
                             bool baseline) {
  switch (a) {
    case Activation::Identity:
      cpu_detail::map(
          y, n, [](float v) { return v; }, z);
      break;
    case Activation::ReLU:
      cpu_detail::map(y, n, fn::ReluForward{}, z);
      break;
    case Activation::LeakyReLU:
      cpu_detail::map(y, n, fn::LeakyReluForward{alpha}, z);
      break;
    case Activation::Sigmoid:
      cpu_detail::map_wide(baseline, y, n, fn::SigmoidForward{}, z);
      break;
    case Activation::Tanh:
      cpu_detail::map_wide(baseline, y, n, fn::TanhForward{}, z);
      break;
    case Activation::Step:
      cpu_detail::map(y, n, fn::StepForward{}, z);
      break;
  }
}

bool cpu::activation_has_wide_path() { return cpu_detail::cpu_has_avx2_fma(); }

namespace {

void cpu_backward(Activation a, const float* dy, const float* saved, float* dz, std::int64_t n,
                  float alpha) {
  switch (a) {
    case Activation::Identity:
      cpu_detail::map(
          dz, n, [](float g) { return g; }, dy);
      break;
    case Activation::ReLU:
      cpu_detail::map(dz, n, fn::ReluBackward{}, dy, saved);
      break;
    case Activation::LeakyReLU:
      cpu_detail::map(dz, n, fn::LeakyReluBackward{alpha}, dy, saved);
      break;
    case Activation::Sigmoid:
      cpu_detail::map(dz, n, fn::SigmoidBackward{}, dy, saved);
      break;
    case Activation::Tanh:
      cpu_detail::map(dz, n, fn::TanhBackward{}, dy, saved);
      break;
    case Activation::Step:  // the public op writes zeros with a fill: nothing to read
      break;
  }
}

// Leaky ReLU's slope: a NaN or infinite one would turn every negative input into NaN or
// inf, silently.
void check_alpha(const char* op, Activation a, float alpha) {
  MINIDL_CHECK(a != Activation::LeakyReLU || std::isfinite(alpha), ValueError, op,
               ": alpha (the negative slope) must be finite, got ", alpha);
}

}  // namespace

void activation_forward(Activation a, const Tensor& z, Tensor& y, float alpha) {
  const char* op = activation_name(a);
  check_alpha(op, a, alpha);
  detail::check_float(op, "input", z);
  detail::prepare_output(op, y, z.shape(), z.device());
  const std::int64_t n = z.numel();
  if (z.device().is_cpu()) {
    cpu::activation_forward(a, z.data<float>(), y.data<float>(), n, alpha);
  } else {
    MINIDL_CUDA_CALL(cuda::activation_forward(a, z.data<float>(), y.data<float>(), n, alpha,
                                              z.device().index()));
  }
}

void activation_backward(Activation a, const Tensor& dy, const Tensor& z, const Tensor& y,
                         Tensor& dz, float alpha) {
  const std::string op = std::string(activation_name(a)) + "_backward";
  check_alpha(op.c_str(), a, alpha);
  detail::check_float(op.c_str(), "dy", dy);
  const int which = saved_operand(a);
  const Tensor& saved = which == 1 ? z : y;
  const char* saved_name = which == 1 ? "z" : "y";
  if (which != 0) {
    detail::check_float(op.c_str(), saved_name, saved);
    detail::check_same_shape(op.c_str(), "dy", dy, saved_name, saved);
    detail::check_same_device(op.c_str(), "dy", dy, saved_name, saved);
  }
  detail::prepare_output(op.c_str(), dz, dy.shape(), dy.device());
  if (a == Activation::Step) {  // nothing to read: write the zeros
    fill(dz, 0.0);
    return;
  }
  const std::int64_t n = dy.numel();
  const float* s = which != 0 ? saved.data<float>() : nullptr;
  if (dy.device().is_cpu()) {
    cpu_backward(a, dy.data<float>(), s, dz.data<float>(), n, alpha);
  } else {
    MINIDL_CUDA_CALL(cuda::activation_backward(a, dy.data<float>(), s, dz.data<float>(), n, alpha,
                                               dy.device().index()));
  }
}

namespace {
Tensor forward(Activation a, const Tensor& z, float alpha = 0.01f) {
  Tensor y;
  activation_forward(a, z, y, alpha);
  return y;
}
Tensor backward(Activation a, const Tensor& dy, const Tensor& z, const Tensor& y,
                float alpha = 0.01f) {
  Tensor dz;
  activation_backward(a, dy, z, y, dz, alpha);
  return dz;
}
}  // namespace

Tensor relu(const Tensor& z) { return forward(Activation::ReLU, z); }
Tensor relu_backward(const Tensor& dy, const Tensor& z) {
  return backward(Activation::ReLU, dy, z, Tensor());
}
Tensor leaky_relu(const Tensor& z, float alpha) { return forward(Activation::LeakyReLU, z, alpha); }
Tensor leaky_relu_backward(const Tensor& dy, const Tensor& z, float alpha) {
  return backward(Activation::LeakyReLU, dy, z, Tensor(), alpha);
}
Tensor sigmoid(const Tensor& z) { return forward(Activation::Sigmoid, z); }
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y) {
  return backward(Activation::Sigmoid, dy, Tensor(), y);
}
Tensor tanh(const Tensor& z) { return forward(Activation::Tanh, z); }
Tensor tanh_backward(const Tensor& dy, const Tensor& y) {
  return backward(Activation::Tanh, dy, Tensor(), y);
}
Tensor step(const Tensor& z) { return forward(Activation::Step, z); }
Tensor step_backward(const Tensor& dy) {
  return backward(Activation::Step, dy, Tensor(), Tensor());
}

}  // namespace minidl
