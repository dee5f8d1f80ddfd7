// Elementwise arithmetic: checks, dispatch, CPU loops over the shared functors.
#include "arith.hpp"

#include "../core/dispatch.hpp"
#include "checks.hpp"
#include "elementwise_cpu.hpp"
#include "functors.hpp"

namespace minidl {

namespace {

void binary(cuda::BinaryOp op, const char* name, const Tensor& a, const Tensor& b, Tensor& out) {
  detail::check_float(name, "a", a);
  detail::check_float(name, "b", b);
  detail::check_same_shape(name, "a", a, "b", b);
  detail::check_same_device(name, "a", a, "b", b);
  detail::prepare_output(name, out, a.shape(), a.device());
  const std::int64_t n = a.numel();
  const float *pa = a.data<float>(), *pb = b.data<float>();
  float* po = out.data<float>();
  if (a.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::binary(op, pa, pb, po, n, a.device().index()));
    return;
  }
  switch (op) {
    case cuda::BinaryOp::Add:
      cpu_detail::map(po, n, fn::Add{}, pa, pb);
      break;
    case cuda::BinaryOp::Sub:
      cpu_detail::map(po, n, fn::Sub{}, pa, pb);
      break;
    case cuda::BinaryOp::Mul:
      cpu_detail::map(po, n, fn::Mul{}, pa, pb);
      break;
  }
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(cuda::BinaryOp::Add, "add", a, b, out);
}
void sub(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(cuda::BinaryOp::Sub, "sub", a, b, out);
}
void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(cuda::BinaryOp::Mul, "mul", a, b, out);
}

void scale(const Tensor& a, float alpha, Tensor& out) {
  detail::check_float("scale", "a", a);
  detail::prepare_output("scale", out, a.shape(), a.device());
  if (a.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::scale(a.data<float>(), alpha, out.data<float>(), a.numel(), a.device().index()));
    return;
  }
  cpu_detail::map(out.data<float>(), a.numel(), fn::Scale{alpha}, a.data<float>());
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  detail::check_float("axpy", "x", x);
  detail::check_float("axpy", "y", y);
  detail::check_same_shape("axpy", "x", x, "y", y);
  detail::check_same_device("axpy", "x", x, "y", y);
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::axpy(alpha, x.data<float>(), y.data<float>(), x.numel(), x.device().index()));
    return;
  }
  float* py = y.data<float>();
  cpu_detail::map(py, x.numel(), fn::Axpy{alpha}, x.data<float>(), static_cast<const float*>(py));
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out;
  add(a, b, out);
  return out;
}
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out;
  sub(a, b, out);
  return out;
}
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out;
  mul(a, b, out);
  return out;
}
Tensor scale(const Tensor& a, float alpha) {
  Tensor out;
  scale(a, alpha, out);
  return out;
}

}  // namespace minidl
