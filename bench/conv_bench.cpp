// Convolution throughput per backend against the SGEMM rate measured in the same run.
//
//   <dev>/sgemm_ref/1024              the yardstick: a 1024^3 SGEMM through minidl::gemm
//                                     (OpenBLAS on the CPU, cuBLAS FP32 on CUDA), 2 n^3 FLOPs
//   <dev>/conv_fwd/<shape>            y = conv(x, w) + b                     (F FLOPs)
//   <dev>/conv_bwd_data/<shape>       dx from dy and w                       (F FLOPs)
//   <dev>/conv_bwd_filter/<shape>     dw += corr(x, dy), db += sum dy        (F FLOPs)
//   <dev>/conv_fwd_bwd/<shape>        the three above, one training step's work (3 F)
// with F = 2 B M P Q C K1 K2 and <dev> = cpu, cuda_cudnn or cuda_own. Shapes:
//   cnn_conv1   x [128, 1, 28, 28],  w [32, 1, 5, 5],   same   (the CNN's first layer)
//   cnn_conv2   x [128, 32, 14, 14], w [64, 32, 5, 5],  same   (its second)
//   resnet3x3   x [32, 64, 56, 56],  w [64, 64, 3, 3],  same   (a ResNet stage-1 conv)
//
// Counters: GFLOP/s (10^9 FLOP/s) and of_sgemm (over the same device's sgemm_ref
// GFLOP/s, measured at the start of the run). CUDA times are GPU time from CUDA
// events (manual time); CPU times are wall time.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "core/tensor.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/gemm.hpp"

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

void conv(benchmark::State& state, Device device, ConvBackend backend, const ConvShape& shape,
          Part part) {
  Generator gen(2);
  Conv2dParams p;
  p.padding = ConvPadding::Same;
  p.backend = backend;
  const Tensor x = normal(shape.x, 0.0f, 1.0f, gen, device);
  const Tensor w = normal(shape.w, 0.0f, 0.1f, gen, device);
  const Tensor b = normal({shape.w[0]}, 0.0f, 1.0f, gen, device);
  const Conv2dGeometry g = conv2d_geometry(shape.x, shape.w, p);
  Tensor y = empty({g.batch, g.out_channels, g.out_h, g.out_w}, device);
  const Tensor dy = normal(y.shape(), 0.0f, 1.0f, gen, device);
  Tensor dx = empty(shape.x, device), dw = zeros(shape.w, device), db = zeros({shape.w[0]}, device);
  const double f = g.forward_flops();
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
        conv2d_backward_bias(dy, db, true);
      });
      break;
    case Part::FwdBwd:
      run_timed(state, device, 3 * f, [&] {
        conv2d_forward(x, w, b, y, p);
        conv2d_backward_data(dy, w, shape.x, dx, p);
        conv2d_backward_filter(x, dy, dw, p, true);
        conv2d_backward_bias(dy, db, true);
      });
      break;
  }
}

void register_all() {
  struct Dev {
    const char* name;
    Device device;
    ConvBackend backend;
  };
  std::vector<Dev> devs{{"cpu", Device::cpu(), ConvBackend::Cpu}};
  if (cuda_available()) {
    devs.push_back({"cuda_cudnn", Device::cuda(), ConvBackend::Cudnn});
    devs.push_back({"cuda_own", Device::cuda(), ConvBackend::Own});
  }
  const std::pair<Part, const char*> parts[] = {{Part::Fwd, "conv_fwd"},
                                                {Part::BwdData, "conv_bwd_data"},
                                                {Part::BwdFilter, "conv_bwd_filter"},
                                                {Part::FwdBwd, "conv_fwd_bwd"}};
  auto reg = [](const std::string& name, Device device, auto fn) {
    auto* b = benchmark::RegisterBenchmark(name.c_str(), fn);
    b->Unit(benchmark::kMillisecond);
    if (device.is_cuda()) {
      b->UseManualTime();
    } else {
      b->UseRealTime()->Iterations(5);
    }
  };
  reg("cpu/sgemm_ref/1024", Device::cpu(),
      [](benchmark::State& s) { sgemm_ref(s, Device::cpu()); });
  if (cuda_available()) {
    reg("cuda/sgemm_ref/1024", Device::cuda(),
        [](benchmark::State& s) { sgemm_ref(s, Device::cuda()); });
  }
  for (const Dev& d : devs) {
    for (const ConvShape& shape : shapes()) {
      for (const auto& part : parts) {
        const Dev dev = d;
        const ConvShape* sh = &shape;
        const Part pt = part.first;
        reg(std::string(d.name) + "/" + part.second + "/" + shape.name, d.device,
            [dev, sh, pt](benchmark::State& s) { conv(s, dev.device, dev.backend, *sh, pt); });
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
