// Convolution throughput per backend against the SGEMM rate measured in the same run.
//
//   <dev>/sgemm_ref/1024              the yardstick: a 1024^3 SGEMM through minidl::gemm
//                                     (OpenBLAS on the CPU, cuBLAS FP32 on CUDA), 2 n^3 FLOPs
//   <dev>/conv_fwd/<shape>            y = conv(x, w) + b                     (F FLOPs)
//   <dev>/conv_bwd_data/<shape>       dx from dy and w                       (F FLOPs)
//   <dev>/conv_bwd_filter/<shape>     dw += corr(x, dy), db += sum dy        (F FLOPs)
//   <dev>/conv_fwd_bwd/<shape>        the three above, one training step's work (3 F)
// with F = 2 B M P Q C K1 K2 and <dev> = cpu (backend `cpu`: im2col + OpenBLAS, the AVX2
// direct path for conv1), cpu_onednn (backend `onednn`, when built with oneDNN; its cases
// record oneDNN's implementation, e.g. jit:avx2, and the one `auto` runs),
// cpu_onednn_nchw8c and cpu_onednn_nchw16c (backend `onednn` with x, y, dy and dx in NCHW8c
// or NCHW16c, kernels/layout.hpp: as the layer graph holds them between oneDNN convolutions
// and pooling layers, so no reorders; the graph picks NCHW16c where oneDNN runs AVX-512
// kernels; cnn_conv2 and resnet3x3 only, whose channels are multiples of 16), cuda_cudnn
// (minidl's cuDNN backend),
// cuda_own (minidl's own kernel) or cuda_cudnn_direct: cuDNN called directly, as a user
// would without minidl (own handle on the same stream, descriptors made once, the fastest
// algorithm cudnnFind*Algorithm reports for each pass with CUDNN_FMA_MATH, i.e. FP32 like
// minidl's backend, its workspace from cudaMalloc; bias by cudnnAddTensor and
// cudnnConvolutionBackwardBias). The cuda_cudnn cases report of_direct: the direct call's
// time over minidl's (>= 0.95 is the goal: "within 5%"). Shapes:
//   cnn_conv1   x [128, 1, 28, 28],  w [32, 1, 5, 5],   same   (the CNN's first layer)
//   cnn_conv2   x [128, 32, 14, 14], w [64, 32, 5, 5],  same   (its second)
//   resnet3x3   x [32, 64, 56, 56],  w [64, 64, 3, 3],  same   (a ResNet stage-1 conv)
//
// The CNN's max pooling (2x2 at stride 2) in the layouts the layer graph runs it in, CPU only:
//   cpu/max_pool_fwd/<shape>            y = max pooling of x
//   cpu/max_pool_bwd/<shape>            dx from x and dy
//   cpu/max_pool_bwd_relu/<shape>       the same through the fused ReLU of the convolution
//                                       before it (pool2d_backward's through_relu)
//   .../<shape>_general                 the general loops (cpu::pool2d_*(..., baseline)), which
//                                       ran before the AVX2 kernels (kernels/pool2d_max2x2.cpp)
//   cnn_pool1   x [128, 32, 28, 28] NCHW -> y NCHW8c   (conv1's output, into conv2)
//   cnn_pool2   x [128, 64, 14, 14] NCHW8c -> y NCHW   (conv2's output, into Flatten)
//   cnn_pool1_16c, cnn_pool2_16c   the same with NCHW16c (the graph's layout on AVX-512)
// on ReLU outputs (half the values 0: ties); counter GB/s: bytes read and written once
// (forward x + y, backward x + dy + dx).
//
// Counters: GFLOP/s (10^9 FLOP/s) and of_sgemm (over the same device's sgemm_ref
// GFLOP/s, measured at the start of the run). CUDA times are GPU time from CUDA
// events (manual time); CPU times are wall time.
#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "core/tensor.hpp"
#include "kernels/activation.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layout.hpp"
#include "kernels/pool2d.hpp"

#if MINIDL_WITH_CUDA
#include <cudnn.h>

#include <map>

#include "core/cuda_check.hpp"
#endif

namespace minidl::bench {
namespace {

double g_sgemm_gflops[2] = {0.0, 0.0};  // [cpu, cuda]

void run_timed(benchmark::State& state, Device device, double flops,
               const std::function<void()>& work) {
  const double seconds = time_iterations(state, device, work);
  const double gflops = flops * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  const double ref = g_sgemm_gflops[device.is_cuda() ? 1 : 0];
  if (ref > 0) state.counters["of_sgemm"] = gflops / ref;
  state.counters["ms_per_call"] = seconds / static_cast<double>(state.iterations()) * 1e3;
}

constexpr std::int64_t kGemmN = 1024;

double measure_sgemm(Device device) {
  Generator gen(1);
  const Tensor a = normal({kGemmN, kGemmN}, 0.0f, 1.0f, gen, device);
  const Tensor b = normal({kGemmN, kGemmN}, 0.0f, 1.0f, gen, device);
  Tensor c = empty({kGemmN, kGemmN}, device);
  const double flops = 2.0 * kGemmN * kGemmN * kGemmN;
  gemm(a, b, c);
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
#if MINIDL_WITH_CUDA
    if (device.is_cuda()) {
      CudaEventTimer timer(device.index());
      timer.start();
      gemm(a, b, c);
      best = std::max(best, flops / timer.stop() * 1e-9);
      continue;
    }
#endif
    const auto t0 = std::chrono::steady_clock::now();
    gemm(a, b, c);
    best = std::max(
        best, flops / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() *
                  1e-9);
  }
  return best;
}

void sgemm_ref(benchmark::State& state, Device device) {
  Generator gen(1);
  const Tensor a = normal({kGemmN, kGemmN}, 0.0f, 1.0f, gen, device);
  const Tensor b = normal({kGemmN, kGemmN}, 0.0f, 1.0f, gen, device);
  Tensor c = empty({kGemmN, kGemmN}, device);
  run_timed(state, device, 2.0 * kGemmN * kGemmN * kGemmN, [&] { gemm(a, b, c); });
}

struct ConvShape {
  const char* name;
  Shape x, w;
};

const std::vector<ConvShape>& shapes() {
  static const std::vector<ConvShape> s = {
      {"cnn_conv1", {128, 1, 28, 28}, {32, 1, 5, 5}},
      {"cnn_conv2", {128, 32, 14, 14}, {64, 32, 5, 5}},
      {"resnet3x3", {32, 64, 56, 56}, {64, 64, 3, 3}},
  };
  return s;
}

enum class Part { Fwd, BwdData, BwdFilter, FwdBwd };

#if MINIDL_WITH_CUDA
// Seconds per call of the cuda_cudnn_direct cases, by "<part>/<shape>", for of_direct.
std::map<std::string, double>& direct_seconds() {
  static std::map<std::string, double> m;
  return m;
}

std::string part_key(Part part, const ConvShape& shape) {
  return std::to_string(static_cast<int>(part)) + "/" + shape.name;
}

/// cuDNN without minidl: descriptors, the fastest algorithm per pass, workspaces.
struct CudnnDirect {
  cudnnHandle_t h = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  std::size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
  void* ws = nullptr;

  CudnnDirect(const Conv2dGeometry& g, cudaStream_t stream) {
    const auto i = [](std::int64_t v) { return static_cast<int>(v); };
    MINIDL_CUDNN_CHECK(cudnnCreate(&h));
    MINIDL_CUDNN_CHECK(cudnnSetStream(h, stream));
    MINIDL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    MINIDL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    MINIDL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    MINIDL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    MINIDL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    MINIDL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                  i(g.batch), i(g.in_channels), i(g.height),
                                                  i(g.width)));
    MINIDL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                  i(g.batch), i(g.out_channels), i(g.out_h),
                                                  i(g.out_w)));
    MINIDL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                                  i(g.out_channels), 1, 1));
    MINIDL_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                  i(g.out_channels), i(g.in_channels),
                                                  i(g.kernel_h), i(g.kernel_w)));
    MINIDL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, i(g.pad_top), i(g.pad_left),
                                                       i(g.stride_h), i(g.stride_w), 1, 1,
                                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t f[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    MINIDL_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(
        h, x, w, conv, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, f));
    const int fi = first_ok(f, n, "forward");
    fwd = f[fi].algo;
    fwd_ws = f[fi].memory;
    cudnnConvolutionBwdDataAlgoPerf_t d[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    MINIDL_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(
        h, w, y, conv, x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, d));
    const int di = first_ok(d, n, "backward-data");
    bwd_data = d[di].algo;
    bwd_data_ws = d[di].memory;
    cudnnConvolutionBwdFilterAlgoPerf_t b[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    MINIDL_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
        h, x, y, conv, w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, b));
    const int bi = first_ok(b, n, "backward-filter");
    bwd_filter = b[bi].algo;
    bwd_filter_ws = b[bi].memory;
    const std::size_t bytes = std::max({fwd_ws, bwd_data_ws, bwd_filter_ws});
    if (bytes > 0) MINIDL_CUDA_CHECK(cudaMalloc(&ws, bytes));
  }
  CudnnDirect(const CudnnDirect&) = delete;
  CudnnDirect& operator=(const CudnnDirect&) = delete;
  ~CudnnDirect() {
    if (ws) cudaFree(ws);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
    if (h) cudnnDestroy(h);
  }

  /// cudnnFind* sorts by time: the first that succeeded is the fastest.
  template <class Perf>
  static int first_ok(const Perf* perf, int n, const char* what) {
    for (int k = 0; k < n; ++k)
      if (perf[k].status == CUDNN_STATUS_SUCCESS) return k;
    throw CudaError(std::string("cuDNN finds no ") + what + " algorithm for this shape");
  }

  void forward(const float* xp, const float* wp, const float* bp, float* yp) {
    const float one = 1.0f, zero = 0.0f;
    MINIDL_CUDNN_CHECK(cudnnConvolutionForward(h, &one, x, xp, w, wp, conv, fwd, ws, fwd_ws,
                                               &zero, y, yp));
    MINIDL_CUDNN_CHECK(cudnnAddTensor(h, &one, bias, bp, &one, y, yp));
  }
  void backward_data(const float* dyp, const float* wp, float* dxp) {
    const float one = 1.0f, zero = 0.0f;
    MINIDL_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, w, wp, y, dyp, conv, bwd_data, ws,
                                                    bwd_data_ws, &zero, x, dxp));
  }
  void backward_filter(const float* xp, const float* dyp, float* dwp, float* dbp) {
    const float one = 1.0f;
    MINIDL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, x, xp, y, dyp, conv, bwd_filter, ws,
                                                      bwd_filter_ws, &one, w, dwp));
    MINIDL_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, y, dyp, &one, bias, dbp));
  }
};

void conv_direct(benchmark::State& state, const ConvShape& shape, Part part) {
  const Device device = Device::cuda();
  Generator gen(2);
  Conv2dParams p;
  p.padding = ConvPadding::Same;
  const Tensor x = normal(shape.x, 0.0f, 1.0f, gen, device);
  const Tensor w = normal(shape.w, 0.0f, 0.1f, gen, device);
  const Tensor b = normal({shape.w[0]}, 0.0f, 1.0f, gen, device);
  const Conv2dGeometry g = conv2d_geometry(shape.x, shape.w, p);
  Tensor y = empty({g.batch, g.out_channels, g.out_h, g.out_w}, device);
  const Tensor dy = normal(y.shape(), 0.0f, 1.0f, gen, device);
  Tensor dx = empty(shape.x, device), dw = zeros(shape.w, device), db = zeros({shape.w[0]}, device);
  CudaContext& ctx = CudaContext::get(device.index());
  ctx.synchronize();  // the tensors above are ready before the direct handle uses them
  CudnnDirect d(g, ctx.stream());
  const float *xp = x.data<float>(), *wp = w.data<float>(), *bp = b.data<float>(),
              *dyp = dy.data<float>();
  float *yp = y.data<float>(), *dxp = dx.data<float>(), *dwp = dw.data<float>(),
        *dbp = db.data<float>();
  const double f = g.forward_flops();
  std::function<void()> work;
  double flops = f;
  switch (part) {
    case Part::Fwd: work = [&] { d.forward(xp, wp, bp, yp); }; break;
    case Part::BwdData: work = [&] { d.backward_data(dyp, wp, dxp); }; break;
    case Part::BwdFilter: work = [&] { d.backward_filter(xp, dyp, dwp, dbp); }; break;
    case Part::FwdBwd:
      flops = 3 * f;
      work = [&] {
        d.forward(xp, wp, bp, yp);
        d.backward_data(dyp, wp, dxp);
        d.backward_filter(xp, dyp, dwp, dbp);
      };
      break;
  }
  run_timed(state, device, flops, work);
  direct_seconds()[part_key(part, shape)] = state.counters["ms_per_call"] * 1e-3;
  ctx.synchronize();  // before d's workspace is freed
}
#endif

void conv(benchmark::State& state, Device device, ConvBackend backend, const ConvShape& shape,
          Part part, Layout layout) {
  Generator gen(2);
  Conv2dParams p;
  p.padding = ConvPadding::Same;
  p.backend = backend;
  p.x_layout = p.y_layout = layout;
  Tensor x = normal(shape.x, 0.0f, 1.0f, gen, device);
  const Tensor w = normal(shape.w, 0.0f, 0.1f, gen, device);
  const Tensor b = normal({shape.w[0]}, 0.0f, 1.0f, gen, device);
  const Conv2dGeometry g = conv2d_geometry(shape.x, shape.w, p);
  Tensor y = empty({g.batch, g.out_channels, g.out_h, g.out_w}, device);
  Tensor dy = normal(y.shape(), 0.0f, 1.0f, gen, device);
  if (layout != Layout::NCHW) {  // the same values, held as the layer graph holds them
    Tensor xb, dyb;
    convert_layout(x, Layout::NCHW, xb, layout);
    convert_layout(dy, Layout::NCHW, dyb, layout);
    x = xb;
    dy = dyb;
  }
  Tensor dx = empty(shape.x, device), dw = zeros(shape.w, device), db = zeros({shape.w[0]}, device);
  const double f = g.forward_flops();
  if (device.is_cpu()) {
    // The case's own backend first: `cpu` is the im2col + OpenBLAS backend (with the direct
    // path for conv1), not `auto`, which the label names separately.
    state.SetLabel(std::string("backend ") + conv_backend_name(backend) + "; auto runs " +
                   conv_backend_name(conv2d_cpu_auto_backend(g)) +
                   (backend == ConvBackend::OneDnn
                        ? "; oneDNN " + cpu::conv2d_onednn_impl(g,
                                                                part == Part::BwdData     ? 1
                                                                : part == Part::BwdFilter ? 2
                                                                                          : 0,
                                                                layout, layout)
                        : std::string()));
  }
  switch (part) {
    case Part::Fwd:
      run_timed(state, device, f, [&] { conv2d_forward(x, w, b, y, p); });
      break;
    case Part::BwdData:
      run_timed(state, device, f, [&] { conv2d_backward_data(dy, w, shape.x, dx, p); });
      break;
    case Part::BwdFilter:
      run_timed(state, device, f, [&] {
        conv2d_backward_filter(x, dy, dw, p, true);
        conv2d_backward_bias(dy, db, true, p.y_layout);
      });
      break;
    case Part::FwdBwd:
      run_timed(state, device, 3 * f, [&] {
        conv2d_forward(x, w, b, y, p);
        conv2d_backward_data(dy, w, shape.x, dx, p);
        conv2d_backward_filter(x, dy, dw, p, true);
        conv2d_backward_bias(dy, db, true, p.y_layout);
      });
      break;
  }
#if MINIDL_WITH_CUDA
  if (backend == ConvBackend::Cudnn) {
    const auto it = direct_seconds().find(part_key(part, shape));
    if (it != direct_seconds().end())
      state.counters["of_direct"] = it->second / (state.counters["ms_per_call"] * 1e-3);
  }
#endif
}

struct PoolShape {
  const char* name;
  Shape x;
  Layout x_layout, y_layout;
};

enum class PoolPass { Fwd, Bwd, BwdRelu };

void max_pool(benchmark::State& state, const PoolShape& shape, PoolPass pass, bool general) {
  Generator gen(3);
  const Tensor x_nchw = relu(normal(shape.x, 0.0f, 1.0f, gen));
  const Pool2dGeometry g = pool2d_geometry(shape.x, Pool2dParams{});
  const Shape ys{g.B, g.C, g.P, g.Q};
  Tensor x, dy, y = empty(ys), dx = empty(shape.x);
  convert_layout(x_nchw, Layout::NCHW, x, shape.x_layout);
  convert_layout(normal(ys, 0.0f, 1.0f, gen), Layout::NCHW, dy, shape.y_layout);
  const double seconds = time_iterations(state, Device::cpu(), [&] {
    if (pass == PoolPass::Fwd) {
      cpu::pool2d_forward(PoolMode::Max, g, x.data<float>(), y.data<float>(), shape.x_layout,
                          shape.y_layout, general);
    } else {
      cpu::pool2d_backward(PoolMode::Max, g, x.data<float>(), dy.data<float>(), dx.data<float>(),
                           shape.x_layout, shape.y_layout, pass == PoolPass::BwdRelu, general);
    }
  });
  const double floats = pass == PoolPass::Fwd ? double(x.numel() + y.numel())
                                              : double(2 * x.numel() + y.numel());
  state.counters["GB/s"] = 4.0 * floats * static_cast<double>(state.iterations()) / seconds * 1e-9;
}

void register_all() {
  struct Dev {
    const char* name;
    Device device;
    ConvBackend backend;
    Layout layout = Layout::NCHW;
  };
  std::vector<Dev> devs{{"cpu", Device::cpu(), ConvBackend::Cpu}};
  if (cpu::onednn_available()) {
    devs.push_back({"cpu_onednn", Device::cpu(), ConvBackend::OneDnn});
    devs.push_back({"cpu_onednn_nchw8c", Device::cpu(), ConvBackend::OneDnn, Layout::NCHW8c});
    devs.push_back({"cpu_onednn_nchw16c", Device::cpu(), ConvBackend::OneDnn, Layout::NCHW16c});
  }
  if (cuda_available()) {
    devs.push_back({"cuda_cudnn", Device::cuda(), ConvBackend::Cudnn});
    devs.push_back({"cuda_own", Device::cuda(), ConvBackend::Own});
  }
  const std::pair<Part, const char*> parts[] = {{Part::Fwd, "conv_fwd"},
                                                {Part::BwdData, "conv_bwd_data"},
                                                {Part::BwdFilter, "conv_bwd_filter"},
                                                {Part::FwdBwd, "conv_fwd_bwd"}};
  auto reg = [](const std::string& name, Device device, auto fn) {
    // An error (e.g. a cuDNN status) fails this case, not the whole run.
    auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& s) {
      try {
        fn(s);
      } catch (const std::exception& e) {
        s.SkipWithError(e.what());
      }
    });
    b->Unit(benchmark::kMillisecond);
    if (device.is_cuda()) {
      b->UseManualTime();
    } else {
      b->UseRealTime()->Iterations(5);
    }
    return b;
  };
  reg("cpu/sgemm_ref/1024", Device::cpu(),
      [](benchmark::State& s) { sgemm_ref(s, Device::cpu()); });
  if (cuda_available()) {
    reg("cuda/sgemm_ref/1024", Device::cuda(),
        [](benchmark::State& s) { sgemm_ref(s, Device::cuda()); });
  }
#if MINIDL_WITH_CUDA
  // Before cuda_cudnn, whose cases report of_direct against these.
  if (cuda_available()) {
    for (const ConvShape& shape : shapes()) {
      for (const auto& part : parts) {
        const ConvShape* sh = &shape;
        const Part pt = part.first;
        reg(std::string("cuda_cudnn_direct/") + part.second + "/" + shape.name, Device::cuda(),
            [sh, pt](benchmark::State& s) { conv_direct(s, *sh, pt); });
      }
    }
  }
#endif
  static const PoolShape pool_shapes[] = {
      {"cnn_pool1", Shape{128, 32, 28, 28}, Layout::NCHW, Layout::NCHW8c},
      {"cnn_pool2", Shape{128, 64, 14, 14}, Layout::NCHW8c, Layout::NCHW},
      {"cnn_pool1_16c", Shape{128, 32, 28, 28}, Layout::NCHW, Layout::NCHW16c},
      {"cnn_pool2_16c", Shape{128, 64, 14, 14}, Layout::NCHW16c, Layout::NCHW}};
  const std::pair<PoolPass, const char*> pool_passes[] = {{PoolPass::Fwd, "max_pool_fwd"},
                                                          {PoolPass::Bwd, "max_pool_bwd"},
                                                          {PoolPass::BwdRelu, "max_pool_bwd_relu"}};
  for (const PoolShape& shape : pool_shapes) {
    for (const auto& pass : pool_passes) {
      for (bool general : {false, true}) {
        const PoolShape* sh = &shape;
        const PoolPass ps = pass.first;
        reg(std::string("cpu/") + pass.second + "/" + shape.name + (general ? "_general" : ""),
            Device::cpu(), [sh, ps, general](benchmark::State& s) { max_pool(s, *sh, ps, general); })
            ->Iterations(50);
      }
    }
  }
  for (const Dev& d : devs) {
    for (const ConvShape& shape : shapes()) {
      // A blocked layout only where the shape's channels fit it (not conv1's one channel).
      if (!layout_fits(d.layout, shape.x[1]) || !layout_fits(d.layout, shape.w[0])) continue;
      for (const auto& part : parts) {
        const Dev dev = d;
        const ConvShape* sh = &shape;
        const Part pt = part.first;
        reg(std::string(d.name) + "/" + part.second + "/" + shape.name, d.device,
            [dev, sh, pt](benchmark::State& s) {
              conv(s, dev.device, dev.backend, *sh, pt, dev.layout);
            });
      }
    }
  }
}

}  // namespace
}  // namespace minidl::bench

int main(int argc, char** argv) {
  using namespace minidl;
  benchmark::Initialize(&argc, argv);
  bench::add_device_context();
  bench::g_sgemm_gflops[0] = bench::measure_sgemm(Device::cpu());
  benchmark::AddCustomContext("minidl_cpu_sgemm_gflops", std::to_string(bench::g_sgemm_gflops[0]));
  if (cuda_available()) {
    bench::g_sgemm_gflops[1] = bench::measure_sgemm(Device::cuda());
    benchmark::AddCustomContext("minidl_cuda_sgemm_gflops",
                                std::to_string(bench::g_sgemm_gflops[1]));
  }
  bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
