// Storage: one owned, untyped allocation on a device. Tensors share it through
// std::shared_ptr, so copying a Tensor is cheap and the memory lives as long as
// the last tensor that views it.
#pragma once

#include <cstddef>
#include <memory>

#include "device.hpp"

namespace minidl {

class CudaContext;

class Storage {
 public:
  /// Allocates nbytes on `device` (uninitialised). CPU memory is 64-byte aligned;
  /// `pinned` CPU memory is page-locked (cudaHostAlloc) so host<->device copies can
  /// be asynchronous, and requires a GPU. CUDA memory comes from the device's
  /// stream-ordered pool (cudaMallocAsync on the context stream).
  /// Throws DeviceError (unusable device) or OutOfMemoryError.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device, bool pinned = false);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
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
};

}  // namespace minidl
