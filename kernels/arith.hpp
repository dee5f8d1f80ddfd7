// Elementwise arithmetic the layers and optimizers need: add, sub, mul, scale,
// axpy. Same shapes, same device, float32; no broadcasting (a bias add is the
// Dense layer's business). Outputs may alias inputs (in place).
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

/// out = a + b. `out` undefined (allocated) or of a's shape and device.
void add(const Tensor& a, const Tensor& b, Tensor& out);
/// out = a - b.
void sub(const Tensor& a, const Tensor& b, Tensor& out);
/// out = a * b (elementwise).
void mul(const Tensor& a, const Tensor& b, Tensor& out);
/// out = alpha * a.
void scale(const Tensor& a, float alpha, Tensor& out);
/// y = alpha * x + y, in place on y (one rounding: fma).
void axpy(float alpha, const Tensor& x, Tensor& y);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, float alpha);

namespace cuda {
enum class BinaryOp { Add, Sub, Mul };
void binary(BinaryOp op, const float* a, const float* b, float* out, std::int64_t n, int device);
void scale(const float* a, float alpha, float* out, std::int64_t n, int device);
void axpy(float alpha, const float* x, float* y, std::int64_t n, int device);
}  // namespace cuda

}  // namespace minidl
