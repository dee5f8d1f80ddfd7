// Softmax: checks, dispatch and the CPU rows (accumulating in double).
#include "softmax.hpp"

#include <cmath>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

namespace {
void rows_of(const char* op, const Tensor& t, std::int64_t& rows, std::int64_t& cols) {
  MINIDL_CHECK(t.rank() >= 1, ShapeError, op, ": needs at least one axis, got a scalar");
  cols = t.size(-1);
  rows = cols == 0 ? 0 : t.numel() / cols;
}
}  // namespace

void softmax(const Tensor& z, Tensor& y) {
  detail::check_float("softmax", "z", z);
  std::int64_t rows = 0, cols = 0;
  rows_of("softmax", z, rows, cols);
  detail::prepare_output("softmax", y, z.shape(), z.device());
  if (z.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::softmax(z.data<float>(), y.data<float>(), rows, cols, z.device().index()));
    return;
  }
  const float* in = z.data<float>();
  float* out = y.data<float>();
  parallel_for(rows, grain_for(cols, 1 << 15),
               [&](std::int64_t r_begin, std::int64_t r_end) {
                 for (std::int64_t r = r_begin; r < r_end; ++r) {
                   const float* zr = in + r * cols;
                   float* yr = out + r * cols;
                   float m = zr[0];
                   // fmax skips NaN; a NaN element still makes its exp, the sum and so the row NaN.
                   for (std::int64_t k = 1; k < cols; ++k) m = std::fmax(m, zr[k]);
                   double s = 0.0;
                   for (std::int64_t k = 0; k < cols; ++k) {
                     yr[k] = std::exp(zr[k] - m);
                     s += yr[k];
                   }
                   const auto inv = static_cast<float>(1.0 / s);
                   for (std::int64_t k = 0; k < cols; ++k) yr[k] *= inv;
                 }
               });
}

void softmax_backward(const Tensor& dy, const Tensor& y, Tensor& dz) {
  detail::check_float("softmax_backward", "dy", dy);
  detail::check_float("softmax_backward", "y", y);
  detail::check_same_shape("softmax_backward", "dy", dy, "y", y);
  detail::check_same_device("softmax_backward", "dy", dy, "y", y);
  std::int64_t rows = 0, cols = 0;
  rows_of("softmax_backward", y, rows, cols);
  detail::prepare_output("softmax_backward", dz, y.shape(), y.device());
  if (y.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::softmax_backward(dy.data<float>(), y.data<float>(), dz.data<float>(),
                                            rows, cols, y.device().index()));
    return;
  }
  const float* g = dy.data<float>();
  const float* p = y.data<float>();
  float* out = dz.data<float>();
  parallel_for(rows, grain_for(cols, 1 << 15),
               [&](std::int64_t r_begin, std::int64_t r_end) {
                 for (std::int64_t r = r_begin; r < r_end; ++r) {
                   const float* gr = g + r * cols;
                   const float* pr = p + r * cols;
                   float* o = out + r * cols;
                   double dot = 0.0;
                   for (std::int64_t k = 0; k < cols; ++k)
                     dot += static_cast<double>(gr[k]) * pr[k];
                   const auto d = static_cast<float>(dot);
                   for (std::int64_t k = 0; k < cols; ++k) o[k] = pr[k] * (gr[k] - d);
                 }
               });
}

Tensor softmax(const Tensor& z) {
  Tensor y;
  softmax(z, y);
  return y;
}
Tensor softmax_backward(const Tensor& dy, const Tensor& y) {
  Tensor dz;
  softmax_backward(dy, y, dz);
  return dz;
}

}  // namespace minidl
