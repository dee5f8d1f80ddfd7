// Fill ops: constant, arithmetic sequence, uniform and normal random values.
// Each overwrites every element of `out` in place, on out's device (CPU loop with
// OpenMP, or a CUDA grid-stride kernel on the device's stream).
#pragma once

#include <cstdint>

#include "../core/tensor.hpp"

namespace minidl {

/// out[i] = value. For int32, value must be an integer within int32's range
/// (else ValueError).
void fill(Tensor& out, double value);

/// out[i] = start + i * step, computed in double and converted to out's dtype.
void fill_arange(Tensor& out, double start, double step);

/// out[i] uniform in [low, high) from draw (seed, offset): see random.hpp.
/// Requires float32 and low <= high (finite), else DTypeError / ValueError.
void fill_uniform(Tensor& out, float low, float high, Generator::Draw draw);

/// out[i] normal(mean, stddev) from draw (seed, offset). Requires float32 and a finite
/// stddev >= 0.
void fill_normal(Tensor& out, float mean, float stddev, Generator::Draw draw);

namespace cuda {
// The CUDA implementations, called by the ops above after their checks.
// `n` elements at `data` on the current context's device.
void fill_f32(float* data, std::int64_t n, float value, int device);
void fill_i32(std::int32_t* data, std::int64_t n, std::int32_t value, int device);
void arange_f32(float* data, std::int64_t n, double start, double step, int device);
void arange_i32(std::int32_t* data, std::int64_t n, double start, double step, int device);
void uniform_f32(float* data, std::int64_t n, float low, float high, Generator::Draw draw,
                 int device);
void normal_f32(float* data, std::int64_t n, float mean, float stddev, Generator::Draw draw,
                int device);
}  // namespace cuda

}  // namespace minidl
