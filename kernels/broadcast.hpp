// Row-vector broadcasts: the Dense layer's bias.
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

/// z[r, c] += b[c] for z [R, C] and b [C], float32, one device. In place on z.
void add_row_vector(Tensor& z, const Tensor& b);

namespace cuda {
void add_row_vector(float* z, const float* b, std::int64_t rows, std::int64_t cols, int device);
}  // namespace cuda

}  // namespace minidl
