// Activation and loss kernels against the memory-bandwidth limit.
//
//   <dev>/copy_ref/<n>          the yardstick measured in this run: cudaMemcpyAsync
//                               device-to-device on CUDA, an OpenMP-parallel memcpy
//                               with the library's threads on the CPU
//   <dev>/<act>_forward/<n>     y = f(z):          reads z, writes y       (2 n 4 bytes)
//   <dev>/<act>_backward/<n>    dz = dy f'(saved): reads dy and z or y, writes dz (3 n 4)
//                               (step's backward only writes: n 4)
//   <dev>/softmax_ce/<N>x<K>    fused softmax cross-entropy forward + backward, int32
//                               labels, mean reduction, no label check: reads the
//                               logits and labels, writes the gradient (2 N K 4 + N 4)
//   <dev>/softmax_ce_checked/.. the same with the label check (one flag read back)
//
// Counters: GB/s (10^9 bytes/s, every byte moved) and of_copy (GB/s over the same
// device's copy_ref GB/s measured at the start of this run). CUDA time is GPU time
// from CUDA events (manual time); CPU time is wall time.
#include <omp.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "core/tensor.hpp"
#include "kernels/activation.hpp"
#include "kernels/loss.hpp"

namespace minidl::bench {
namespace {

constexpr std::int64_t kElementwiseN = std::int64_t{1} << 26;

double g_copy_gbps[2] = {0.0, 0.0};  // [cpu, cuda]

/// Runs `work` once per iteration and reports GB/s and the fraction of copy bandwidth.
void run_timed(benchmark::State& state, Device device, double bytes,
               const std::function<void()>& work) {
  const double seconds = time_iterations(state, device, work);
  const double gbps = bytes * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["GB/s"] = gbps;
  const double ref = g_copy_gbps[device.is_cuda() ? 1 : 0];
  if (ref > 0) state.counters["of_copy"] = gbps / ref;
  state.counters["us_per_call"] = seconds / static_cast<double>(state.iterations()) * 1e6;
}

// ---- the yardstick -------------------------------------------------------------------

void parallel_memcpy(float* dst, const float* src, std::int64_t n) {
#pragma omp parallel
  {
    const std::int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const std::int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    std::memcpy(dst + begin, src + begin, static_cast<std::size_t>(end - begin) * sizeof(float));
  }
}

double measure_copy(Device device) {
  const Tensor src = ones({kElementwiseN}, device);
  Tensor dst = zeros({kElementwiseN}, device);
  const double bytes = 2.0 * static_cast<double>(kElementwiseN) * 4;
  auto copy = [&] {
    if (device.is_cuda()) {
      dst.copy_from(src);
    } else {
      parallel_memcpy(dst.data<float>(), src.data<float>(), kElementwiseN);
    }
  };
  copy();
  double best = 0.0;
  for (int rep = 0; rep < 10; ++rep) {
#if MINIDL_WITH_CUDA
    if (device.is_cuda()) {
      CudaEventTimer timer(device.index());
      timer.start();
      copy();
      best = std::max(best, bytes / timer.stop() * 1e-9);
      continue;
    }
#endif
    const auto t0 = std::chrono::steady_clock::now();
    copy();
    best = std::max(
        best, bytes / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() *
                  1e-9);
  }
  return best;
}

void copy_ref(benchmark::State& state, Device device) {
  const Tensor src = ones({kElementwiseN}, device);
  Tensor dst = zeros({kElementwiseN}, device);
  run_timed(state, device, 2.0 * static_cast<double>(kElementwiseN) * 4, [&] {
    if (device.is_cuda()) {
      dst.copy_from(src);
    } else {
      parallel_memcpy(dst.data<float>(), src.data<float>(), kElementwiseN);
    }
  });
}

// ---- activations ------------------------------------------------------------------------

void activation(benchmark::State& state, Device device, Activation a, bool backward) {
  Generator gen(1);
  const Tensor z = uniform({kElementwiseN}, -4.0f, 4.0f, gen, device);
  Tensor y = empty({kElementwiseN}, device);
  activation_forward(a, z, y);
  const Tensor dy = normal({kElementwiseN}, 0.0f, 1.0f, gen, device);
  Tensor dz = empty({kElementwiseN}, device);
  const double n4 = static_cast<double>(kElementwiseN) * 4;
  const double bytes = !backward ? 2 * n4 : (a == Activation::Step ? n4 : 3 * n4);
  if (backward) {
    run_timed(state, device, bytes, [&] { activation_backward(a, dy, z, y, dz); });
  } else {
    run_timed(state, device, bytes, [&] { activation_forward(a, z, y); });
  }
}

// ---- fused softmax cross-entropy ---------------------------------------------------------

void softmax_ce(benchmark::State& state, Device device, std::int64_t n, std::int64_t k,
                bool checked) {
  Generator gen(2);
  const Tensor logits = normal({n, k}, 0.0f, 3.0f, gen, device);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7) % k);
  const Tensor y = from_vector(labels, {n}, device);
  Tensor loss, grad;
  const LossOptions options{Reduction::Mean, checked};
  const double bytes = 2.0 * static_cast<double>(n * k) * 4 + static_cast<double>(n) * 4;
  run_timed(state, device, bytes, [&] { softmax_cross_entropy(logits, y, loss, grad, options); });
}

void register_for(Device device) {
  const std::string dev = device.is_cuda() ? "cuda" : "cpu";
  const std::string n = std::to_string(kElementwiseN);
  auto reg = [&](const std::string& name, auto fn) {
    auto* b = benchmark::RegisterBenchmark(name.c_str(), fn);
    b->Unit(benchmark::kMicrosecond);
    if (device.is_cuda())
      b->UseManualTime();
    else
      b->UseRealTime();
    if (!device.is_cuda()) b->Iterations(name.find("softmax_ce") != std::string::npos ? 20 : 10);
  };
  reg(dev + "/copy_ref/" + n, [device](benchmark::State& s) { copy_ref(s, device); });
  for (Activation a : {Activation::ReLU, Activation::LeakyReLU, Activation::Sigmoid,
                       Activation::Tanh, Activation::Step}) {
    for (bool backward : {false, true}) {
      const std::string name =
          dev + "/" + activation_name(a) + (backward ? "_backward/" : "_forward/") + n;
      reg(name, [device, a, backward](benchmark::State& s) { activation(s, device, a, backward); });
    }
  }
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{4096, 1000}, {65536, 10}, {128, 10}};
  for (const auto& [rows, cols] : shapes) {
    const std::string shape = std::to_string(rows) + "x" + std::to_string(cols);
    reg(dev + "/softmax_ce/" + shape, [device, rows = rows, cols = cols](benchmark::State& s) {
      softmax_ce(s, device, rows, cols, false);
    });
    if (device.is_cuda()) {
      reg(dev + "/softmax_ce_checked/" + shape,
          [device, rows = rows, cols = cols](benchmark::State& s) {
            softmax_ce(s, device, rows, cols, true);
          });
    }
  }
}

}  // namespace
}  // namespace minidl::bench

int main(int argc, char** argv) {
  using namespace minidl;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::add_device_context();
  bench::g_copy_gbps[0] = bench::measure_copy(Device::cpu());
  benchmark::AddCustomContext("cpu_copy_GBps", std::to_string(bench::g_copy_gbps[0]));
  bench::register_for(Device::cpu());
  if (cuda_available()) {
    bench::g_copy_gbps[1] = bench::measure_copy(Device::cuda());
    benchmark::AddCustomContext("cuda_copy_GBps", std::to_string(bench::g_copy_gbps[1]));
    bench::register_for(Device::cuda());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
