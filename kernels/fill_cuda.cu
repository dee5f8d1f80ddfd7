// CUDA fill kernels.
//   fill_kernel    : grid-stride constant store.
//   arange_kernel  : grid-stride start + i * step in double (same arithmetic as the CPU loop).
//   philox_kernel  : one Philox4x32-10 block per thread -> 4 consecutive elements,
//                    the same (block -> elements) mapping as the CPU loop, so both
//                    devices produce the same numbers for the same draw.
#include "fill.hpp"

#include "cuda_launch.cuh"

namespace minidl::cuda {

namespace {

template <class T>
__global__ void fill_kernel(T* __restrict__ data, std::int64_t n, T value) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    data[i] = value;
  }
}

template <class T>
__global__ void arange_kernel(T* __restrict__ data, std::int64_t n, double start, double step) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    // __dmul_rn / __dadd_rn: no fma contraction, same rounding as the host loop.
    data[i] = static_cast<T>(__dadd_rn(start, __dmul_rn(static_cast<double>(i), step)));
  }
}

struct UniformTransform {
  float low, high;
  __device__ void operator()(const Philox4x32& r, float* v) const {
    for (int j = 0; j < 4; ++j) v[j] = uniform_from_bits(r.v[j], low, high);
  }
};

struct NormalTransform {
  float mean, stddev;
  __device__ void operator()(const Philox4x32& r, float* v) const {
    for (int j = 0; j < 4; ++j)
      v[j] = normal_from_bits(r.v[j & ~1], r.v[j | 1], (j & 1) != 0, mean, stddev);
  }
};

template <class Transform>
__global__ void philox_kernel(float* __restrict__ data, std::int64_t n, std::uint64_t seed,
                              std::uint64_t offset, Transform transform) {
  const std::int64_t blocks = (n + 3) / 4;
  for (std::int64_t b = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; b < blocks;
       b += std::int64_t{gridDim.x} * blockDim.x) {
    const Philox4x32 r = philox_block(seed, offset, static_cast<std::uint64_t>(b));
    float v[4];
    transform(r, v);
    const std::int64_t base = 4 * b;
    if (base + 4 <= n && (reinterpret_cast<std::uintptr_t>(data) % 16) == 0) {
      reinterpret_cast<float4*>(data)[b] = make_float4(v[0], v[1], v[2], v[3]);
    } else {
      for (int j = 0; j < 4 && base + j < n; ++j) data[base + j] = v[j];
    }
  }
}

template <class T>
void launch_fill(T* data, std::int64_t n, T value, int device) {
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  fill_kernel<<<cuda_detail::grid_for(n, device), cuda_detail::kBlock, 0, stream>>>(data, n, value);
  MINIDL_CUDA_LAUNCH_CHECK("fill_kernel");
}

template <class T>
void launch_arange(T* data, std::int64_t n, double start, double step, int device) {
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  arange_kernel<<<cuda_detail::grid_for(n, device), cuda_detail::kBlock, 0, stream>>>(data, n,
                                                                                      start, step);
  MINIDL_CUDA_LAUNCH_CHECK("arange_kernel");
}

template <class Transform>
void launch_philox(float* data, std::int64_t n, Generator::Draw draw, Transform transform,
                   int device) {
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  philox_kernel<<<cuda_detail::grid_for((n + 3) / 4, device), cuda_detail::kBlock, 0, stream>>>(
      data, n, draw.seed, draw.offset, transform);
  MINIDL_CUDA_LAUNCH_CHECK("philox_kernel");
}

}  // namespace

void fill_f32(float* data, std::int64_t n, float value, int device) {
  launch_fill(data, n, value, device);
}
void fill_i32(std::int32_t* data, std::int64_t n, std::int32_t value, int device) {
  launch_fill(data, n, value, device);
}
void arange_f32(float* data, std::int64_t n, double start, double step, int device) {
  launch_arange(data, n, start, step, device);
}
void arange_i32(std::int32_t* data, std::int64_t n, double start, double step, int device) {
  launch_arange(data, n, start, step, device);
}
void uniform_f32(float* data, std::int64_t n, float low, float high, Generator::Draw draw,
                 int device) {
  launch_philox(data, n, draw, UniformTransform{low, high}, device);
}
void normal_f32(float* data, std::int64_t n, float mean, float stddev, Generator::Draw draw,
                int device) {
  launch_philox(data, n, draw, NormalTransform{mean, stddev}, device);
}

}  // namespace minidl::cuda
