// CUDA optimizer updates: one fused kernel launch per parameter tensor.
//   sgd_kernel<Vec, Momentum> : grid-stride; reads w, g (and the momentum buffer),
//                               applies optim_math::SgdUpdate, writes w (and the
//                               buffer). One read and one write of each array.
//   adam_kernel<Vec>          : grid-stride; reads w, g, m, v, applies
//                               optim_math::AdamUpdate, writes w, m, v.
// With Vec every pointer is 16-byte aligned and each thread moves float4s (the
// gradient through the read-only path); the tail and misaligned tensors take the
// scalar loop. Step-dependent scalars arrive in the functor (computed on the host),
// so a step queues its launches without synchronising.
#include "../kernels/elementwise.cuh"
#include "adam.hpp"
#include "sgd.hpp"

namespace minidl::cuda {

namespace {

using cuda_detail::aligned16;
using cuda_detail::grid_for;
using cuda_detail::kBlock;

template <bool Vec, bool Momentum>
__global__ void sgd_kernel(float* __restrict__ w, const float* __restrict__ g,
                           float* __restrict__ buf, std::int64_t n, optim_math::SgdUpdate f) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  std::int64_t start = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if constexpr (Vec) {
    const std::int64_t n4 = n / 4;
    auto* w4 = reinterpret_cast<float4*>(w);
    auto* b4 = reinterpret_cast<float4*>(buf);
    const auto* g4 = reinterpret_cast<const float4*>(g);
    for (std::int64_t i = start; i < n4; i += stride) {
      float4 wv = w4[i];
      const float4 gv = __ldg(g4 + i);
      if constexpr (Momentum) {
        float4 bv = b4[i];
        f(wv.x, gv.x, bv.x);
        f(wv.y, gv.y, bv.y);
        f(wv.z, gv.z, bv.z);
        f(wv.w, gv.w, bv.w);
        b4[i] = bv;
      } else {
        f(wv.x, gv.x);
        f(wv.y, gv.y);
        f(wv.z, gv.z);
        f(wv.w, gv.w);
      }
      w4[i] = wv;
    }
    start += 4 * n4;
  }
  for (std::int64_t i = start; i < n; i += stride) {
    if constexpr (Momentum) {
      f(w[i], __ldg(g + i), buf[i]);
    } else {
      f(w[i], __ldg(g + i));
    }
  }
}

template <bool Vec>
__global__ void adam_kernel(float* __restrict__ w, const float* __restrict__ g,
                            float* __restrict__ m, float* __restrict__ v, std::int64_t n,
                            optim_math::AdamUpdate f) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  std::int64_t start = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if constexpr (Vec) {
    const std::int64_t n4 = n / 4;
    auto* w4 = reinterpret_cast<float4*>(w);
    auto* m4 = reinterpret_cast<float4*>(m);
    auto* v4 = reinterpret_cast<float4*>(v);
    const auto* g4 = reinterpret_cast<const float4*>(g);
    for (std::int64_t i = start; i < n4; i += stride) {
      float4 wv = w4[i], mv = m4[i], vv = v4[i];
      const float4 gv = __ldg(g4 + i);
      f(wv.x, gv.x, mv.x, vv.x);
      f(wv.y, gv.y, mv.y, vv.y);
      f(wv.z, gv.z, mv.z, vv.z);
      f(wv.w, gv.w, mv.w, vv.w);
      w4[i] = wv;
      m4[i] = mv;
      v4[i] = vv;
    }
    start += 4 * n4;
  }
  for (std::int64_t i = start; i < n; i += stride) f(w[i], __ldg(g + i), m[i], v[i]);
}

template <bool Momentum>
void launch_sgd(float* w, const float* g, float* buf, std::int64_t n,
                const optim_math::SgdUpdate& f, int device, cudaStream_t stream) {
  const bool vec = aligned16(w) && aligned16(g) && (!Momentum || aligned16(buf));
  if (vec) {
    sgd_kernel<true, Momentum>
        <<<grid_for((n + 3) / 4, device), kBlock, 0, stream>>>(w, g, buf, n, f);
  } else {
    sgd_kernel<false, Momentum><<<grid_for(n, device), kBlock, 0, stream>>>(w, g, buf, n, f);
  }
  MINIDL_CUDA_LAUNCH_CHECK("sgd_kernel");
}

}  // namespace

void sgd_update(float* w, const float* g, float* buf, std::int64_t n,
                const optim_math::SgdUpdate& f, int device) {
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  if (buf != nullptr) {
    launch_sgd<true>(w, g, buf, n, f, device, stream);
  } else {
    launch_sgd<false>(w, g, buf, n, f, device, stream);
  }
}

void adam_update(float* w, const float* g, float* m, float* v, std::int64_t n,
                 const optim_math::AdamUpdate& f, int device) {
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  if (aligned16(w) && aligned16(g) && aligned16(m) && aligned16(v)) {
    adam_kernel<true><<<grid_for((n + 3) / 4, device), kBlock, 0, stream>>>(w, g, m, v, n, f);
  } else {
    adam_kernel<false><<<grid_for(n, device), kBlock, 0, stream>>>(w, g, m, v, n, f);
  }
  MINIDL_CUDA_LAUNCH_CHECK("adam_kernel");
}

}  // namespace minidl::cuda
