// Memory bandwidth: the yardsticks later kernels are measured against.
//
//   host/memcpy     std::memcpy between two host buffers
//   host/fill       minidl's fill op on a CPU tensor (OpenMP)
//   cuda/h2d_*      host -> device copy, from pageable (staged) and pinned memory
//   cuda/d2h_*      device -> host copy, to pageable (staged) and pinned memory
//   cuda/d2d        device -> device copy (cudaMemcpyAsync): THE reference
//                   figure for elementwise kernels
//   cuda/fill       minidl's fill kernel
//
// bytes_per_second counts every byte moved: a copy within one memory (memcpy,
// d2d) reads and writes each byte, so it counts 2 x size, like an elementwise op
// that reads one tensor and writes another; a transfer over PCIe counts size;
// a fill counts size (writes only). GPU cases use CUDA-event time (manual time).
#include <cstring>
#include <vector>

#include "bench_util.hpp"
#include "core/tensor.hpp"
#include "kernels/fill.hpp"

namespace minidl::bench {
namespace {

constexpr std::int64_t kMiB = 1 << 20;

void set_bytes(benchmark::State& state, std::int64_t bytes_per_iteration) {
  state.SetBytesProcessed(state.iterations() * bytes_per_iteration);
  state.counters["MiB"] = static_cast<double>(state.range(0));
}

void host_memcpy(benchmark::State& state) {
  const std::int64_t bytes = state.range(0) * kMiB;
  Tensor src = ones({bytes / 4}), dst = zeros({bytes / 4});
  for (auto _ : state) {
    std::memcpy(dst.raw_data(), src.raw_data(), static_cast<std::size_t>(bytes));
    benchmark::DoNotOptimize(dst.raw_data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2 * bytes);
}

void host_fill(benchmark::State& state) {
  const std::int64_t bytes = state.range(0) * kMiB;
  Tensor t = zeros({bytes / 4});
  float v = 0;
  for (auto _ : state) {
    fill(t, v);
    v += 1;
    benchmark::ClobberMemory();
  }
  set_bytes(state, bytes);
}

#if MINIDL_WITH_CUDA
enum class Kind { H2DPageable, H2DPinned, D2HPageable, D2HPinned, D2D, Fill };

void cuda_transfer(benchmark::State& state, Kind kind) {
  const std::int64_t bytes = state.range(0) * kMiB;
  const Shape shape{bytes / 4};
  Tensor host = ones(shape);
  if (kind == Kind::H2DPinned || kind == Kind::D2HPinned) host = host.pin_memory();
  Tensor dev = ones(shape, Device::cuda());
  Tensor dev2 = zeros(shape, Device::cuda());
  CudaEventTimer timer;
  CudaContext::get(0).synchronize();
  for (auto _ : state) {
    timer.start();
    switch (kind) {
      case Kind::H2DPageable:
      case Kind::H2DPinned:
        dev.copy_from(host);
        break;
      case Kind::D2HPageable:
      case Kind::D2HPinned:
        host.copy_from(dev);
        break;
      case Kind::D2D:
        dev2.copy_from(dev);
        break;
      case Kind::Fill:
        fill(dev, 2.0);
        break;
    }
    state.SetIterationTime(timer.stop());
  }
  set_bytes(state, kind == Kind::D2D ? 2 * bytes : bytes);
}
#endif

void register_all() {
  for (const char* name : {"host/memcpy", "host/fill"}) {
    auto* b = benchmark::RegisterBenchmark(
        name, std::string(name) == "host/memcpy" ? host_memcpy : host_fill);
    b->Arg(1)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
#if MINIDL_WITH_CUDA
  if (!cuda_available()) return;
  const std::pair<const char*, Kind> cases[] = {
      {"cuda/h2d_pageable", Kind::H2DPageable},
      {"cuda/h2d_pinned", Kind::H2DPinned},
      {"cuda/d2h_pageable", Kind::D2HPageable},
      {"cuda/d2h_pinned", Kind::D2HPinned},
      {"cuda/d2d", Kind::D2D},
      {"cuda/fill", Kind::Fill},
  };
  for (const auto& [name, kind] : cases) {
    benchmark::RegisterBenchmark(name, cuda_transfer, kind)
        ->Arg(1)
        ->Arg(64)
        ->Arg(256)
        ->Unit(benchmark::kMillisecond)
        ->UseManualTime();
  }
#endif
}

}  // namespace
}  // namespace minidl::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  minidl::bench::add_device_context();
  minidl::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
