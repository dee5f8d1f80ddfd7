// add_row_vector_kernel: a 2-D grid, x over columns (coalesced) and y over row
// blocks; each thread keeps its bias value in a register and walks rows, so no
// index division is needed.
#include "broadcast.hpp"
#include "cuda_launch.cuh"

namespace minidl::cuda {

namespace {
constexpr int kRowsPerBlock = 32;

__global__ void add_row_vector_kernel(float* __restrict__ z, const float* __restrict__ b,
                                      std::int64_t rows, std::int64_t cols) {
  const std::int64_t c = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (c >= cols) return;
  const float bias = __ldg(b + c);
  // grid.y is capped at 65535: blocks stride over the row blocks.
  for (std::int64_t r0 = blockIdx.y * std::int64_t{kRowsPerBlock}; r0 < rows;
       r0 += std::int64_t{gridDim.y} * kRowsPerBlock) {
    const std::int64_t r1 = min(rows, r0 + kRowsPerBlock);
    for (std::int64_t r = r0; r < r1; ++r) z[r * cols + c] += bias;
  }
}
}  // namespace

void add_row_vector(float* z, const float* b, std::int64_t rows, std::int64_t cols, int device) {
  if (rows == 0 || cols == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  const std::int64_t row_blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  const dim3 grid(static_cast<unsigned>((cols + 127) / 128),
                  static_cast<unsigned>(std::min<std::int64_t>(row_blocks, 65535)));
  add_row_vector_kernel<<<grid, 128, 0, stream>>>(z, b, rows, cols);
  MINIDL_CUDA_LAUNCH_CHECK("add_row_vector_kernel");
}

}  // namespace minidl::cuda
