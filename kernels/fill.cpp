// Fill ops: argument checks, dispatch on the tensor's device, and the CPU loops.
#include "fill.hpp"

#include <cmath>
#include <limits>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"

namespace minidl {

namespace {

void check_out(const Tensor& out, const char* op) {
  MINIDL_CHECK(out.defined(), ValueError, op, ": the output tensor is undefined");
}

std::int32_t to_int32(double value, const char* op) {
  MINIDL_CHECK(std::isfinite(value) && value == std::trunc(value) &&
                   value >= std::numeric_limits<std::int32_t>::min() &&
                   value <= std::numeric_limits<std::int32_t>::max(),
               ValueError, op, ": ", value, " is not an int32 value");
  return static_cast<std::int32_t>(value);
}

template <class T>
void cpu_fill(T* data, std::int64_t n, T value) {
  parallel_for(n, 1 << 15, [&](std::int64_t i_begin, std::int64_t i_end) {
    for (std::int64_t i = i_begin; i < i_end; ++i) data[i] = value;
  });
}

template <class T>
void cpu_arange(T* data, std::int64_t n, double start, double step) {
  parallel_for(n, 1 << 15, [&](std::int64_t i_begin, std::int64_t i_end) {
    for (std::int64_t i = i_begin; i < i_end; ++i)
      data[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
}

// Each iteration produces the four elements of one Philox block, exactly as one
// CUDA thread does, so the two devices agree element for element.
template <class Transform>
void cpu_philox(float* data, std::int64_t n, Generator::Draw draw, Transform transform) {
  const std::int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1 << 13, [&](std::int64_t b_begin, std::int64_t b_end) {
    for (std::int64_t b = b_begin; b < b_end; ++b) {
      const Philox4x32 r = philox_block(draw.seed, draw.offset, static_cast<std::uint64_t>(b));
      float v[4];
      transform(r, v);
      const std::int64_t base = 4 * b;
      for (int j = 0; j < 4 && base + j < n; ++j) data[base + j] = v[j];
    }
  });
}

}  // namespace

void fill(Tensor& out, double value) {
  check_out(out, "fill");
  const std::int64_t n = out.numel();
  const Device d = out.device();
  switch (out.dtype()) {
    case DType::Float32: {
      const auto v = static_cast<float>(value);
      if (d.is_cpu())
        cpu_fill(out.data<float>(), n, v);
      else
        MINIDL_CUDA_CALL(cuda::fill_f32(out.data<float>(), n, v, d.index()));
      break;
    }
    case DType::Int32: {
      const std::int32_t v = to_int32(value, "fill");
      if (d.is_cpu())
        cpu_fill(out.data<std::int32_t>(), n, v);
      else
        MINIDL_CUDA_CALL(cuda::fill_i32(out.data<std::int32_t>(), n, v, d.index()));
      break;
    }
  }
}

void fill_arange(Tensor& out, double start, double step) {
  check_out(out, "fill_arange");
  const std::int64_t n = out.numel();
  const Device d = out.device();
  switch (out.dtype()) {
    case DType::Float32:
      if (d.is_cpu())
        cpu_arange(out.data<float>(), n, start, step);
      else
        MINIDL_CUDA_CALL(cuda::arange_f32(out.data<float>(), n, start, step, d.index()));
      break;
    case DType::Int32:
      if (n > 0) {
        to_int32(start, "fill_arange");
        to_int32(start + static_cast<double>(n - 1) * step, "fill_arange");
      }
      if (d.is_cpu())
        cpu_arange(out.data<std::int32_t>(), n, start, step);
      else
        MINIDL_CUDA_CALL(cuda::arange_i32(out.data<std::int32_t>(), n, start, step, d.index()));
      break;
  }
}

void fill_uniform(Tensor& out, float low, float high, Generator::Draw draw) {
  check_out(out, "fill_uniform");
  MINIDL_CHECK(out.dtype() == DType::Float32, DTypeError, "fill_uniform: needs float32, got ",
               out.dtype());
  MINIDL_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high, ValueError,
               "fill_uniform: needs finite low <= high, got [", low, ", ", high, ")");
  const Device d = out.device();
  if (d.is_cuda()) {
    MINIDL_CUDA_CALL(cuda::uniform_f32(out.data<float>(), out.numel(), low, high, draw, d.index()));
    return;
  }
  cpu_philox(out.data<float>(), out.numel(), draw, [=](const Philox4x32& r, float* v) {
    for (int j = 0; j < 4; ++j) v[j] = uniform_from_bits(r.v[j], low, high);
  });
}

void fill_normal(Tensor& out, float mean, float stddev, Generator::Draw draw) {
  check_out(out, "fill_normal");
  MINIDL_CHECK(out.dtype() == DType::Float32, DTypeError, "fill_normal: needs float32, got ",
               out.dtype());
  MINIDL_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0.0f, ValueError,
               "fill_normal: needs a finite mean and a finite stddev >= 0, got mean ", mean,
               ", stddev ", stddev);
  const Device d = out.device();
  if (d.is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::normal_f32(out.data<float>(), out.numel(), mean, stddev, draw, d.index()));
    return;
  }
  cpu_philox(out.data<float>(), out.numel(), draw, [=](const Philox4x32& r, float* v) {
    for (int j = 0; j < 4; ++j)
      v[j] = normal_from_bits(r.v[j & ~1], r.v[j | 1], (j & 1) != 0, mean, stddev);
  });
}

}  // namespace minidl
