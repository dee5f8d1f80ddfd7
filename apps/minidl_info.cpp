// minidl-info: what minidl sees on this machine (backends, GPUs, library
// versions), then a tensor round trip CPU -> GPU -> CPU where a GPU exists.
// This is the README's main job until the training program exists.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "minidl.hpp"

namespace {

int run() {
  using namespace minidl;
  const RuntimeInfo info = runtime_info();
  std::cout << "minidl " << info.version << "\n"
            << "  CPU backend   : OpenBLAS (" << info.openblas_config << "), "
            << info.openblas_threads << " BLAS thread(s), " << info.openmp_threads
            << " OpenMP thread(s)\n"
            << "  CPU GEMM      : " << cpu_gemm_library_name(cpu_gemm_library())
            << (cpu::onednn_available()
                    ? " (oneDNN " + cpu::onednn_version() + "'s sgemm" +
                          // Auto's rule itself: on this CPU, are wide dW products on OpenBLAS?
                          (cpu_gemm_auto_library(true, false, 128, 128, 128) ==
                                   CpuGemmLibrary::OpenBlas
                               ? ", OpenBLAS for dW of layers with 128+ outputs)"
                               : std::string(")"))
                    : std::string(" (OpenBLAS; built without oneDNN)"))
            << "\n";
  std::cout << "  CPU conv      : auto ("
            << (cpu::onednn_available()
                    ? "oneDNN " + cpu::onednn_version() + "; layer graphs keep its operands in " +
                          layout_name(cpu::onednn_blocked_layout()) + ")"
                    : std::string("im2col + OpenBLAS; built without oneDNN)"))
            << "\n"
            << "  CUDA backend  : " << (info.built_with_cuda ? "built" : "not built");
  if (info.built_with_cuda) {
    std::cout << " (runtime " << info.cuda_runtime_version << ", driver "
              << (info.cuda_driver_version.empty() ? "none" : info.cuda_driver_version)
              << ", cuBLAS " << info.cublas_version << ", cuDNN " << info.cudnn_version << ")";
    const std::string archs = built_cuda_architectures();
    std::cout << "\n  CUDA archs    : " << archs
              << (detail::cuda_architectures_listed(archs)
                      ? " (machine code for -real, PTX for -virtual, both for a plain number)"
                      : " (CMake's word, left to the compiler: the driver finds out at the "
                        "first kernel whether there is code for the GPU)");
  }
  std::cout << "\n  Deterministic : " << (deterministic() ? "on" : "off")
            << " (MINIDL_DETERMINISTIC)";
  std::cout << "\n  GPU available : " << (info.cuda_available ? "yes" : "no");
  if (!info.cuda_available) std::cout << " (" << info.cuda_unavailable_reason << ")";
  std::cout << "\n";
  for (const CudaDeviceInfo& d : info.devices) {
    std::printf("  cuda:%d        : %s, compute capability %d.%d, %d SMs, %.1f GiB, L2 %.0f MiB\n",
                d.index, d.name.c_str(), d.compute_major, d.compute_minor, d.multiprocessors,
                static_cast<double>(d.total_memory) / (1u << 30),
                static_cast<double>(d.l2_cache_bytes) / (1u << 20));
  }

  // Round trip: random values made on the CPU, sent to each device and back.
  Generator gen(2026);
  const Tensor host = uniform({4, 1000}, -1.0f, 1.0f, gen);
  const std::vector<float> expected = host.to_vector<float>();
  std::cout << "\nround trip of a " << host.shape() << " float32 tensor:\n";
  std::cout << "  cpu -> cpu (clone): "
            << (host.clone().to_vector<float>() == expected ? "ok" : "MISMATCH") << "\n";
  bool ok = true;
  for (int i = 0; i < cuda_device_count(); ++i) {
    const Tensor back = host.to(Device::cuda(i)).to(Device::cpu());
    const bool same = back.to_vector<float>() == expected;
    ok = ok && same;
    std::cout << "  cpu -> cuda:" << i << " -> cpu: " << (same ? "ok" : "MISMATCH") << "\n";
    // The same seed on the GPU gives the same numbers.
    Generator gen_gpu(2026);
    const bool rng_same =
        uniform({4, 1000}, -1.0f, 1.0f, gen_gpu, Device::cuda(i)).to_vector<float>() == expected;
    ok = ok && rng_same;
    std::cout << "  Philox on cuda:" << i << " == Philox on cpu: " << (rng_same ? "ok" : "MISMATCH")
              << "\n";
  }
  if (cuda_device_count() == 0) std::cout << "  (no GPU: CPU only)\n";
  return ok ? 0 : 1;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::cerr << "minidl-info: " << e.what() << "\n";
    return 1;
  }
}
