// conv2d: geometry and operand checks, the choice of backend and the dispatch to it,
// the bias gradient on the CPU, and the weight-layout conversions. The backends:
//   CPU  kernels/conv2d_im2col.cpp   im2col + OpenBLAS SGEMM (backend `cpu`, the oracle),
//                                    with kernels/conv2d_direct.cpp's AVX2 direct path for
//                                    one input channel at stride 1
//        kernels/conv2d_onednn.cpp   oneDNN's convolution primitives (backend `onednn`,
//                                    when built with oneDNN)
//   CUDA kernels/conv2d_cudnn.cpp    cuDNN (backend `cudnn`)
//        kernels/conv2d_cuda.cu      minidl's implicit-GEMM kernels (backend `own`)
#include "conv2d.hpp"

#include <algorithm>
#include <vector>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"
#include "conv2d_cpu.hpp"

namespace minidl {

const char* conv_backend_name(ConvBackend b) {
  switch (b) {
    case ConvBackend::Auto:
      return "auto";
    case ConvBackend::Cpu:
      return "cpu";
    case ConvBackend::Cudnn:
      return "cudnn";
    case ConvBackend::Own:
      return "own";
    case ConvBackend::OneDnn:
      return "onednn";
  }
  return "unknown";
}

ConvBackend parse_conv_backend(const std::string& name) {
  for (ConvBackend b : {ConvBackend::Auto, ConvBackend::Cpu, ConvBackend::Cudnn, ConvBackend::Own,
                        ConvBackend::OneDnn}) {
    if (name == conv_backend_name(b)) return b;
  }
  throw ValueError(detail::concat("unknown convolution backend '", name,
                                  "' (auto, cpu, onednn, cudnn or own)"));
}

// Auto on the CPU: oneDNN wherever minidl is built with it, except the shapes the AVX2
// direct path takes (one input channel at stride 1: the CNN's first layer). Measured on the
// 2-core AVX2 build machine with one thread (OMP_NUM_THREADS=1 minidl_bench_conv
// --benchmark_filter='cpu(_onednn)?/conv_(fwd|bwd_data|bwd_filter)/cnn_conv'
// --benchmark_enable_random_interleaving=true --benchmark_repetitions=3; under load from
// other builds, so indicative), ms per call, cpu vs onednn (oneDNN picked jit:avx2):
//   cnn_conv1  fwd 12.0 vs 10.9, bwd data 12.2 vs 70.3, bwd filter 12.1 vs 53.8
//   cnn_conv2  fwd 117 vs 89.7,  bwd data 223 vs 74.0,  bwd filter 123 vs 106
// and the CNN's training step (minidl_bench_train cpu/cnn_adam{,_cpu,_onednn}/128): auto
// 304 images/s, all-cpu 243, all-oneDNN 271. A fixed rule rather than a timing at first
// use: the choice, and so the result's bits, must not depend on how busy the machine was
// when the run started.
ConvBackend conv2d_cpu_auto_backend(const Conv2dGeometry& g) {
  if (!cpu::onednn_available()) return ConvBackend::Cpu;
  if (cpu::conv_detail::direct_applies(g)) return ConvBackend::Cpu;
  return ConvBackend::OneDnn;
}

double Conv2dGeometry::forward_flops() const {
  return 2.0 * static_cast<double>(batch) * static_cast<double>(out_channels) *
         static_cast<double>(out_h) * static_cast<double>(out_w) *
         static_cast<double>(in_channels) * static_cast<double>(kernel_h) *
         static_cast<double>(kernel_w);
}

namespace {

// Output size and the (before, after) padding along one axis.
void resolve_axis(const std::string& who, const char* axis, std::int64_t n, std::int64_t k,
                  std::int64_t s, const Conv2dParams& p, std::int64_t pad, const Shape& xs,
                  const Shape& ws, std::int64_t& out, std::int64_t& before, std::int64_t& after) {
  switch (p.padding) {
    case ConvPadding::Valid:
      MINIDL_CHECK(k <= n, ShapeError, who, ": kernel ", axis, " ", k, " is larger than the ",
                   "valid-mode input ", axis, " ", n, " (input ", xs, ", weight ", ws, ")");
      before = after = 0;
      out = (n - k) / s + 1;
      break;
    case ConvPadding::Same: {
      out = (n + s - 1) / s;
      const std::int64_t total = std::max<std::int64_t>((out - 1) * s + k - n, 0);
      before = total / 2;
      after = total - before;
      break;
    }
    case ConvPadding::HalfKernel:
      before = after = k / 2;  // n + 2 (k / 2) >= k for every n >= 1
      out = (n + 2 * (k / 2) - k) / s + 1;
      break;
    case ConvPadding::Explicit:
      before = after = pad;
      MINIDL_CHECK(n + 2 * pad >= k, ShapeError, who, ": kernel ", axis, " ", k,
                   " is larger than the padded input ", axis, " ", n + 2 * pad, " (input ", xs,
                   ", weight ", ws, ")");
      out = (n + 2 * pad - k) / s + 1;
      break;
  }
}

}  // namespace

Conv2dGeometry conv2d_geometry(const Shape& xs, const Shape& ws, const Conv2dParams& p,
                               const std::string& who) {
  MINIDL_CHECK(xs.rank() == 4, ShapeError, who, ": input must be [batch, channels, height, width]",
               " (NCHW), got ", xs);
  MINIDL_CHECK(ws.rank() == 4, ShapeError, who,
               ": weight must be [out_channels, in_channels, K1, K2], got ", ws);
  MINIDL_CHECK(xs[1] == ws[1], ShapeError, who, ": input has ", xs[1],
               " channels but the weight expects ", ws[1], " (input ", xs, ", weight ", ws, ")");
  MINIDL_CHECK(p.stride_h >= 1 && p.stride_w >= 1, ValueError, who, ": strides must be >= 1, got ",
               p.stride_h, "x", p.stride_w);
  MINIDL_CHECK(p.pad_h >= 0 && p.pad_w >= 0, ValueError, who, ": padding must be >= 0, got ",
               p.pad_h, "x", p.pad_w);
  // Beyond int32 no backend takes them (cuDNN's descriptors are int), and n + 2 pad would
  // overflow int64 for a pad near 2^62.
  constexpr std::int64_t kMax = 0x7fffffff;
  MINIDL_CHECK(p.stride_h <= kMax && p.stride_w <= kMax && p.pad_h <= kMax && p.pad_w <= kMax,
               ValueError, who, ": strides and padding must be below 2^31, got stride ", p.stride_h,
               "x", p.stride_w, ", padding ", p.pad_h, "x", p.pad_w);
  MINIDL_CHECK(ws[0] >= 1 && ws[2] >= 1 && ws[3] >= 1, ShapeError, who,
               ": weight must have positive extents, got ", ws);
  // An empty batch is fine (an empty output); no channels or an empty image is not: the
  // im2col path divided by zero (SIGFPE) on C = 0, and padding alone made an output of an
  // empty image.
  MINIDL_CHECK(xs[0] >= 0 && xs[1] >= 1 && xs[2] >= 1 && xs[3] >= 1, ShapeError, who,
               ": input must have at least one channel and a non-empty image, got ", xs,
               " (weight ", ws, ")");
  Conv2dGeometry g;
  g.batch = xs[0];
  g.in_channels = xs[1];
  g.height = xs[2];
  g.width = xs[3];
  g.out_channels = ws[0];
  g.kernel_h = ws[2];
  g.kernel_w = ws[3];
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  resolve_axis(who, "height", g.height, g.kernel_h, g.stride_h, p, p.pad_h, xs, ws, g.out_h,
               g.pad_top, g.pad_bottom);
  resolve_axis(who, "width", g.width, g.kernel_w, g.stride_w, p, p.pad_w, xs, ws, g.out_w,
               g.pad_left, g.pad_right);
  MINIDL_CHECK(g.out_h >= 1 && g.out_w >= 1, ShapeError, who, ": empty output for input ", xs,
               " and weight ", ws);
  return g;
}

// ---- public ops ----------------------------------------------------------------------

namespace {

enum class Path { Cpu, OneDnn, Cudnn, Own };

Path choose(const char* op, const Conv2dGeometry& g, const Tensor& t, ConvBackend b) {
  if (t.device().is_cpu()) {
    MINIDL_CHECK(b == ConvBackend::Auto || b == ConvBackend::Cpu || b == ConvBackend::OneDnn,
                 DeviceError, op, ": backend '", conv_backend_name(b),
                 "' needs CUDA tensors, got CPU ones");
    if (b == ConvBackend::Auto) b = conv2d_cpu_auto_backend(g);
    if (b == ConvBackend::OneDnn) {
      MINIDL_CHECK(cpu::onednn_available(), ValueError, op,
                   ": backend 'onednn': this minidl was built without oneDNN (install "
                   "libdnnl-dev and reconfigure), use 'cpu' or 'auto'");
      return Path::OneDnn;
    }
    return Path::Cpu;
  }
  MINIDL_CHECK(b != ConvBackend::Cpu && b != ConvBackend::OneDnn, DeviceError, op, ": backend '",
               conv_backend_name(b), "' needs CPU tensors, got tensors on ", t.device());
  if (b == ConvBackend::Own) return Path::Own;
  if (b == ConvBackend::Cudnn) {
    MINIDL_CHECK(g.symmetric_padding(), ValueError, op,
                 ": cuDNN cannot pad asymmetrically (same padding of an even kernel: top ",
                 g.pad_top, ", bottom ", g.pad_bottom, ", left ", g.pad_left, ", right ",
                 g.pad_right, "); use backend 'own' or 'auto'");
    return Path::Cudnn;
  }
  return g.symmetric_padding() ? Path::Cudnn : Path::Own;
}

Shape output_shape(const Conv2dGeometry& g) {
  return Shape{g.batch, g.out_channels, g.out_h, g.out_w};
}

// The `cpu` backend computes in NCHW: an output held in another layout is written to an
// NCHW temporary first (nchw_output) and converted into place after (from_nchw).
Tensor nchw_output(const Tensor& out, Layout layout) {
  return layout == Layout::NCHW ? out : empty(out.shape(), out.device());
}

void from_nchw(const Tensor& computed, Tensor& out, Layout layout) {
  if (layout != Layout::NCHW) convert_layout(computed, Layout::NCHW, out, layout);
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                    const Conv2dParams& params) {
  const char* op = "conv2d_forward";
  detail::check_float(op, "x", x);
  detail::check_float(op, "w", w);
  detail::check_same_device(op, "x", x, "w", w);
  const Conv2dGeometry g = conv2d_geometry(x.shape(), w.shape(), params, op);
  if (b.defined()) {
    detail::check_float(op, "b", b);
    detail::check_same_device(op, "x", x, "b", b);
    MINIDL_CHECK(b.rank() == 1 && b.size(0) == g.out_channels, ShapeError, op, ": bias ", b.shape(),
                 " does not match ", g.out_channels, " output channels");
  }
  MINIDL_CHECK(params.activation == Activation::Identity || params.activation == Activation::ReLU,
               ValueError, op, ": the fused activation must be identity or relu, got ",
               activation_name(params.activation));
  detail::prepare_output(op, y, output_shape(g), x.device());
  MINIDL_CHECK(y.storage() != x.storage(), ValueError, op, ": y must not share memory with x");
  check_layout(op, "x", x, params.x_layout);
  check_layout(op, "y", y, params.y_layout);
  const float* pb = b.defined() ? b.data<float>() : nullptr;
  const bool relu = params.activation == Activation::ReLU;
  bool fused = false;  // whether the backend applied the ReLU itself
  switch (choose(op, g, x, params.backend)) {
    case Path::Cpu: {
      const Tensor xp = to_nchw(x, params.x_layout);
      Tensor yp = nchw_output(y, params.y_layout);
      cpu::conv2d_forward(g, xp.data<float>(), w.data<float>(), pb, yp.data<float>(), relu);
      from_nchw(yp, y, params.y_layout);
      fused = true;
      break;
    }
    case Path::OneDnn:
      cpu::conv2d_forward_onednn(g, x.data<float>(), w.data<float>(), pb, y.data<float>(), relu,
                                 params.x_layout, params.y_layout);
      fused = true;
      break;
    case Path::Cudnn:
      MINIDL_CUDA_CALL(cuda::conv2d_forward_cudnn(g, x.data<float>(), w.data<float>(), pb,
                                                  y.data<float>(), x.device().index()));
      break;
    case Path::Own:
      MINIDL_CUDA_CALL(cuda::conv2d_forward_own(g, x.data<float>(), w.data<float>(), pb,
                                                y.data<float>(), x.device().index()));
      break;
  }
  // CUDA: ReLU in place over y (the same stream, after the convolution).
  if (relu && !fused && y.numel() > 0) activation_forward(Activation::ReLU, y, y);
}

void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, Tensor& dx,
                          const Conv2dParams& params) {
  const char* op = "conv2d_backward_data";
  detail::check_float(op, "dy", dy);
  detail::check_float(op, "w", w);
  detail::check_same_device(op, "dy", dy, "w", w);
  const Conv2dGeometry g = conv2d_geometry(x_shape, w.shape(), params, op);
  MINIDL_CHECK(dy.shape() == output_shape(g), ShapeError, op, ": dy ", dy.shape(),
               " is not the output shape ", output_shape(g), " of input ", x_shape, " and weight ",
               w.shape());
  detail::prepare_output(op, dx, x_shape, dy.device());
  MINIDL_CHECK(dx.storage() != dy.storage(), ValueError, op, ": dx must not share memory with dy");
  check_layout(op, "dy", dy, params.y_layout);
  check_layout(op, "dx", dx, params.x_layout);
  switch (choose(op, g, dy, params.backend)) {
    case Path::Cpu: {
      const Tensor dyp = to_nchw(dy, params.y_layout);
      Tensor dxp = nchw_output(dx, params.x_layout);
      cpu::conv2d_backward_data(g, dyp.data<float>(), w.data<float>(), dxp.data<float>());
      from_nchw(dxp, dx, params.x_layout);
      break;
    }
    case Path::OneDnn:
      cpu::conv2d_backward_data_onednn(g, dy.data<float>(), w.data<float>(), dx.data<float>(),
                                       params.x_layout, params.y_layout);
      break;
    case Path::Cudnn:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_data_cudnn(g, dy.data<float>(), w.data<float>(),
                                                        dx.data<float>(), dy.device().index()));
      break;
    case Path::Own:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_data_own(g, dy.data<float>(), w.data<float>(),
                                                      dx.data<float>(), dy.device().index()));
      break;
  }
}

void conv2d_backward_filter(const Tensor& x, const Tensor& dy, Tensor& dw,
                            const Conv2dParams& params, bool accumulate) {
  const char* op = "conv2d_backward_filter";
  detail::check_float(op, "x", x);
  detail::check_float(op, "dy", dy);
  detail::check_same_device(op, "x", x, "dy", dy);
  MINIDL_CHECK(dw.defined(), ValueError, op,
               ": dw must be given (its shape names the kernel size)");
  const Conv2dGeometry g = conv2d_geometry(x.shape(), dw.shape(), params, op);
  MINIDL_CHECK(dy.shape() == output_shape(g), ShapeError, op, ": dy ", dy.shape(),
               " is not the output shape ", output_shape(g), " of input ", x.shape(),
               " and weight ", dw.shape());
  detail::check_float(op, "dw", dw);
  detail::check_same_device(op, "x", x, "dw", dw);
  check_layout(op, "x", x, params.x_layout);
  check_layout(op, "dy", dy, params.y_layout);
  const float beta = accumulate ? 1.0f : 0.0f;
  switch (choose(op, g, x, params.backend)) {
    case Path::Cpu: {
      const Tensor xp = to_nchw(x, params.x_layout), dyp = to_nchw(dy, params.y_layout);
      cpu::conv2d_backward_filter(g, xp.data<float>(), dyp.data<float>(), dw.data<float>(), beta);
      break;
    }
    case Path::OneDnn:
      cpu::conv2d_backward_filter_onednn(g, x.data<float>(), dy.data<float>(), dw.data<float>(),
                                         beta, params.x_layout, params.y_layout);
      break;
    case Path::Cudnn:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_filter_cudnn(
          g, x.data<float>(), dy.data<float>(), dw.data<float>(), beta, x.device().index()));
      break;
    case Path::Own:
      MINIDL_CUDA_CALL(cuda::conv2d_backward_filter_own(
          g, x.data<float>(), dy.data<float>(), dw.data<float>(), beta, x.device().index()));
      break;
  }
}

namespace {
// db for dy in a blocked layout: per block of L channels (L = 8 or 16), the L channel sums
// run side by side (one float lane per channel over each sample's P Q positions, added into
// a double per channel and sample, then over the samples in order): deterministic, the same
// bits for either block size, and the same structure as the NCHW loop below (lane sums per
// sample row, rows added in double).
template <std::int64_t L>
void backward_bias_blocked(const float* g, float* out, std::int64_t B, std::int64_t M,
                           std::int64_t PQ, bool accumulate) {
  const std::int64_t blocks = M / L;
  parallel_for(blocks, grain_for(B * PQ * L, 1 << 16),
               [&](std::int64_t cb_begin, std::int64_t cb_end) {
                 for (std::int64_t cb = cb_begin; cb < cb_end; ++cb) {
                   double s[L] = {};
                   for (std::int64_t n = 0; n < B; ++n) {
                     const float* slab = g + (n * blocks + cb) * PQ * L;
                     float lane[L] = {};
                     for (std::int64_t i = 0; i < PQ; ++i)
                       for (std::int64_t c = 0; c < L; ++c) lane[c] += slab[i * L + c];
                     for (std::int64_t c = 0; c < L; ++c) s[c] += static_cast<double>(lane[c]);
                   }
                   for (std::int64_t c = 0; c < L; ++c) {
                     float& o = out[cb * L + c];
                     o = static_cast<float>(s[c]) + (accumulate ? o : 0.0f);
                   }
                 }
               });
}
}  // namespace

void conv2d_backward_bias(const Tensor& dy, Tensor& db, bool accumulate, Layout dy_layout) {
  const char* op = "conv2d_backward_bias";
  detail::check_float(op, "dy", dy);
  MINIDL_CHECK(dy.rank() == 4, ShapeError, op, ": dy must be [B, M, P, Q], got ", dy.shape());
  MINIDL_CHECK(!accumulate || db.defined(), ValueError, op, ": accumulating needs a defined db");
  check_layout(op, "dy", dy, dy_layout);
  detail::prepare_output(op, db, Shape{dy.size(1)}, dy.device());
  const std::int64_t B = dy.size(0), M = dy.size(1), PQ = dy.size(2) * dy.size(3);
  const float beta = accumulate ? 1.0f : 0.0f;
  if (dy.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::conv2d_backward_bias(dy.data<float>(), db.data<float>(), B, M, PQ, beta,
                                                dy.device().index()));
    return;
  }
  const float* g = dy.data<float>();
  float* out = db.data<float>();
  if (dy_layout == Layout::NCHW8c) {
    backward_bias_blocked<8>(g, out, B, M, PQ, accumulate);
    return;
  }
  if (dy_layout == Layout::NCHW16c) {
    backward_bias_blocked<16>(g, out, B, M, PQ, accumulate);
    return;
  }
  // Each row dy[n, m, :] is summed in kLanes float lanes (independent chains the
  // compiler vectorizes; a single double chain is bound by the add latency and made
  // this pass cost as much as a filter-gradient GEMM for the CNN's first layer), and
  // the rows' sums are added in double. The order is fixed: deterministic.
  constexpr std::int64_t kLanes = 16;
  parallel_for(M, grain_for(B * PQ, 1 << 16),
               [&](std::int64_t m_begin, std::int64_t m_end) {
                 for (std::int64_t m = m_begin; m < m_end; ++m) {
                   double s = 0.0;
                   for (std::int64_t n = 0; n < B; ++n) {
                     const float* row = g + (n * M + m) * PQ;
                     float lane[kLanes] = {};
                     std::int64_t i = 0;
                     for (; i + kLanes <= PQ; i += kLanes) {
                       for (std::int64_t l = 0; l < kLanes; ++l) lane[l] += row[i + l];
                     }
                     double r = 0.0;
                     for (; i < PQ; ++i) r += static_cast<double>(row[i]);
                     for (std::int64_t l = 0; l < kLanes; ++l) r += static_cast<double>(lane[l]);
                     s += r;
                   }
                   out[m] = static_cast<float>(s) + (accumulate ? beta * out[m] : 0.0f);
                 }
               });
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& params) {
  Tensor y;
  conv2d_forward(x, w, b, y, params);
  return y;
}

namespace {
// out[perm-indexed] = in: a 4-D transpose on the host. out dims are in dims
// permuted: out_dim[i] = in_dim[perm[i]].
Tensor permute4(const Tensor& t, const int perm[4], const char* op) {
  detail::check_float(op, "weight", t);
  MINIDL_CHECK(t.rank() == 4, ShapeError, op, ": needs a 4-D weight, got ", t.shape());
  const std::vector<float> in = t.to_vector<float>();
  const std::int64_t d[4] = {t.size(0), t.size(1), t.size(2), t.size(3)};
  const std::int64_t od[4] = {d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]};
  std::vector<float> out(in.size());
  std::int64_t idx[4];
  std::int64_t o = 0;
  for (idx[0] = 0; idx[0] < od[0]; ++idx[0])
    for (idx[1] = 0; idx[1] < od[1]; ++idx[1])
      for (idx[2] = 0; idx[2] < od[2]; ++idx[2])
        for (idx[3] = 0; idx[3] < od[3]; ++idx[3]) {
          std::int64_t src[4];
          for (int i = 0; i < 4; ++i) src[perm[i]] = idx[i];
          out[static_cast<std::size_t>(o++)] = in[static_cast<std::size_t>(
              ((src[0] * d[1] + src[1]) * d[2] + src[2]) * d[3] + src[3])];
        }
  return from_vector(out, Shape{od[0], od[1], od[2], od[3]}, t.device());
}
}  // namespace

Tensor conv_weight_from_course(const Tensor& w_course) {
  // (K1, K2, N, M) -> [M, N, K1, K2]: out axis i is in axis perm[i].
  static const int perm[4] = {3, 2, 0, 1};
  return permute4(w_course, perm, "conv_weight_from_course");
}

Tensor conv_weight_to_course(const Tensor& w) {
  // [M, N, K1, K2] -> (K1, K2, N, M)
  static const int perm[4] = {2, 3, 1, 0};
  return permute4(w, perm, "conv_weight_to_course");
}

}  // namespace minidl
