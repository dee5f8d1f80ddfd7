// Launch helpers shared by minidl's CUDA kernels (internal; not installed).
#pragma once

#include <algorithm>
#include <cstdint>

#include "../core/context.hpp"
#include "../core/cuda_check.hpp"

namespace minidl::cuda_detail {

constexpr int kBlock = 256;

/// Blocks for a grid-stride loop over n items: one full wave (2048 resident
/// threads per SM on sm_80/sm_90), never more than the items need.
inline int grid_for(std::int64_t n, int device, int block = kBlock) {
  const int sms = CudaContext::get(device).info().multiprocessors;
  const std::int64_t needed = (n + block - 1) / block;
  return static_cast<int>(std::max<std::int64_t>(
      1, std::min<std::int64_t>(needed, std::int64_t{sms} * (2048 / block))));
}

/// Sets the device for the calling thread and returns its stream.
inline cudaStream_t stream_for(int device) {
  CudaContext& ctx = CudaContext::get(device);
  MINIDL_CUDA_CHECK(cudaSetDevice(device));
  return ctx.stream();
}

}  // namespace minidl::cuda_detail
