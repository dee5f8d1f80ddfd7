// CUDA pooling over the shared per-element math of kernels/pool2d_math.hpp.
//   pool_forward_kernel  : grid-stride, one output element per thread.
//   pool_backward_kernel : grid-stride, one INPUT element per thread, gathering
//                          the windows that contain it (no atomics: deterministic,
//                          and identical to the CPU loop's order); with through_relu,
//                          then fn::ReluBackward with the element of x, as on the CPU.
#include "cuda_launch.cuh"
#include "functors.hpp"
#include "pool2d.hpp"
#include "pool2d_math.hpp"

namespace minidl::cuda {

namespace {

__global__ void pool_forward_kernel(PoolMode mode, Pool2dGeometry g, const float* __restrict__ x,
                                    float* __restrict__ y, std::int64_t n) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  const std::int64_t in_plane = std::int64_t{g.H} * g.W;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    const int q = static_cast<int>(i % g.Q), p = static_cast<int>((i / g.Q) % g.P);
    const std::int64_t plane = i / (std::int64_t{g.P} * g.Q);
    y[i] = pool_detail::forward_at(mode, g, x + plane * in_plane, p, q);
  }
}

__global__ void pool_backward_kernel(PoolMode mode, Pool2dGeometry g, const float* __restrict__ x,
                                     const float* __restrict__ dy, float* __restrict__ dx,
                                     bool through_relu, std::int64_t n) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  const std::int64_t in_plane = std::int64_t{g.H} * g.W, out_plane = std::int64_t{g.P} * g.Q;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    const int w = static_cast<int>(i % g.W), h = static_cast<int>((i / g.W) % g.H);
    const std::int64_t plane = i / in_plane;
    const float s =
        pool_detail::backward_at(mode, g, x + plane * in_plane, dy + plane * out_plane, h, w);
    dx[i] = through_relu ? fn::ReluBackward()(s, x[i]) : s;
  }
}

}  // namespace

void pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const float* x, float* y, int device) {
  const std::int64_t n = std::int64_t{g.B} * g.C * g.P * g.Q;
  cudaStream_t stream = cuda_detail::stream_for(device);
  pool_forward_kernel<<<cuda_detail::grid_for(n, device), cuda_detail::kBlock, 0, stream>>>(
      mode, g, x, y, n);
  MINIDL_CUDA_LAUNCH_CHECK("pool_forward_kernel");
}

void pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const float* x, const float* dy,
                     float* dx, bool through_relu, int device) {
  const std::int64_t n = std::int64_t{g.B} * g.C * g.H * g.W;
  cudaStream_t stream = cuda_detail::stream_for(device);
  pool_backward_kernel<<<cuda_detail::grid_for(n, device), cuda_detail::kBlock, 0, stream>>>(
      mode, g, x, dy, dx, through_relu, n);
  MINIDL_CUDA_LAUNCH_CHECK("pool_backward_kernel");
}

}  // namespace minidl::cuda
