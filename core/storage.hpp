// Storage: one owned, untyped allocation on a device. Tensors share it through
// std::shared_ptr, so copying a Tensor is cheap and the memory lives as long as
// the last tensor that views it.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "device.hpp"

struct CUevent_st;  // cudaEvent_t == CUevent_st*

namespace minidl {

class CudaContext;

class Storage {
 public:
  /// Allocates nbytes on `device` (uninitialised). CPU memory is 64-byte aligned;
  /// `pinned` CPU memory is page-locked (cudaHostAlloc) so host<->device copies can
  /// be asynchronous, and requires a GPU: CUDA device `pin_device`'s context allocates
  /// it (-1: the calling thread's current device; copies to and from any device can use
  /// it), so a process on GPU 3 does not start a context on GPU 0 for it. CUDA memory
  /// comes from the device's stream-ordered pool (cudaMallocAsync on the context stream).
  /// Throws DeviceError (unusable device) or OutOfMemoryError.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device, bool pinned = false,
                                           int pin_device = -1);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }

  /// Pinned memory only (a no-op otherwise): an asynchronous copy out of this
  /// memory was just queued on CUDA device `device`'s stream; records an event
  /// after it there. Tensor::copy_from / to() call it.
  void record_use(int device);
  /// Pinned memory only (a no-op otherwise): blocks until every copy recorded by
  /// record_use, on every device, has read the memory. The host writes that go
  /// through Tensor (data(), fill_, copy_from into it) and the deallocation call it,
  /// so refilling a pinned tensor never races with the DMA that reads it.
  void wait_for_uses();
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  Storage(void* data, std::size_t nbytes, Device device, bool pinned, CudaContext* context)
      : data_(data), nbytes_(nbytes), device_(device), pinned_(pinned), context_(context) {}

  void* data_;
  std::size_t nbytes_;
  Device device_;
  bool pinned_;
  CudaContext* context_;  // frees CUDA and pinned memory; contexts outlive all storage
  // Pinned memory: per device that copied from it, an event after its last copy.
  std::mutex uses_mutex_;
  std::vector<std::pair<int, CUevent_st*>> uses_;
  std::atomic<bool> has_uses_{false};  // fast path: nothing recorded since the last wait
};

}  // namespace minidl
