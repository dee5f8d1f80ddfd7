// Helpers shared by minidl's Google Benchmark executables.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/context.hpp"
#include "core/device.hpp"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>

#include <stdexcept>

namespace minidl::bench {

/// Times work queued on a device's stream with CUDA events (GPU time, no host
/// overhead): for benchmarks registered with UseManualTime().
class CudaEventTimer {
 public:
  explicit CudaEventTimer(int device = 0) : stream_(CudaContext::get(device).stream()) {
    check(cudaEventCreate(&start_));
    check(cudaEventCreate(&stop_));
  }
  ~CudaEventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  CudaEventTimer(const CudaEventTimer&) = delete;
  CudaEventTimer& operator=(const CudaEventTimer&) = delete;

  void start() { check(cudaEventRecord(start_, stream_)); }
  /// Seconds between start() and now, on the stream; waits for the work.
  double stop() {
    check(cudaEventRecord(stop_, stream_));
    check(cudaEventSynchronize(stop_));
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start_, stop_));
    return ms * 1e-3;
  }

 private:
  static void check(cudaError_t e) {
    if (e != cudaSuccess)
      throw std::runtime_error(std::string("CUDA event: ") + cudaGetErrorString(e));
  }
  cudaStream_t stream_;
  cudaEvent_t start_{};
  cudaEvent_t stop_{};
};

}  // namespace minidl::bench
#endif

namespace minidl::bench {

/// Runs `work` once to warm up (lazy module loading, algorithm searches, pool
/// growth, first-touch pages), then once per benchmark iteration; returns the total
/// seconds of the timed iterations. CUDA devices are timed with CUDA events and
/// reported as manual time (register with UseManualTime()); the CPU with wall time.
inline double time_iterations(benchmark::State& state, Device device,
                              const std::function<void()>& work) {
  double seconds = 0.0;
#if MINIDL_WITH_CUDA
  std::unique_ptr<CudaEventTimer> timer;
  if (device.is_cuda()) timer = std::make_unique<CudaEventTimer>(device.index());
#endif
  work();
#if MINIDL_WITH_CUDA
  if (device.is_cuda()) CudaContext::get(device.index()).synchronize();
#endif
  for (auto _ : state) {
#if MINIDL_WITH_CUDA
    if (device.is_cuda()) {
      timer->start();
      work();
      const double s = timer->stop();
      state.SetIterationTime(s);
      seconds += s;
      continue;
    }
#endif
    const auto t0 = std::chrono::steady_clock::now();
    work();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return seconds;
}

/// Adds the run's context (GPU name, or "none") to the benchmark's JSON and console output.
inline void add_device_context() {
  std::string gpu = "none";
  if (cuda_available()) gpu = CudaContext::get(0).info().name;
  benchmark::AddCustomContext("minidl_gpu", gpu);
  benchmark::AddCustomContext("minidl_cuda_available", cuda_available() ? "yes" : "no");
}

}  // namespace minidl::bench
