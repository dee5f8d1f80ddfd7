// add_row_vector: checks, dispatch, CPU loop.
#include "broadcast.hpp"

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

void add_row_vector(Tensor& z, const Tensor& b) {
  const char* op = "add_row_vector";
  detail::check_float(op, "z", z);
  detail::check_float(op, "b", b);
  MINIDL_CHECK(z.rank() == 2 && b.rank() == 1 && b.size(0) == z.size(1), ShapeError, op,
               ": needs z [R, C] and b [C], got z ", z.shape(), " and b ", b.shape());
  detail::check_same_device(op, "z", z, "b", b);
  const std::int64_t rows = z.size(0), cols = z.size(1);
  if (z.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::add_row_vector(z.data<float>(), b.data<float>(), rows, cols, z.device().index()));
    return;
  }
  float* pz = z.data<float>();
  const float* pb = b.data<float>();
  parallel_for(rows, grain_for(cols, 1 << 15),
               [&](std::int64_t r_begin, std::int64_t r_end) {
                 for (std::int64_t r = r_begin; r < r_end; ++r) {
                   float* row = pz + r * cols;
#pragma omp simd
                   for (std::int64_t c = 0; c < cols; ++c) row[c] += pb[c];
                 }
               });
}

}  // namespace minidl
