// CUDA kernels for SVM kernel matrices.
//   kernel_map_kernel : in place over the GEMM output x_i.x'_j, a 2-D grid-stride
//                       loop applying KernelMap (linear / poly / rbf / sigmoid)
//                       with the two rows' squared norms: the fused map the
//                       cuBLAS SGEMM cannot do itself.
//   row_norms_kernel  : one warp per row, ||x_i||^2 by a warp shuffle reduction.
#include "../kernels/cuda_launch.cuh"
#include "kernel_function.hpp"

namespace minidl::svm::cuda_detail {

__global__ void kernel_map_kernel(float* __restrict__ k, std::int64_t m, std::int64_t n,
                                  const float* __restrict__ a_norms,
                                  const float* __restrict__ b_norms, KernelMap map) {
  const std::int64_t total = m * n;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t i = t / n;
    const std::int64_t j = t - i * n;
    const float ni = a_norms != nullptr ? a_norms[i] : 0.0f;
    const float nj = b_norms != nullptr ? b_norms[j] : 0.0f;
    k[t] = map(k[t], ni, nj);
  }
}

__global__ void row_norms_kernel(const float* __restrict__ x, std::int64_t n, std::int64_t d,
                                 float* __restrict__ norms) {
  const std::int64_t warp = (blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= n) return;
  const float* row = x + warp * d;
  float s = 0.0f;
  for (std::int64_t j = lane; j < d; j += 32) s += row[j] * row[j];
  for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
  if (lane == 0) norms[warp] = s;
}

}  // namespace minidl::svm::cuda_detail

namespace minidl::svm::cuda {

void kernel_map(float* k, std::int64_t m, std::int64_t n, const float* a_norms,
                const float* b_norms, const KernelMap& map, int device) {
  if (m * n == 0) return;
  cudaStream_t stream = minidl::cuda_detail::stream_for(device);
  const int grid = minidl::cuda_detail::grid_for(m * n, device);
  cuda_detail::kernel_map_kernel<<<grid, minidl::cuda_detail::kBlock, 0, stream>>>(k, m, n, a_norms,
                                                                                   b_norms, map);
  MINIDL_CUDA_LAUNCH_CHECK("svm kernel_map_kernel");
}

void row_sq_norms(const float* x, std::int64_t n, std::int64_t d, float* norms, int device) {
  if (n == 0) return;
  cudaStream_t stream = minidl::cuda_detail::stream_for(device);
  const int block = 256;
  const std::int64_t blocks = (n * 32 + block - 1) / block;
  cuda_detail::row_norms_kernel<<<static_cast<unsigned>(blocks), block, 0, stream>>>(x, n, d,
                                                                                     norms);
  MINIDL_CUDA_LAUNCH_CHECK("svm row_norms_kernel");
}

}  // namespace minidl::svm::cuda
