#include "device.hpp"

#include <cstdlib>
#include <mutex>
#include <string>

#include "error.hpp"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    const std::string digits = text.substr(5);
    if (digits.find_first_not_of("0123456789") == std::string::npos && digits.size() <= 4) {
      return Device::cuda(std::stoi(digits));
    }
  }
  throw DeviceError(detail::concat("Device::parse: ", detail::excerpt(text, 64),
                                   " is not a device (expected cpu, cuda or cuda:N)"));
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index_);
}

bool built_with_cuda() { return MINIDL_WITH_CUDA != 0; }

namespace {

bool disabled_by_environment() {
  const char* v = std::getenv("MINIDL_DISABLE_CUDA");
  return v != nullptr && v[0] != '\0' && std::string(v) != "0";
}

struct DeviceQuery {
  int count = 0;
  std::string reason;
};

// The driver is asked once: cudaGetDeviceCount is cheap after the first call, but
// its answer cannot change within a process.
const DeviceQuery& query_devices() {
  static const DeviceQuery query = [] {
    DeviceQuery q;
#if MINIDL_WITH_CUDA
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status == cudaSuccess && count > 0) {
      q.count = count;
    } else {
      // cudaErrorNoDevice, cudaErrorInsufficientDriver (no driver at all) and the
      // rarer driver/runtime mismatches all mean the same here: no usable GPU.
      q.reason = status == cudaSuccess
                     ? std::string("no CUDA device (cudaGetDeviceCount returned 0)")
                     : detail::concat(
                           "no usable CUDA device (cudaGetDeviceCount: ", cudaGetErrorName(status),
                           ": ", cudaGetErrorString(status), ")");
      (void)cudaGetLastError();  // do not leave the error for the next launch check
    }
#else
    q.reason = "minidl was built without CUDA (MINIDL_CUDA=OFF or no toolkit at build time)";
#endif
    return q;
  }();
  return query;
}

}  // namespace

bool cuda_available() { return !disabled_by_environment() && query_devices().count > 0; }

int cuda_device_count() { return cuda_available() ? query_devices().count : 0; }

std::string cuda_unavailable_reason() {
  if (disabled_by_environment())
    return "CUDA is disabled by the environment variable MINIDL_DISABLE_CUDA";
  return query_devices().reason;
}

void check_device(const Device& device) {
  if (device.is_cpu()) return;
  MINIDL_CHECK(cuda_available(), DeviceError, "device ", device,
               " requested but CUDA is unavailable: ", cuda_unavailable_reason());
  MINIDL_CHECK(device.index() >= 0 && device.index() < cuda_device_count(), DeviceError, "device ",
               device, " does not exist (", cuda_device_count(), " CUDA device(s) present)");
}

}  // namespace minidl
