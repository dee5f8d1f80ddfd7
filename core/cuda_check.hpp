// Checking macros for the CUDA runtime, cuBLAS and cuDNN. Internal to minidl's
// CUDA sources (it includes the CUDA headers): each throws minidl::CudaError with
// the call's text, the file and line, and the library's own message.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace minidl::detail {
[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file,
                                   int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                     int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file,
                                    int line);
/// After a kernel launch: throws on a launch error. With MINIDL_CUDA_SYNC_CHECK=1 in
/// the environment it also synchronises, so an asynchronous fault is reported
/// at the kernel that caused it (slow; for debugging).
void check_launch(const char* kernel, const char* file, int line);
}  // namespace minidl::detail

#define MINIDL_CUDA_CHECK(call)                                                      \
  do {                                                                               \
    const cudaError_t minidl_status_ = (call);                                       \
    if (minidl_status_ != cudaSuccess)                                               \
      ::minidl::detail::throw_cuda_error(minidl_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define MINIDL_CUBLAS_CHECK(call)                                                      \
  do {                                                                                 \
    const cublasStatus_t minidl_status_ = (call);                                      \
    if (minidl_status_ != CUBLAS_STATUS_SUCCESS)                                       \
      ::minidl::detail::throw_cublas_error(minidl_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define MINIDL_CUDNN_CHECK(call)                                                      \
  do {                                                                                \
    const cudnnStatus_t minidl_status_ = (call);                                      \
    if (minidl_status_ != CUDNN_STATUS_SUCCESS)                                       \
      ::minidl::detail::throw_cudnn_error(minidl_status_, #call, __FILE__, __LINE__); \
  } while (0)

/// Use right after every kernel launch: MINIDL_CUDA_LAUNCH_CHECK("relu_forward");
#define MINIDL_CUDA_LAUNCH_CHECK(kernel) ::minidl::detail::check_launch(kernel, __FILE__, __LINE__)
