// Column blocks of row-major matrices: the Concat layer's forward (copy a
// [R, Cs] block into columns [offset, offset + Cs) of a [R, Cd] matrix) and
// backward (the reverse). A strided 2-D copy: memcpy per row on the CPU,
// cudaMemcpy2DAsync on the GPU.
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

/// dst[:, offset:offset+Cs] = src. Requires float32 [R, Cs] and [R, Cd] on one device.
void copy_into_columns(const Tensor& src, Tensor& dst, std::int64_t offset);
/// dst = src[:, offset:offset+Cd] for src [R, Cs] and dst [R, Cd].
void copy_from_columns(const Tensor& src, std::int64_t offset, Tensor& dst);

namespace cuda {
/// rows x width floats from src (row pitch src_pitch floats) to dst (row pitch dst_pitch).
void copy_2d(float* dst, std::int64_t dst_pitch, const float* src, std::int64_t src_pitch,
             std::int64_t rows, std::int64_t width, int device);
}  // namespace cuda

}  // namespace minidl
