// minidl's own CUDA convolution: every pass is one implicit GEMM, C = A B, with
// the operands gathered on the fly from the NCHW tensors (no im2col buffer).
//
//   igemm_kernel<Op> : 64x64 output tile per 256-thread block, K in steps of 16
//                      staged in shared memory (A transposed so each thread reads
//                      4 A and 4 B values per step as broadcasts), 4x4 outputs per
//                      thread in registers; rows / columns spaced 16 apart so a warp's
//                      shared-memory reads hit distinct banks. Out-of-range
//                      elements load as 0, so any shape works. blockIdx.z splits K
//                      (split-K) when the output tile count is too small to fill
//                      the GPU; the splits are then summed in a fixed order by
//                      splitk_reduce_kernel (deterministic, no atomics).
//   The three Ops (which tensor element each A / B / C element is): forward,
//   backward-data and backward-filter, in kernels/conv2d_igemm.hpp, host + device so
//   that a CPU test checks them against the CPU convolution.
//   bias_grad_kernel : one block per output channel, a block reduction in double.
#include <algorithm>
#include <memory>

#include "conv2d.hpp"
#include "conv2d_igemm.hpp"
#include "cuda_launch.cuh"
#include "elementwise.cuh"

namespace minidl::cuda {

namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;

using igemm::BackwardDataOp;
using igemm::BackwardFilterOp;
using igemm::ForwardOp;
using igemm::Geo;
using igemm::to_geo;

template <class Op>
__global__ void __launch_bounds__(kThreads) igemm_kernel(Op op, int M, int N, int K, int k_chunk) {
  __shared__ float As[kBK][kBM + 4];
  __shared__ float Bs[kBK][kBN + 4];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int k_begin = blockIdx.z * k_chunk;
  const int k_end = min(K, k_begin + k_chunk);
  // Load slot i of thread tid is element idx = tid + i kThreads of the A and B tiles:
  // A row am = tid / kBK + i (kThreads / kBK) at column ak = tid % kBK, B row
  // bk = tid / kBN + i (kThreads / kBN) at column bn = tid % kBN. So a thread reads the
  // same B column and the same 4 A rows at every K-step: their index math is done here.
  static_assert(kBM * kBK == 4 * kThreads && kBN * kBK == 4 * kThreads, "4 loads per thread");
  static_assert(kThreads % kBK == 0 && kThreads % kBN == 0, "fixed load rows / columns");
  const int ak = tid % kBK, bn = tid % kBN;
  const bool n_ok = n0 + bn < N;
  const typename Op::Col col = op.b_col(n_ok ? n0 + bn : 0);
  typename Op::Row rows[4];
  bool m_ok[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + tid / kBK + i * (kThreads / kBK);
    m_ok[i] = m < M;
    rows[i] = op.a_row(m_ok[i] ? m : 0);
  }
  float acc[4][4] = {};
  for (int k0 = k_begin; k0 < k_end; k0 += kBK) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int am = tid / kBK + i * (kThreads / kBK), k = k0 + ak;
      As[ak][am] = (m_ok[i] && k < k_end) ? op.a(rows[i], k) : 0.0f;
      const int bk = tid / kBN + i * (kThreads / kBN), kb = k0 + bk;
      Bs[bk][bn] = (n_ok && kb < k_end) ? op.b(col, kb) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < N) op.store(blockIdx.z, m, n, acc[i][j]);
    }
  }
}

// dw[i] = beta * dw[i] + sum_z partial[z][i], in split order.
__global__ void splitk_reduce_kernel(const float* __restrict__ partial, float* __restrict__ dw,
                                     std::int64_t n, int splits, float beta) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += partial[z * n + i];
    dw[i] = beta == 0.0f ? s : s + beta * dw[i];
  }
}

__global__ void bias_grad_kernel(const float* __restrict__ dy, float* __restrict__ db, int batch,
                                 int channels, std::int64_t plane, float beta) {
  __shared__ double scratch[32];
  const int m = blockIdx.x;
  double acc = 0.0;
  for (int b = 0; b < batch; ++b) {
    const float* row = dy + (static_cast<std::int64_t>(b) * channels + m) * plane;
    for (std::int64_t i = threadIdx.x; i < plane; i += blockDim.x) acc += row[i];
  }
  acc = cuda_detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) db[m] = static_cast<float>(acc) + (beta == 0.0f ? 0.0f : beta * db[m]);
}

// dw = beta * dw when the sum over (b, p, q) is empty (an empty batch).
void scale_empty_filter_grad(const Conv2dGeometry& g, float* dw, float beta, int device) {
  if (beta != 0.0f) return;  // beta is 0 or 1
  const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(g.out_channels) *
                            static_cast<std::size_t>(g.in_channels * g.kernel_h * g.kernel_w);
  MINIDL_CUDA_CHECK(cudaMemsetAsync(dw, 0, bytes, cuda_detail::stream_for(device)));
}

// Requires M, N, K >= 1 (the callers return early for an empty batch: K = 0
// would divide by zero below, N = 0 is an invalid grid).
template <class Op>
void launch(const Op& op, int M, int N, int K, int splits, int device) {
  cudaStream_t stream = cuda_detail::stream_for(device);
  const int k_chunk = ((K + splits - 1) / splits + kBK - 1) / kBK * kBK;
  splits = std::max(1, (K + k_chunk - 1) / k_chunk);
  const dim3 grid(static_cast<unsigned>((N + kBN - 1) / kBN),
                  static_cast<unsigned>((M + kBM - 1) / kBM), static_cast<unsigned>(splits));
  igemm_kernel<Op><<<grid, kThreads, 0, stream>>>(op, M, N, K, k_chunk);
  MINIDL_CUDA_LAUNCH_CHECK("igemm_kernel");
}

}  // namespace

void conv2d_forward_own(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                        float* y, int device) {
  if (g.batch == 0) return;  // y is empty
  const Geo geo = to_geo(g);
  launch(ForwardOp{geo, x, w, b, y}, geo.M, geo.B * geo.P * geo.Q, geo.C * geo.R * geo.S, 1,
         device);
}

void conv2d_backward_data_own(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                              int device) {
  if (g.batch == 0) return;  // dx is empty
  const Geo geo = to_geo(g);
  launch(BackwardDataOp{geo, dy, w, dx}, geo.C, geo.B * geo.H * geo.W, geo.M * geo.R * geo.S, 1,
         device);
}

void conv2d_backward_filter_own(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                float beta, int device) {
  if (g.batch == 0) {
    scale_empty_filter_grad(g, dw, beta, device);
    return;
  }
  const Geo geo = to_geo(g);
  const int M = geo.M, N = geo.C * geo.R * geo.S, K = geo.B * geo.P * geo.Q;
  const int tiles = ((M + kBM - 1) / kBM) * ((N + kBN - 1) / kBN);
  const int sms = CudaContext::get(device).info().multiprocessors;
  // Enough splits for ~2 blocks per SM, each split at least 8 K-steps long.
  int splits = std::min((2 * sms + tiles - 1) / tiles, std::max(1, K / (8 * kBK)));
  splits = std::max(1, std::min(splits, 64));
  if (splits == 1) {
    launch(BackwardFilterOp{geo, x, dy, dw, beta}, M, N, K, 1, device);
    return;
  }
  CudaContext& ctx = CudaContext::get(device);
  const std::int64_t n = static_cast<std::int64_t>(M) * N;
  // The splits' partial sums, returned to the pool (stream-ordered) also when a launch throws.
  const auto pool_free = [&ctx](float* p) { ctx.deallocate(p); };
  const std::unique_ptr<float, decltype(pool_free)> partial(
      static_cast<float*>(ctx.allocate(sizeof(float) * static_cast<std::size_t>(n) *
                                       static_cast<std::size_t>(splits))),
      pool_free);
  const int k_chunk = ((K + splits - 1) / splits + kBK - 1) / kBK * kBK;
  const int used = (K + k_chunk - 1) / k_chunk;
  launch(BackwardFilterOp{geo, x, dy, partial.get(), 0.0f}, M, N, K, splits, device);
  splitk_reduce_kernel<<<cuda_detail::grid_for(n, device), cuda_detail::kBlock, 0, ctx.stream()>>>(
      partial.get(), dw, n, used, beta);
  MINIDL_CUDA_LAUNCH_CHECK("splitk_reduce_kernel");
}

void conv2d_backward_bias(const float* dy, float* db, std::int64_t batch, std::int64_t channels,
                          std::int64_t plane, float beta, int device) {
  if (channels == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  bias_grad_kernel<<<static_cast<unsigned>(channels), cuda_detail::kBlock, 0, stream>>>(
      dy, db, static_cast<int>(batch), static_cast<int>(channels), plane, beta);
  MINIDL_CUDA_LAUNCH_CHECK("bias_grad_kernel");
}

}  // namespace minidl::cuda
