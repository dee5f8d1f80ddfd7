// CUDA softmax over the last axis.
//   softmax_warp_kernel<VPL>      : cols <= 1024. One warp per row, the row in
//                                   registers (VPL values per lane): one read of
//                                   z, one write of y; max and sum by shuffles.
//   softmax_block_kernel          : cols > 1024. One block per row: an online
//                                   (max, sum) pass, then a pass that writes y.
//   softmax_backward_*            : dz = y (dy - <dy, y>), same two shapes.
#include "softmax.hpp"
#include "softmax_rows.cuh"

namespace minidl::cuda {

namespace {

using namespace cuda_detail;
constexpr int kWarpsPerBlock = 8;

template <int VPL>
__global__ void softmax_warp_kernel(const float* __restrict__ z, float* __restrict__ y,
                                    std::int64_t rows, int cols) {
  const std::int64_t row = blockIdx.x * std::int64_t{kWarpsPerBlock} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* zr = z + row * cols;
  float v[VPL];
  float m = -INFINITY;
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    v[j] = c < cols ? __ldg(zr + c) : -INFINITY;
    m = fmaxf(m, v[j]);
  }
  m = warp_max(m);
  float s = 0.0f;
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    v[j] = c < cols ? expf(v[j] - m) : 0.0f;
    s += v[j];
  }
  const float inv = 1.0f / warp_sum(s);
  float* yr = y + row * cols;
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    if (c < cols) yr[c] = v[j] * inv;
  }
}

__global__ void softmax_block_kernel(const float* __restrict__ z, float* __restrict__ y,
                                     std::int64_t cols) {
  __shared__ MaxSum scratch[32];
  const float* zr = z + blockIdx.x * cols;
  MaxSum ms = max_sum_empty();
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) ms = max_sum_add(ms, __ldg(zr + c));
  ms = block_max_sum(ms, scratch);
  const float inv = 1.0f / ms.s;
  float* yr = y + blockIdx.x * cols;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    yr[c] = expf(__ldg(zr + c) - ms.m) * inv;
}

template <int VPL>
__global__ void softmax_backward_warp_kernel(const float* __restrict__ dy,
                                             const float* __restrict__ y, float* __restrict__ dz,
                                             std::int64_t rows, int cols) {
  const std::int64_t row = blockIdx.x * std::int64_t{kWarpsPerBlock} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const std::int64_t base = row * cols;
  float g[VPL], p[VPL];
  float dot = 0.0f;
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    g[j] = c < cols ? __ldg(dy + base + c) : 0.0f;
    p[j] = c < cols ? __ldg(y + base + c) : 0.0f;
    dot += g[j] * p[j];
  }
  dot = warp_sum(dot);
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    if (c < cols) dz[base + c] = p[j] * (g[j] - dot);
  }
}

__global__ void softmax_backward_block_kernel(const float* __restrict__ dy,
                                              const float* __restrict__ y, float* __restrict__ dz,
                                              std::int64_t cols) {
  __shared__ float scratch[32];
  const std::int64_t base = blockIdx.x * cols;
  float dot = 0.0f;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    dot += __ldg(dy + base + c) * __ldg(y + base + c);
  dot = block_sum_all(dot, scratch);
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float p = __ldg(y + base + c);
    dz[base + c] = p * (__ldg(dy + base + c) - dot);
  }
}

unsigned warp_blocks(std::int64_t rows) {
  return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

}  // namespace

void softmax(const float* z, float* y, std::int64_t rows, std::int64_t cols, int device) {
  if (rows == 0 || cols == 0) return;
  cudaStream_t stream = stream_for(device);
  if (cols <= 1024) {
    with_values_per_lane(cols, [&](auto vpl) {
      softmax_warp_kernel<decltype(vpl)::value>
          <<<warp_blocks(rows), 32 * kWarpsPerBlock, 0, stream>>>(z, y, rows,
                                                                  static_cast<int>(cols));
    });
    MINIDL_CUDA_LAUNCH_CHECK("softmax_warp_kernel");
  } else {
    softmax_block_kernel<<<static_cast<unsigned>(rows), 512, 0, stream>>>(z, y, cols);
    MINIDL_CUDA_LAUNCH_CHECK("softmax_block_kernel");
  }
}

void softmax_backward(const float* dy, const float* y, float* dz, std::int64_t rows,
                      std::int64_t cols, int device) {
  if (rows == 0 || cols == 0) return;
  cudaStream_t stream = stream_for(device);
  if (cols <= 1024) {
    with_values_per_lane(cols, [&](auto vpl) {
      softmax_backward_warp_kernel<decltype(vpl)::value>
          <<<warp_blocks(rows), 32 * kWarpsPerBlock, 0, stream>>>(dy, y, dz, rows,
                                                                  static_cast<int>(cols));
    });
    MINIDL_CUDA_LAUNCH_CHECK("softmax_backward_warp_kernel");
  } else {
    softmax_backward_block_kernel<<<static_cast<unsigned>(rows), 512, 0, stream>>>(dy, y, dz, cols);
    MINIDL_CUDA_LAUNCH_CHECK("softmax_backward_block_kernel");
  }
}

}  // namespace minidl::cuda
