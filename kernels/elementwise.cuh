// CUDA kernels over the functors of kernels/functors.hpp (internal; not installed).
//
//   map_kernel<Vec>  : grid-stride out[i] = f(in[i]...). With Vec, each thread
//                      moves 16 bytes per operand per step (float4 loads through
//                      the read-only path, float4 stores); the scalar variant
//                      covers misaligned pointers. One pass, no extra traffic.
//                      Its pointers are __restrict__: map() takes
//                      map_inplace_kernel (plain loads) when the output overlaps
//                      an input (kernels/alias.hpp).
//   loss_kernel      : an elementwise loss: writes the scaled gradient and sums
//                      the losses per block (double), then loss_finalize_kernel
//                      adds the block sums in a fixed order (deterministic).
#pragma once

#include <cstdint>

#include "../core/cuda_check.hpp"
#include "alias.hpp"
#include "cuda_launch.cuh"

namespace minidl::cuda_detail {

template <class F, class... V>
__device__ __forceinline__ float4 apply4(F f, V... v) {
  return make_float4(f(v.x...), f(v.y...), f(v.z...), f(v.w...));
}

template <bool Vec, class F, class... In>
__global__ void map_kernel(float* __restrict__ out, std::int64_t n, F f,
                           const In* __restrict__... in) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  std::int64_t start = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if constexpr (Vec) {
    const std::int64_t n4 = n / 4;
    for (std::int64_t i = start; i < n4; i += stride) {
      reinterpret_cast<float4*>(out)[i] =
          apply4(f, __ldg(reinterpret_cast<const float4*>(in) + i)...);
    }
    start += 4 * n4;
  }
  for (std::int64_t i = start; i < n; i += stride) out[i] = f(__ldg(in + i)...);
}

// The same without __restrict__ and the read-only path, for an output that
// overlaps an input (axpy's y, in-place activations): each element is still read
// before it is written by the same thread, but restrict / __ldg would be undefined.
template <bool Vec, class F, class... In>
__global__ void map_inplace_kernel(float* out, std::int64_t n, F f, const In*... in) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  std::int64_t start = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if constexpr (Vec) {
    const std::int64_t n4 = n / 4;
    for (std::int64_t i = start; i < n4; i += stride)
      reinterpret_cast<float4*>(out)[i] = apply4(f, reinterpret_cast<const float4*>(in)[i]...);
    start += 4 * n4;
  }
  for (std::int64_t i = start; i < n; i += stride) out[i] = f(in[i]...);
}

__host__ __device__ inline bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

/// out[i] = f(in[i]...) on `device`'s stream.
template <class F, class... In>
void map(int device, float* out, std::int64_t n, F f, const In*... in) {
  if (n == 0) return;
  cudaStream_t stream = stream_for(device);
  const bool vec = (aligned16(out) && ... && aligned16(in));
  const int grid = grid_for(vec ? (n + 3) / 4 : n, device);
  if (detail::output_overlaps(out, n, in...)) {
    if (vec) {
      map_inplace_kernel<true><<<grid, kBlock, 0, stream>>>(out, n, f, in...);
    } else {
      map_inplace_kernel<false><<<grid, kBlock, 0, stream>>>(out, n, f, in...);
    }
  } else if (vec) {
    map_kernel<true><<<grid, kBlock, 0, stream>>>(out, n, f, in...);
  } else {
    map_kernel<false><<<grid, kBlock, 0, stream>>>(out, n, f, in...);
  }
  MINIDL_CUDA_LAUNCH_CHECK("map_kernel");
}

// ---- block reductions ----------------------------------------------------------------

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); the result is
/// valid in thread 0. `scratch` holds 32 T in shared memory.
template <class T>
__device__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  v = threadIdx.x < warps ? scratch[threadIdx.x] : T(0);
  if (warp == 0) v = warp_sum(v);
  __syncthreads();  // scratch may be reused right after
  return v;
}

/// Adds `count` block partial sums in one fixed order and stores scale * total.
__global__ void loss_finalize_kernel(const double* __restrict__ partials, int count, double scale,
                                     float* loss);

template <bool Vec, class F>
__global__ void loss_kernel(const float* __restrict__ z, const float* __restrict__ y,
                            float* __restrict__ grad, std::int64_t n, float grad_scale, F f,
                            double* __restrict__ partials) {
  __shared__ double scratch[32];
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  std::int64_t start = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  double acc = 0.0;
  if constexpr (Vec) {
    const std::int64_t n4 = n / 4;
    for (std::int64_t i = start; i < n4; i += stride) {
      const float4 zv = __ldg(reinterpret_cast<const float4*>(z) + i);
      const float4 yv = __ldg(reinterpret_cast<const float4*>(y) + i);
      float4 g;
      acc += static_cast<double>(f(zv.x, yv.x, &g.x)) + static_cast<double>(f(zv.y, yv.y, &g.y)) +
             static_cast<double>(f(zv.z, yv.z, &g.z)) + static_cast<double>(f(zv.w, yv.w, &g.w));
      reinterpret_cast<float4*>(grad)[i] =
          make_float4(g.x * grad_scale, g.y * grad_scale, g.z * grad_scale, g.w * grad_scale);
    }
    start += 4 * n4;
  }
  for (std::int64_t i = start; i < n; i += stride) {
    float g;
    acc += static_cast<double>(f(__ldg(z + i), __ldg(y + i), &g));
    grad[i] = g * grad_scale;
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

/// loss = loss_scale * sum_i f(z_i, y_i), grad_i = grad_scale * f'(z_i, y_i).
/// `loss` is one float on the device.
template <class F>
void elementwise_loss(int device, const float* z, const float* y, float* grad, std::int64_t n,
                      float grad_scale, double loss_scale, F f, float* loss) {
  cudaStream_t stream = stream_for(device);
  CudaContext& ctx = CudaContext::get(device);
  const bool vec = aligned16(z) && aligned16(y) && aligned16(grad);
  const int blocks = n == 0 ? 1 : grid_for(vec ? (n + 3) / 4 : n, device);
  auto* partials =
      static_cast<double*>(ctx.allocate(sizeof(double) * static_cast<std::size_t>(blocks)));
  if (vec) {
    loss_kernel<true><<<blocks, kBlock, 0, stream>>>(z, y, grad, n, grad_scale, f, partials);
  } else {
    loss_kernel<false><<<blocks, kBlock, 0, stream>>>(z, y, grad, n, grad_scale, f, partials);
  }
  MINIDL_CUDA_LAUNCH_CHECK("loss_kernel");
  loss_finalize_kernel<<<1, 1024, 0, stream>>>(partials, blocks, loss_scale, loss);
  MINIDL_CUDA_LAUNCH_CHECK("loss_finalize_kernel");
  ctx.deallocate(partials);
}

}  // namespace minidl::cuda_detail
