// CUDA batch normalisation.
//   bn_stats_kernel      : one block per channel, two passes over B x HW in double, as
//                          the CPU: the mean, then the sum of squared deviations (one
//                          pass's E[x^2] - m^2 loses the variance's digits where
//                          |mean| >> std); thread 0 writes mean, invstd and the
//                          running-statistics update.
//   bn_eval_stats_kernel : mean = running mean, invstd from the running variance.
//   bn_apply_kernel      : grid-stride y = x * scale_c + shift_c.
//   bn_backward_kernel   : one block per channel; sums dy and dy * xhat in double,
//                          accumulates dgamma / dbeta, then (same block) writes dx
//                          for the channel. No atomics: deterministic.
#include <cmath>

#include "batchnorm.hpp"
#include "cuda_launch.cuh"
#include "elementwise.cuh"

namespace minidl::cuda {

namespace {

__global__ void bn_stats_kernel(BatchNormDims d, const float* __restrict__ x, float* mean,
                                float* invstd, float* running_mean, float* running_var, float eps,
                                float momentum) {
  __shared__ double scratch[32];
  const std::int64_t c = blockIdx.x;
  const double n = static_cast<double>(d.B * d.HW);
  double s = 0;
  for (std::int64_t b = 0; b < d.B; ++b) {
    const float* xi = x + (b * d.C + c) * d.HW;
    for (std::int64_t i = threadIdx.x; i < d.HW; i += blockDim.x) s += xi[i];
  }
  __shared__ double s_mean;
  s = cuda_detail::block_sum(s, scratch);  // valid in thread 0
  if (threadIdx.x == 0) s_mean = s / n;
  __syncthreads();
  const double m = s_mean;
  double ss = 0;
  for (std::int64_t b = 0; b < d.B; ++b) {
    const float* xi = x + (b * d.C + c) * d.HW;
    for (std::int64_t i = threadIdx.x; i < d.HW; i += blockDim.x) {
      const double dev = xi[i] - m;
      ss += dev * dev;
    }
  }
  ss = cuda_detail::block_sum(ss, scratch);
  if (threadIdx.x == 0) {
    const double var = ss / n;
    mean[c] = static_cast<float>(m);
    invstd[c] = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * m);
    running_var[c] =
        static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * n / (n - 1.0));
  }
}

__global__ void bn_eval_stats_kernel(std::int64_t C, const float* running_mean,
                                     const float* running_var, float* mean, float* invstd,
                                     float eps) {
  const std::int64_t c = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (c >= C) return;
  mean[c] = running_mean[c];
  invstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
}

__global__ void bn_apply_kernel(BatchNormDims d, const float* __restrict__ x,
                                const float* __restrict__ gamma, const float* __restrict__ beta,
                                const float* __restrict__ mean, const float* __restrict__ invstd,
                                float* __restrict__ y, std::int64_t n) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    const std::int64_t c = (i / d.HW) % d.C;
    const float scale = gamma[c] * invstd[c];
    y[i] = x[i] * scale + (beta[c] - mean[c] * scale);
  }
}

__global__ void bn_backward_kernel(BatchNormDims d, const float* __restrict__ x,
                                   const float* __restrict__ dy, const float* __restrict__ gamma,
                                   const float* __restrict__ mean, const float* __restrict__ invstd,
                                   bool batch_stats, float* __restrict__ dx, float* dgamma,
                                   float* dbeta) {
  __shared__ double scratch[32];
  __shared__ float shared_sums[2];
  const std::int64_t c = blockIdx.x;
  const float m = mean[c], is = invstd[c];
  double sdy = 0, sdyx = 0;
  for (std::int64_t b = 0; b < d.B; ++b) {
    const std::int64_t base = (b * d.C + c) * d.HW;
    for (std::int64_t i = threadIdx.x; i < d.HW; i += blockDim.x) {
      const double g = dy[base + i];
      sdy += g;
      sdyx += g * static_cast<double>((x[base + i] - m) * is);
    }
  }
  sdy = cuda_detail::block_sum(sdy, scratch);
  sdyx = cuda_detail::block_sum(sdyx, scratch);
  if (threadIdx.x == 0) {
    dgamma[c] += static_cast<float>(sdyx);
    dbeta[c] += static_cast<float>(sdy);
    const double n = static_cast<double>(d.B * d.HW);
    shared_sums[0] = batch_stats ? static_cast<float>(sdy / n) : 0.0f;
    shared_sums[1] = batch_stats ? static_cast<float>(sdyx / n) : 0.0f;
  }
  __syncthreads();
  if (dx == nullptr) return;
  const float k = gamma[c] * is, mdy = shared_sums[0], mdyx = shared_sums[1];
  for (std::int64_t b = 0; b < d.B; ++b) {
    const std::int64_t base = (b * d.C + c) * d.HW;
    for (std::int64_t i = threadIdx.x; i < d.HW; i += blockDim.x) {
      const float xhat = (x[base + i] - m) * is;
      dx[base + i] = k * (dy[base + i] - mdy - xhat * mdyx);
    }
  }
}

}  // namespace

void batchnorm2d_stats(const BatchNormDims& d, const float* x, float* mean, float* invstd,
                       float* running_mean, float* running_var, float eps, float momentum,
                       int device) {
  if (d.C == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  bn_stats_kernel<<<static_cast<unsigned>(d.C), cuda_detail::kBlock, 0, stream>>>(
      d, x, mean, invstd, running_mean, running_var, eps, momentum);
  MINIDL_CUDA_LAUNCH_CHECK("bn_stats_kernel");
}

void batchnorm2d_eval_stats(std::int64_t C, const float* running_mean, const float* running_var,
                            float* mean, float* invstd, float eps, int device) {
  if (C == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  bn_eval_stats_kernel<<<static_cast<unsigned>((C + 255) / 256), 256, 0, stream>>>(
      C, running_mean, running_var, mean, invstd, eps);
  MINIDL_CUDA_LAUNCH_CHECK("bn_eval_stats_kernel");
}

void batchnorm2d_apply(const BatchNormDims& d, const float* x, const float* gamma,
                       const float* beta, const float* mean, const float* invstd, float* y,
                       int device) {
  const std::int64_t n = d.B * d.C * d.HW;
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  bn_apply_kernel<<<cuda_detail::grid_for(n, device), cuda_detail::kBlock, 0, stream>>>(
      d, x, gamma, beta, mean, invstd, y, n);
  MINIDL_CUDA_LAUNCH_CHECK("bn_apply_kernel");
}

void batchnorm2d_backward(const BatchNormDims& d, const float* x, const float* dy,
                          const float* gamma, const float* mean, const float* invstd,
                          bool batch_stats, float* dx, float* dgamma, float* dbeta, int device) {
  if (d.C == 0) return;
  cudaStream_t stream = cuda_detail::stream_for(device);
  bn_backward_kernel<<<static_cast<unsigned>(d.C), cuda_detail::kBlock, 0, stream>>>(
      d, x, dy, gamma, mean, invstd, batch_stats, dx, dgamma, dbeta);
  MINIDL_CUDA_LAUNCH_CHECK("bn_backward_kernel");
}

}  // namespace minidl::cuda
