// CUDA gradient clipping by global norm, without a host synchronisation.
//   sum_squares_kernel<Vec> : grid-stride over one gradient tensor; each thread
//                             adds g^2 in double, each block writes its sum to its
//                             own slot of a partials array (one launch per tensor,
//                             each tensor owning a fixed range of slots).
//   clip_finalize_kernel    : one block adds all partials in a fixed order (the
//                             same threads, the same tree every time: deterministic),
//                             takes the square root, and writes the norm and the
//                             factor min(1, max_norm / (norm + 1e-6)) to device memory.
//   clip_scale_kernel<Vec>  : grid-stride g *= factor, reading the factor from device
//                             memory; when it is exactly 1 the kernel returns at once
//                             (no writes), so an unclipped step costs only the read.
#include <vector>

#include "../kernels/elementwise.cuh"
#include "clip.hpp"
#include "update_math.hpp"

namespace minidl::cuda {

namespace {

using cuda_detail::aligned16;
using cuda_detail::grid_for;
using cuda_detail::kBlock;

template <bool Vec>
__global__ void sum_squares_kernel(const float* __restrict__ g, std::int64_t n,
                                   double* __restrict__ partials) {
  __shared__ double scratch[32];
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  std::int64_t start = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  double acc = 0.0;
  if constexpr (Vec) {
    const std::int64_t n4 = n / 4;
    for (std::int64_t i = start; i < n4; i += stride) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(g) + i);
      const double x = v.x, y = v.y, z = v.z, w = v.w;
      acc += x * x + y * y + z * z + w * w;
    }
    start += 4 * n4;
  }
  for (std::int64_t i = start; i < n; i += stride) {
    const double x = __ldg(g + i);
    acc += x * x;
  }
  acc = cuda_detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void clip_finalize_kernel(const double* __restrict__ partials, int count,
                                     double max_norm, float* __restrict__ norm,
                                     float* __restrict__ factor) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = cuda_detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) {
    const double total_norm = sqrt(acc);
    *norm = static_cast<float>(total_norm);
    *factor = optim_math::clip_factor(total_norm, max_norm);
  }
}

template <bool Vec>
__global__ void clip_scale_kernel(float* __restrict__ g, std::int64_t n,
                                  const float* __restrict__ factor) {
  const float f = __ldg(factor);
  if (f == 1.0f) return;
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  std::int64_t start = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if constexpr (Vec) {
    const std::int64_t n4 = n / 4;
    auto* g4 = reinterpret_cast<float4*>(g);
    for (std::int64_t i = start; i < n4; i += stride) {
      float4 v = g4[i];
      v.x = optim_math::mul_rn(v.x, f);
      v.y = optim_math::mul_rn(v.y, f);
      v.z = optim_math::mul_rn(v.z, f);
      v.w = optim_math::mul_rn(v.w, f);
      g4[i] = v;
    }
    start += 4 * n4;
  }
  for (std::int64_t i = start; i < n; i += stride) g[i] = optim_math::mul_rn(g[i], f);
}

// Stream-ordered scratch memory, handed back even when a launch check throws.
struct DeviceScratch {
  CudaContext& ctx;
  void* ptr;
  DeviceScratch(CudaContext& context, std::size_t bytes)
      : ctx(context), ptr(context.allocate(bytes)) {}
  ~DeviceScratch() { ctx.deallocate(ptr); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
};

}  // namespace

void clip_grad_norm(float* const* grads, const std::int64_t* n, std::size_t count, double max_norm,
                    float* norm, int device) {
  cudaStream_t stream = cuda_detail::stream_for(device);
  CudaContext& ctx = CudaContext::get(device);

  // Each tensor's blocks own a fixed range of partial-sum slots.
  std::vector<int> blocks(count, 0);
  std::vector<bool> vec(count, false);
  std::int64_t total_blocks = 0;
  for (std::size_t i = 0; i < count; ++i) {
    vec[i] = aligned16(grads[i]);
    if (n[i] > 0) blocks[i] = grid_for(vec[i] ? (n[i] + 3) / 4 : n[i], device);
    total_blocks += blocks[i];
  }
  MINIDL_CHECK(total_blocks <= 0x7fffffff, ValueError, "clip_grad_norm: ", total_blocks,
               " partial sums exceed an int");
  DeviceScratch partial_memory(
      ctx, sizeof(double) * static_cast<std::size_t>(std::max<std::int64_t>(1, total_blocks)));
  DeviceScratch factor_memory(ctx, sizeof(float));
  auto* partials = static_cast<double*>(partial_memory.ptr);
  auto* factor = static_cast<float*>(factor_memory.ptr);

  std::int64_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (blocks[i] == 0) continue;
    if (vec[i]) {
      sum_squares_kernel<true><<<blocks[i], kBlock, 0, stream>>>(grads[i], n[i], partials + offset);
    } else {
      sum_squares_kernel<false>
          <<<blocks[i], kBlock, 0, stream>>>(grads[i], n[i], partials + offset);
    }
    MINIDL_CUDA_LAUNCH_CHECK("sum_squares_kernel");
    offset += blocks[i];
  }
  clip_finalize_kernel<<<1, 1024, 0, stream>>>(partials, static_cast<int>(total_blocks), max_norm,
                                               norm, factor);
  MINIDL_CUDA_LAUNCH_CHECK("clip_finalize_kernel");
  for (std::size_t i = 0; i < count; ++i) {
    if (n[i] == 0) continue;
    if (vec[i]) {
      clip_scale_kernel<true>
          <<<grid_for((n[i] + 3) / 4, device), kBlock, 0, stream>>>(grads[i], n[i], factor);
    } else {
      clip_scale_kernel<false>
          <<<grid_for(n[i], device), kBlock, 0, stream>>>(grads[i], n[i], factor);
    }
    MINIDL_CUDA_LAUNCH_CHECK("clip_scale_kernel");
  }
}

}  // namespace minidl::cuda
