// Internal to minidl's sources (not installed): routing an op to its CUDA
// implementation. In a CPU-only build a CUDA tensor cannot exist (allocation
// throws DeviceError first), so the CUDA branch becomes that same error.
#pragma once

#include "device.hpp"
#include "error.hpp"

#if MINIDL_WITH_CUDA
#define MINIDL_CUDA_CALL(call) call
#else
#define MINIDL_CUDA_CALL(call)                          \
  throw ::minidl::DeviceError(::minidl::detail::concat( \
      __func__, ": no CUDA backend: ", ::minidl::cuda_unavailable_reason()))
#endif
