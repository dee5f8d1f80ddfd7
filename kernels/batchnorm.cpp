// BatchNorm2d: checks, dispatch and the CPU loops (core/parallel.hpp's parallel_for over
// channels, or over (sample, channel) planes for the elementwise pass; sums in double).
// Every channel's sums run on one thread in a fixed order, so the results do not depend
// on the thread count or on how the channels are cut into chunks.
#include "batchnorm.hpp"

#include <cmath>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

namespace {

cuda::BatchNormDims check_operands(
    const char* op, const Tensor& x,
    std::initializer_list<std::pair<const char*, const Tensor*>> per_channel) {
  detail::check_float(op, "x", x);
  MINIDL_CHECK(x.rank() == 4, ShapeError, op,
               ": x must be [batch, channels, height, width] (NCHW), got ", x.shape());
  const std::int64_t C = x.size(1);
  for (const auto& [name, t] : per_channel) {
    detail::check_float(op, name, *t);
    detail::check_same_device(op, "x", x, name, *t);
    MINIDL_CHECK(t->rank() == 1 && t->size(0) == C, ShapeError, op, ": ", name, " ", t->shape(),
                 " must be [", C, "] for x ", x.shape());
  }
  return cuda::BatchNormDims{x.size(0), C, x.size(2) * x.size(3)};
}

void prepare_stat(const char* op, Tensor& t, const Tensor& x) {
  detail::prepare_output(op, t, Shape{x.size(1)}, x.device());
}

// Elements per chunk of the CPU loops (the former OpenMP regions' `if` threshold: a whole
// pass of at most this many elements runs on the calling thread).
constexpr std::int64_t kParallelWork = std::int64_t{1} << 15;

void cpu_apply(const cuda::BatchNormDims& d, const float* x, const float* gamma, const float* beta,
               const float* mean, const float* invstd, float* y) {
  // One index per (sample, channel) plane; a single thread below 2^15 elements in all.
  parallel_for(d.B * d.C, grain_for(d.HW, kParallelWork),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t bc = begin; bc < end; ++bc) {
                   const std::int64_t c = bc % d.C;
                   const float scale = gamma[c] * invstd[c], shift = beta[c] - mean[c] * scale;
                   const float* xi = x + bc * d.HW;
                   float* yi = y + bc * d.HW;
                   for (std::int64_t i = 0; i < d.HW; ++i) yi[i] = xi[i] * scale + shift;
                 }
               });
}

}  // namespace

void batchnorm2d_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               Tensor& running_mean, Tensor& running_var, Tensor& save_mean,
                               Tensor& save_invstd, Tensor& y, const BatchNormOptions& o) {
  const char* op = "batchnorm2d_forward_train";
  const cuda::BatchNormDims d = check_operands(op, x,
                                               {{"gamma", &gamma},
                                                {"beta", &beta},
                                                {"running_mean", &running_mean},
                                                {"running_var", &running_var}});
  const std::int64_t n = d.B * d.HW;
  MINIDL_CHECK(n >= 2, ValueError, op, ": training statistics need at least 2 values per channel, ",
               "x is ", x.shape());
  prepare_stat(op, save_mean, x);
  prepare_stat(op, save_invstd, x);
  detail::prepare_output(op, y, x.shape(), x.device());
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::batchnorm2d_stats(d, x.data<float>(), save_mean.data<float>(),
                                             save_invstd.data<float>(), running_mean.data<float>(),
                                             running_var.data<float>(), o.eps, o.momentum,
                                             x.device().index()));
    MINIDL_CUDA_CALL(cuda::batchnorm2d_apply(
        d, x.data<float>(), gamma.data<float>(), beta.data<float>(), save_mean.data<float>(),
        save_invstd.data<float>(), y.data<float>(), x.device().index()));
    return;
  }
  const float* px = x.data<float>();
  float* mean = save_mean.data<float>();
  float* invstd = save_invstd.data<float>();
  float* rm = running_mean.data<float>();
  float* rv = running_var.data<float>();
  parallel_for(
      d.C, grain_for(d.B * d.HW, kParallelWork), [&](std::int64_t c_begin, std::int64_t c_end) {
        for (std::int64_t c = c_begin; c < c_end; ++c) {
          double s = 0;
          for (std::int64_t b = 0; b < d.B; ++b) {
            const float* xi = px + (b * d.C + c) * d.HW;
            for (std::int64_t i = 0; i < d.HW; ++i) s += xi[i];
          }
          const double m = s / static_cast<double>(n);
          double ss = 0;
          for (std::int64_t b = 0; b < d.B; ++b) {
            const float* xi = px + (b * d.C + c) * d.HW;
            for (std::int64_t i = 0; i < d.HW; ++i) ss += (xi[i] - m) * (xi[i] - m);
          }
          const double var = ss / static_cast<double>(n);
          mean[c] = static_cast<float>(m);
          invstd[c] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(o.eps)));
          rm[c] = static_cast<float>((1.0 - o.momentum) * rm[c] + o.momentum * m);
          rv[c] = static_cast<float>((1.0 - o.momentum) * rv[c] + o.momentum * var *
                                                                      static_cast<double>(n) /
                                                                      static_cast<double>(n - 1));
        }
      });
  cpu_apply(d, px, gamma.data<float>(), beta.data<float>(), mean, invstd, y.data<float>());
}

void batchnorm2d_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var,
                              Tensor& save_mean, Tensor& save_invstd, Tensor& y,
                              const BatchNormOptions& o) {
  const char* op = "batchnorm2d_forward_eval";
  const cuda::BatchNormDims d = check_operands(op, x,
                                               {{"gamma", &gamma},
                                                {"beta", &beta},
                                                {"running_mean", &running_mean},
                                                {"running_var", &running_var}});
  prepare_stat(op, save_mean, x);
  prepare_stat(op, save_invstd, x);
  detail::prepare_output(op, y, x.shape(), x.device());
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::batchnorm2d_eval_stats(
        d.C, running_mean.data<float>(), running_var.data<float>(), save_mean.data<float>(),
        save_invstd.data<float>(), o.eps, x.device().index()));
    MINIDL_CUDA_CALL(cuda::batchnorm2d_apply(
        d, x.data<float>(), gamma.data<float>(), beta.data<float>(), save_mean.data<float>(),
        save_invstd.data<float>(), y.data<float>(), x.device().index()));
    return;
  }
  const float* rm = running_mean.data<float>();
  const float* rv = running_var.data<float>();
  float* mean = save_mean.data<float>();
  float* invstd = save_invstd.data<float>();
  for (std::int64_t c = 0; c < d.C; ++c) {
    mean[c] = rm[c];
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(rv[c]) + o.eps));
  }
  cpu_apply(d, x.data<float>(), gamma.data<float>(), beta.data<float>(), mean, invstd,
            y.data<float>());
}

void batchnorm2d_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& save_mean, const Tensor& save_invstd, bool batch_stats,
                          Tensor& dx, Tensor& dgamma, Tensor& dbeta, bool compute_dx) {
  const char* op = "batchnorm2d_backward";
  const cuda::BatchNormDims d = check_operands(op, x,
                                               {{"gamma", &gamma},
                                                {"save_mean", &save_mean},
                                                {"save_invstd", &save_invstd},
                                                {"dgamma", &dgamma},
                                                {"dbeta", &dbeta}});
  detail::check_float(op, "dy", dy);
  detail::check_same_shape(op, "x", x, "dy", dy);
  detail::check_same_device(op, "x", x, "dy", dy);
  if (compute_dx) detail::prepare_output(op, dx, x.shape(), x.device());
  float* pdx = compute_dx ? dx.data<float>() : nullptr;
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::batchnorm2d_backward(
        d, x.data<float>(), dy.data<float>(), gamma.data<float>(), save_mean.data<float>(),
        save_invstd.data<float>(), batch_stats, pdx, dgamma.data<float>(), dbeta.data<float>(),
        x.device().index()));
    return;
  }
  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();
  const float* g = gamma.data<float>();
  const float* mean = save_mean.data<float>();
  const float* invstd = save_invstd.data<float>();
  float* dg = dgamma.data<float>();
  float* db = dbeta.data<float>();
  const double n = static_cast<double>(d.B * d.HW);
  parallel_for(d.C, grain_for(d.B * d.HW, kParallelWork),
               [&](std::int64_t c_begin, std::int64_t c_end) {
                 for (std::int64_t c = c_begin; c < c_end; ++c) {
                   double sum_dy = 0, sum_dy_xhat = 0;
                   for (std::int64_t b = 0; b < d.B; ++b) {
                     const float* xi = px + (b * d.C + c) * d.HW;
                     const float* gi = pdy + (b * d.C + c) * d.HW;
                     for (std::int64_t i = 0; i < d.HW; ++i) {
                       sum_dy += gi[i];
                       sum_dy_xhat += static_cast<double>(gi[i]) * (xi[i] - mean[c]) * invstd[c];
                     }
                   }
                   dg[c] += static_cast<float>(sum_dy_xhat);
                   db[c] += static_cast<float>(sum_dy);
                   if (pdx == nullptr) continue;
                   const float k = g[c] * invstd[c];
                   const float mdy = batch_stats ? static_cast<float>(sum_dy / n) : 0.0f;
                   const float mdyx = batch_stats ? static_cast<float>(sum_dy_xhat / n) : 0.0f;
                   for (std::int64_t b = 0; b < d.B; ++b) {
                     const float* xi = px + (b * d.C + c) * d.HW;
                     const float* gi = pdy + (b * d.C + c) * d.HW;
                     float* out = pdx + (b * d.C + c) * d.HW;
                     for (std::int64_t i = 0; i < d.HW; ++i) {
                       const float xhat = (xi[i] - mean[c]) * invstd[c];
                       out[i] = k * (gi[i] - mdy - xhat * mdyx);
                     }
                   }
                 }
               });
}

}  // namespace minidl
