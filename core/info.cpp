#include "info.hpp"

#include <cblas.h>
#include <omp.h>

#include "device.hpp"
#include "error.hpp"
#include "parallel.hpp"

#if MINIDL_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

namespace minidl {

std::string version() { return MINIDL_VERSION_STRING; }

void set_cpu_threads(int n) {
  MINIDL_CHECK(n >= 1, ValueError, "set_cpu_threads: need at least one thread, got ", n);
  parallel_detail::set_threads(n);
  openblas_set_num_threads(n);  // (the OpenMP build also sets the OpenMP count)
  omp_set_num_threads(library_threads());
}

namespace {
#if MINIDL_WITH_CUDA
// CUDA encodes versions as 1000 * major + 10 * minor.
std::string cuda_version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
#endif
}  // namespace

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.version = version();
  info.built_with_cuda = built_with_cuda();
  info.cuda_available = cuda_available();
  info.cuda_unavailable_reason = cuda_unavailable_reason();
  info.openblas_config = openblas_get_config();
  info.openblas_threads = openblas_get_num_threads();
  info.openmp_threads = omp_get_max_threads();
#if MINIDL_WITH_CUDA
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) info.cuda_runtime_version = cuda_version_string(v);
  if (cudaDriverGetVersion(&v) == cudaSuccess && v > 0)
    info.cuda_driver_version = cuda_version_string(v);
  (void)cudaGetLastError();
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS) {
    info.cublas_version =
        std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  }
  // cuDNN 9 encodes its version as 10000 * major + 100 * minor + patch.
  const std::size_t cudnn = cudnnGetVersion();
  info.cudnn_version = std::to_string(cudnn / 10000) + "." + std::to_string((cudnn % 10000) / 100) +
                       "." + std::to_string(cudnn % 100);
  for (int i = 0; i < cuda_device_count(); ++i) info.devices.push_back(CudaContext::get(i).info());
#endif
  return info;
}

}  // namespace minidl
