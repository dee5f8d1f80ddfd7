// What minidl sees: version, backends, devices, library versions.
#pragma once

#include <string>
#include <vector>

#include "context.hpp"

namespace minidl {

struct RuntimeInfo {
  std::string version;  // minidl's own
  bool built_with_cuda = false;
  bool cuda_available = false;
  std::string cuda_unavailable_reason;
  std::string cuda_runtime_version;  // "13.0", or "" without CUDA
  std::string cuda_driver_version;   // supported by the installed driver, or ""
  std::string cublas_version;
  std::string cudnn_version;
  std::string openblas_config;  // openblas_get_config()
  int openblas_threads = 0;
  int openmp_threads = 0;
  std::vector<CudaDeviceInfo> devices;
};

/// Gathers everything above. Never throws for a missing GPU or driver.
RuntimeInfo runtime_info();

/// Sets the number of CPU threads minidl's loops (core/parallel.hpp's pool), OpenBLAS and
/// oneDNN use, the calling thread included (n >= 1; ValueError otherwise). Call it from
/// the thread that runs the training (OpenBLAS and oneDNN follow that thread's OpenMP
/// count), not from inside a parallel loop.
void set_cpu_threads(int n);

/// The version string of this library ("0.1.0").
std::string version();

}  // namespace minidl
