#include "cuda_check.hpp"

#include <cstdlib>
#include <string>

#include "error.hpp"

namespace minidl::detail {

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so the next check is not blamed for it
  throw CudaError(concat("CUDA error ", cudaGetErrorName(status), " (", cudaGetErrorString(status),
                         ") in ", call, " at ", file, ":", line));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw CudaError(concat("cuBLAS error ", cublasGetStatusName(status), " (",
                         cublasGetStatusString(status), ") in ", call, " at ", file, ":", line));
}

void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  throw CudaError(concat("cuDNN error ", cudnnGetErrorString(status), " in ", call, " at ", file,
                         ":", line, detail[0] ? std::string(": ") + detail : std::string()));
}

void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw CudaError(concat("CUDA kernel launch failed: ", kernel, ": ", cudaGetErrorName(status),
                           " (", cudaGetErrorString(status), ") at ", file, ":", line));
  }
  static const bool sync_check = [] {
    const char* v = std::getenv("MINIDL_CUDA_SYNC_CHECK");
    return v != nullptr && v[0] != '\0' && std::string(v) != "0";
  }();
  if (sync_check) {
    const cudaError_t s = cudaDeviceSynchronize();
    if (s != cudaSuccess) {
      throw CudaError(concat("CUDA kernel ", kernel, " failed while running: ", cudaGetErrorName(s),
                             " (", cudaGetErrorString(s), ") at ", file, ":", line));
    }
  }
}

}  // namespace minidl::detail
