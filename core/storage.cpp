#include "storage.hpp"

#include <cstdlib>
#include <new>

#include "context.hpp"
#include "error.hpp"

namespace minidl {

namespace {
constexpr std::size_t kHostAlignment = 64;  // a cache line; enough for any SIMD load
}

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, Device device, bool pinned) {
  check_device(device);
  void* data = nullptr;
  CudaContext* context = nullptr;
  if (device.is_cuda()) {
    MINIDL_CHECK(!pinned, ValueError,
                 "Storage::allocate: pinned memory is host memory; asked for it on ", device);
    context = &CudaContext::get(device.index());
    data = context->allocate(nbytes);
  } else if (pinned) {
    check_device(Device::cuda(0));  // page-locking is done by the CUDA driver
    context = &CudaContext::get(0);
    data = context->allocate_pinned(nbytes);
  } else if (nbytes > 0) {
    const std::size_t rounded = (nbytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    data = std::aligned_alloc(kHostAlignment, rounded);
    if (data == nullptr) {
      throw Error(detail::concat("out of host memory: cannot allocate ", nbytes, " bytes"));
    }
  }
  return std::shared_ptr<Storage>(new Storage(data, nbytes, device, pinned, context));
}

Storage::~Storage() {
  if (data_ == nullptr) return;
  if (device_.is_cuda()) {
    context_->deallocate(data_);
  } else if (pinned_) {
    context_->deallocate_pinned(data_);
  } else {
    std::free(data_);
  }
}

}  // namespace minidl
