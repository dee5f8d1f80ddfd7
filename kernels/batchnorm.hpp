// Batch normalisation over NCHW tensors (Ioffe & Szegedy 2015), per channel c
// over the batch and both spatial axes (n = B H W values):
//
//   training  mean_c, var_c = the batch's (biased) statistics
//             y = gamma_c (x - mean_c) / sqrt(var_c + eps) + beta_c
//             running_mean = (1 - momentum) running_mean + momentum mean_c
//             running_var  = (1 - momentum) running_var  + momentum var_c n / (n - 1)
//             (PyTorch's convention: the running variance is the unbiased one)
//   eval      the same map with running_mean / running_var in place of the batch's
//
//   backward, batch statistics (xhat = (x - mean) invstd):
//     dgamma += sum dy xhat,  dbeta += sum dy
//     dx = gamma invstd / n (n dy - sum dy - xhat sum dy xhat)
//   backward, running statistics (eval): dx = gamma invstd dy (same dgamma, dbeta)
//
// Statistics are summed in double. CPU: OpenMP over channels. CUDA: one block
// per channel for the sums, then an elementwise pass.
#pragma once

#include <cstdint>

#include "../core/tensor.hpp"

namespace minidl {

struct BatchNormOptions {
  float eps = 1e-5f;
  float momentum = 0.1f;
};

/// Training forward. Requires x [B, C, H, W] float32 with B H W >= 2 (ValueError
/// otherwise), gamma, beta, running_mean, running_var [C] on x's device.
/// Overwrites y (allocated when undefined) and save_mean / save_invstd ([C],
/// allocated when undefined: the statistics backward needs); updates the running
/// statistics in place.
void batchnorm2d_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               Tensor& running_mean, Tensor& running_var, Tensor& save_mean,
                               Tensor& save_invstd, Tensor& y,
                               const BatchNormOptions& options = {});

/// Evaluation forward with the running statistics. Overwrites y, and save_mean /
/// save_invstd with running_mean and 1 / sqrt(running_var + eps) (for backward).
void batchnorm2d_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var,
                              Tensor& save_mean, Tensor& save_invstd, Tensor& y,
                              const BatchNormOptions& options = {});

/// Backward from the saved statistics (batch_stats: they came from the batch, so
/// dx includes the statistics' dependence on x). Overwrites dx (allocated when
/// undefined; may be skipped by passing compute_dx = false); ADDS into dgamma and dbeta.
void batchnorm2d_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& save_mean, const Tensor& save_invstd, bool batch_stats,
                          Tensor& dx, Tensor& dgamma, Tensor& dbeta, bool compute_dx = true);

namespace cuda {
struct BatchNormDims {
  std::int64_t B, C, HW;
};
void batchnorm2d_stats(const BatchNormDims& d, const float* x, float* mean, float* invstd,
                       float* running_mean, float* running_var, float eps, float momentum,
                       int device);
void batchnorm2d_eval_stats(std::int64_t C, const float* running_mean, const float* running_var,
                            float* mean, float* invstd, float eps, int device);
void batchnorm2d_apply(const BatchNormDims& d, const float* x, const float* gamma,
                       const float* beta, const float* mean, const float* invstd, float* y,
                       int device);
void batchnorm2d_backward(const BatchNormDims& d, const float* x, const float* dy,
                          const float* gamma, const float* mean, const float* invstd,
                          bool batch_stats, float* dx, float* dgamma, float* dbeta, int device);
}  // namespace cuda

}  // namespace minidl
