#include "storage.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "context.hpp"
#include "error.hpp"

namespace minidl {

namespace {
constexpr std::size_t kHostAlignment = 64;  // a cache line; enough for any SIMD load
}

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, Device device, bool pinned,
                                           int pin_device) {
  check_device(device);
  void* data = nullptr;
  CudaContext* context = nullptr;
  if (device.is_cuda()) {
    MINIDL_CHECK(!pinned, ValueError,
                 "Storage::allocate: pinned memory is host memory; asked for it on ", device);
    context = &CudaContext::get(device.index());
    data = context->allocate(nbytes);
  } else if (pinned) {
    // Page-locking is done by the CUDA driver, through a device's context.
    context = &CudaContext::get(pin_device >= 0 ? pin_device : CudaContext::current_device());
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

void Storage::record_use(int device) {
  if (!pinned_) return;
  std::lock_guard<std::mutex> lock(uses_mutex_);
  auto it = std::find_if(uses_.begin(), uses_.end(), [device](const auto& u) { return u.first == device; });
  if (it == uses_.end()) it = uses_.insert(uses_.end(), {device, nullptr});
  // One event per device: re-recorded after the latest copy, which its stream
  // runs after the earlier ones.
  CudaContext::get(device).record_event(it->second);
  has_uses_.store(true, std::memory_order_release);
}

void Storage::wait_for_uses() {
  if (!pinned_ || !has_uses_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(uses_mutex_);
  for (const auto& use : uses_) wait_event(use.second);
  has_uses_.store(false, std::memory_order_release);
}

Storage::~Storage() {
  for (const auto& use : uses_) {
    // Never throws: a failed copy was (or will be) reported by the stream's owner.
    try {
      wait_event(use.second);
    } catch (...) {
    }
    destroy_event(use.second);
  }
  if (data_ == nullptr) return;
  if (device_.is_cuda()) {
    context_->deallocate(data_);
  } else if (pinned_) {
    context_->deallocate_pinned(data_);  // after every device's copies from it (above)
  } else {
    std::free(data_);
  }
}

}  // namespace minidl
