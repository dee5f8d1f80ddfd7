// dropout_kernel: one Philox block (4 consecutive elements) per thread, grid-
// stride; the same element -> word mapping as the CPU loop, so the masks agree.
#include "cuda_launch.cuh"
#include "dropout.hpp"

namespace minidl::cuda {

namespace {
// No __restrict__: the layer may drop out in place (in == out).
__global__ void dropout_kernel(const float* in, float* out,
                               std::int64_t n, DropoutMask mask, std::uint64_t seed,
                               std::uint64_t offset) {
  const std::int64_t blocks = (n + 3) / 4;
  for (std::int64_t b = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; b < blocks;
       b += std::int64_t{gridDim.x} * blockDim.x) {
    const Philox4x32 r = philox_block(seed, offset, static_cast<std::uint64_t>(b));
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) out[4 * b + j] = mask(r.v[j], in[4 * b + j]);
  }
}
}  // namespace

void dropout(const float* in, float* out, std::int64_t n, float p, Generator::Draw draw,
             int device) {
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  dropout_kernel<<<cuda_detail::grid_for((n + 3) / 4, device), cuda_detail::kBlock, 0, stream>>>(
      in, out, n, DropoutMask{p, 1.0f / (1.0f - p)}, draw.seed, draw.offset);
  MINIDL_CUDA_LAUNCH_CHECK("dropout_kernel");
}

}  // namespace minidl::cuda
