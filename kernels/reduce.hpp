// Reductions: sum and mean over one axis (bias gradients), the sum of all
// elements, argmax over the last axis (accuracy). float32 in; sums accumulate in
// double on the CPU and in float with a tree order on CUDA.
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

/// out = sum of x over `axis` (negative counts from the end); out's shape is x's
/// without that axis. `out` undefined (allocated) or of that shape and x's device.
/// An empty axis sums to 0.
void sum(const Tensor& x, int axis, Tensor& out);
/// out = sum over `axis` divided by its extent (NaN for an empty axis, as numpy).
void mean(const Tensor& x, int axis, Tensor& out);
/// A 0-d tensor: the sum of every element.
Tensor sum_all(const Tensor& x);
/// Indices (int32) of the largest value along the last axis; shape is x's without
/// it. Ties go to the first index; a NaN counts as the largest (numpy's rule).
/// Requires a non-empty last axis (ShapeError).
void argmax(const Tensor& x, Tensor& out);

Tensor sum(const Tensor& x, int axis);
Tensor mean(const Tensor& x, int axis);
Tensor argmax(const Tensor& x);

namespace cuda {
/// x viewed as [outer, extent, inner]: out[o, i] = scale * sum_k x[o, k, i].
void reduce_sum(const float* x, float* out, std::int64_t outer, std::int64_t extent,
                std::int64_t inner, float scale, int device);
/// x viewed as [rows, cols]: out[r] = argmax_c x[r, c].
void argmax(const float* x, std::int32_t* out, std::int64_t rows, std::int64_t cols, int device);
}  // namespace cuda

}  // namespace minidl
