// DeviceScope: makes a CUDA device current for a scope and restores the caller's
// device after. Internal to minidl's CUDA sources (it includes the CUDA runtime).
#pragma once

#include <cuda_runtime.h>

#include "cuda_check.hpp"

namespace minidl::detail {

/// For code that may run on a thread whose current device is another one.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    MINIDL_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) MINIDL_CUDA_CHECK(cudaSetDevice(device));
    device_ = device;
  }
  ~DeviceScope() {
    if (previous_ != device_) (void)cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  int device_ = 0;
};

}  // namespace minidl::detail
