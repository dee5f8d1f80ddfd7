// copy_2d on the GPU: one cudaMemcpy2DAsync on the device's stream.
#include "../core/context.hpp"
#include "../core/cuda_check.hpp"
#include "columns.hpp"

namespace minidl::cuda {

void copy_2d(float* dst, std::int64_t dst_pitch, const float* src, std::int64_t src_pitch,
             std::int64_t rows, std::int64_t width, int device) {
  CudaContext& ctx = CudaContext::get(device);
  MINIDL_CUDA_CHECK(cudaSetDevice(device));
  const std::size_t f = sizeof(float);
  MINIDL_CUDA_CHECK(cudaMemcpy2DAsync(
      dst, static_cast<std::size_t>(dst_pitch) * f, src, static_cast<std::size_t>(src_pitch) * f,
      static_cast<std::size_t>(width) * f, static_cast<std::size_t>(rows), cudaMemcpyDeviceToDevice,
      ctx.stream()));
}

}  // namespace minidl::cuda
