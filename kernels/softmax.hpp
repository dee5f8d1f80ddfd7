// Softmax over the last axis, forward and backward, on CPU and CUDA.
//   y[r, k] = e^{z[r,k] - m} / sum_l e^{z[r,l] - m},  m = max_l z[r, l]
// Subtracting the row max keeps every exponent <= 0: finite for any finite z
// (rows of equal values give the uniform distribution). NaN in a row makes that
// row NaN.
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

/// y = softmax(z) over the last axis. Requires float32 and rank >= 1; `y`
/// undefined (allocated) or of z's shape and device; may be z (in place).
void softmax(const Tensor& z, Tensor& y);
/// dz = y * (dy - sum_k dy[k] y[k]) row by row, from the saved output y.
/// dz may alias dy.
void softmax_backward(const Tensor& dy, const Tensor& y, Tensor& dz);

Tensor softmax(const Tensor& z);
Tensor softmax_backward(const Tensor& dy, const Tensor& y);

namespace cuda {
void softmax(const float* z, float* y, std::int64_t rows, std::int64_t cols, int device);
void softmax_backward(const float* dy, const float* y, float* dz, std::int64_t rows,
                      std::int64_t cols, int device);
}  // namespace cuda

}  // namespace minidl
