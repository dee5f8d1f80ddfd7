// Column-block copies: checks, dispatch and the CPU loop.
#include "columns.hpp"

#include <cstring>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

namespace {

void copy_2d(float* dst, std::int64_t dst_pitch, const float* src, std::int64_t src_pitch,
             std::int64_t rows, std::int64_t width, Device device) {
  if (rows == 0 || width == 0) return;
  if (device.is_cuda()) {
    MINIDL_CUDA_CALL(cuda::copy_2d(dst, dst_pitch, src, src_pitch, rows, width, device.index()));
    return;
  }
  parallel_for(rows, grain_for(width, 1 << 15),
               [&](std::int64_t r_begin, std::int64_t r_end) {
                 for (std::int64_t r = r_begin; r < r_end; ++r) {
                   std::memcpy(dst + r * dst_pitch, src + r * src_pitch,
                               static_cast<std::size_t>(width) * sizeof(float));
                 }
               });
}

void check(const char* op, const Tensor& narrow, const Tensor& wide, std::int64_t offset) {
  detail::check_float(op, "narrow", narrow);
  detail::check_float(op, "wide", wide);
  detail::check_same_device(op, "narrow", narrow, "wide", wide);
  MINIDL_CHECK(narrow.rank() == 2 && wide.rank() == 2 && narrow.size(0) == wide.size(0) &&
                   offset >= 0 && offset + narrow.size(1) <= wide.size(1),
               ShapeError, op, ": columns [", offset, ", ",
               offset + (narrow.rank() == 2 ? narrow.size(1) : 0), ") of ", narrow.shape(),
               " do not fit in ", wide.shape());
}

}  // namespace

void copy_into_columns(const Tensor& src, Tensor& dst, std::int64_t offset) {
  check("copy_into_columns", src, dst, offset);
  copy_2d(dst.data<float>() + offset, dst.size(1), src.data<float>(), src.size(1), src.size(0),
          src.size(1), src.device());
}

void copy_from_columns(const Tensor& src, std::int64_t offset, Tensor& dst) {
  check("copy_from_columns", dst, src, offset);
  copy_2d(dst.data<float>(), dst.size(1), src.data<float>() + offset, src.size(1), dst.size(0),
          dst.size(1), src.device());
}

}  // namespace minidl
