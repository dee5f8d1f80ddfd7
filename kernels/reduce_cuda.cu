// CUDA reductions.
//   reduce_rows_kernel  : inner == 1 (reducing the last axis): one block per row,
//                         strided loads, a block tree sum.
//   reduce_cols_kernel  : inner > 1 (e.g. a bias gradient, axis 0 of [N, M]): a
//                         32 x 8 tile of threads per 32 outputs; threads walk the
//                         reduced axis 8 rows apart with coalesced loads, then the
//                         8 partial sums per column meet in shared memory.
//   argmax_kernel       : one warp per row; (value, index) pairs reduced with
//                         shuffles, first index on ties, NaN wins.
// Sums accumulate in double, as the CPU loops do (kernels/reduce.cpp): a float running sum
// over a thread's share drifts (262,144 additions of 0.1f come to 0.25% short), past the
// parity table's tolerance for a long row; the loads dominate either way.
#include "elementwise.cuh"
#include "reduce.hpp"

namespace minidl::cuda {

namespace {

__global__ void reduce_rows_kernel(const float* __restrict__ x, float* __restrict__ out,
                                   std::int64_t extent, float scale) {
  __shared__ double scratch[32];
  const float* row = x + blockIdx.x * extent;
  double acc = 0.0;
  for (std::int64_t k = threadIdx.x; k < extent; k += blockDim.x) acc += __ldg(row + k);
  acc = cuda_detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<float>(acc * scale);
}

constexpr int kColsX = 32, kColsY = 8;

__global__ void reduce_cols_kernel(const float* __restrict__ x, float* __restrict__ out,
                                   std::int64_t outer, std::int64_t extent, std::int64_t inner,
                                   float scale) {
  __shared__ double partial[kColsY][kColsX + 1];
  const std::int64_t i = blockIdx.x * std::int64_t{kColsX} + threadIdx.x;
  // grid.y is capped at 65535: blocks stride over the outer slices.
  for (std::int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    double acc = 0.0;
    if (i < inner) {
      const float* base = x + o * extent * inner + i;
      for (std::int64_t k = threadIdx.y; k < extent; k += kColsY) acc += __ldg(base + k * inner);
    }
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      double total = 0.0;
      for (int r = 0; r < kColsY; ++r) total += partial[r][threadIdx.x];
      out[o * inner + i] = static_cast<float>(total * scale);
    }
    __syncthreads();  // partial is rewritten by the next slice
  }
}

// (value, index) a beats (value, index) b: larger value, NaN over everything, the
// first index on ties.
__device__ __forceinline__ bool beats(float va, std::int64_t ia, float vb, std::int64_t ib) {
  const bool na = isnan(va), nb = isnan(vb);
  if (na || nb) return na && (!nb || ia < ib);
  return va > vb || (va == vb && ia < ib);
}

__global__ void argmax_kernel(const float* __restrict__ x, std::int32_t* __restrict__ out,
                              std::int64_t rows, std::int64_t cols) {
  const std::int64_t row = blockIdx.x * std::int64_t{blockDim.x / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* r = x + row * cols;
  float best = -INFINITY;
  std::int64_t best_i = cols;  // "none yet": loses every comparison below
  for (std::int64_t c = lane; c < cols; c += 32) {
    const float v = __ldg(r + c);
    if (best_i == cols || beats(v, c, best, best_i)) {
      best = v;
      best_i = c;
    }
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float v = __shfl_xor_sync(0xffffffffu, best, offset);
    const std::int64_t i = __shfl_xor_sync(0xffffffffu, best_i, offset);
    if (i != cols && (best_i == cols || beats(v, i, best, best_i))) {
      best = v;
      best_i = i;
    }
  }
  if (lane == 0) out[row] = static_cast<std::int32_t>(best_i);
}

}  // namespace

void reduce_sum(const float* x, float* out, std::int64_t outer, std::int64_t extent,
                std::int64_t inner, float scale, int device) {
  if (outer * inner == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  if (inner == 1) {
    MINIDL_CHECK(outer <= 0x7fffffff, ShapeError, "sum: ", outer, " rows exceed the CUDA grid");
    reduce_rows_kernel<<<static_cast<unsigned>(outer), 256, 0, stream>>>(x, out, extent, scale);
    MINIDL_CUDA_LAUNCH_CHECK("reduce_rows_kernel");
  } else {
    const std::int64_t col_blocks = (inner + kColsX - 1) / kColsX;
    MINIDL_CHECK(col_blocks <= 0x7fffffff, ShapeError, "sum: ", inner,
                 " inner elements exceed the CUDA grid");
    const dim3 grid(static_cast<unsigned>(col_blocks),
                    static_cast<unsigned>(std::min<std::int64_t>(outer, 65535)));
    reduce_cols_kernel<<<grid, dim3(kColsX, kColsY), 0, stream>>>(x, out, outer, extent, inner,
                                                                  scale);
    MINIDL_CUDA_LAUNCH_CHECK("reduce_cols_kernel");
  }
}

void argmax(const float* x, std::int32_t* out, std::int64_t rows, std::int64_t cols, int device) {
  if (rows == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  constexpr int kWarps = 8;
  const auto blocks = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  argmax_kernel<<<blocks, kWarps * 32, 0, stream>>>(x, out, rows, cols);
  MINIDL_CUDA_LAUNCH_CHECK("argmax_kernel");
}

}  // namespace minidl::cuda
