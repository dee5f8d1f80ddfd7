// The per-device CUDA context: one stream, a cuBLAS handle and a cuDNN handle,
// created lazily; the device's stream-ordered memory pool; pinned staging buffers
// for host<->device copies. All minidl work for a device goes on its stream, so
// work is ordered without synchronisation; only reading on the host synchronises.
//
// This header does not include CUDA's: the handle types are forward-declared the
// way the CUDA headers declare them, so a cudaStream_t converts without casts.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "deferred_check.hpp"

struct CUstream_st;    // cudaStream_t == CUstream_st*
struct cublasContext;  // cublasHandle_t == cublasContext*
struct cudnnContext;   // cudnnHandle_t == cudnnContext*
struct CUevent_st;     // cudaEvent_t == CUevent_st*

namespace minidl {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  std::size_t total_memory = 0;
  std::size_t l2_cache_bytes = 0;
};

struct CudaMemoryInfo {
  std::size_t device_free = 0;  // cudaMemGetInfo
  std::size_t device_total = 0;
  std::size_t pool_reserved =
      0;                      // held by the stream-ordered pool (cudaMemPoolAttrReservedMemCurrent)
  std::size_t pool_used = 0;  // handed out to tensors (cudaMemPoolAttrUsedMemCurrent)

  /// What one more allocation from the pool can get: the driver's free memory and what the
  /// pool holds unused (it keeps freed blocks for reuse, so device_free alone shrinks as a
  /// run goes on and undercounts by everything it has freed).
  std::size_t available() const {
    return device_free + (pool_reserved > pool_used ? pool_reserved - pool_used : 0);
  }
};

class CudaContext {
 public:
  /// The context of CUDA device `index`, created on first use (stream and pool
  /// settings; the cuBLAS and cuDNN handles wait for their first use).
  /// Throws DeviceError when CUDA is unavailable or `index` does not exist.
  /// Contexts live until the process exits.
  static CudaContext& get(int index = 0);
  /// The calling thread's current CUDA device (cudaGetDevice: 0 on a thread that never set
  /// one). Throws DeviceError when CUDA is unavailable.
  static int current_device();

  int device() const;
  const CudaDeviceInfo& info() const;

  /// The device's stream (non-blocking with respect to the legacy default stream).
  CUstream_st* stream();
  /// cuBLAS handle bound to stream(); created on first call.
  cublasContext* cublas();
  /// cuDNN handle bound to stream(); created on first call.
  cudnnContext* cudnn();

  /// Waits for all work queued on the stream; throws CudaError if any of it failed,
  /// then raises the pending deferred checks (check_deferred).
  void synchronize();

  /// A device word (UINT64_MAX, stream-ordered) for a deferred check
  /// (core/deferred_check.hpp): kernels queued after this call atomicMin their
  /// packed findings into it, and the ValueError built by `describe` is raised
  /// by the next check_deferred(). Does not synchronise, except when
  /// DeferredChecks::kCapacity checks are already pending (then it resolves them
  /// first). The word is the caller's from this call until its kernel is queued: a
  /// check_deferred() on another thread in between (item(), to_vector(), synchronize()
  /// on the same device) would resolve and reuse it. So one host thread at a time queues
  /// checked ops (the losses) on a device, as training does.
  unsigned long long* defer_check(detail::DeferredChecks::Describe describe);
  /// Reads the pending deferred checks' words (waits for the stream, only when
  /// any is pending) and throws the first finding's ValueError. Called by
  /// synchronize() and the device-to-host copies (item(), to_vector(), to(cpu)).
  void check_deferred();

  /// Device memory, stream-ordered: usable by work queued on stream() after this
  /// call. The pool keeps freed memory (release threshold = unlimited) so steady
  /// state steps do not hit cudaMalloc. 0 bytes gives nullptr.
  /// Throws OutOfMemoryError with the bytes asked for and free.
  void* allocate(std::size_t bytes);
  /// Returns memory to the pool, ordered after the work already on stream(). Never throws.
  void deallocate(void* ptr) noexcept;

  /// Page-locked host memory (cudaHostAlloc) and its release. The release does not
  /// wait for anything: Storage waits first for every copy queued from the memory
  /// on any device (Storage::wait_for_uses).
  void* allocate_pinned(std::size_t bytes);
  void deallocate_pinned(void* ptr) noexcept;

  /// Records `event` on the stream now (creating it on first use; the caller owns
  /// it: wait_event / destroy_event): it completes when the work queued so far has.
  void record_event(CUevent_st*& event);

  /// Host -> device through double-buffered pinned staging: returns once `src` has
  /// been staged (it may be reused at once); the transfer itself stays queued.
  void copy_host_to_device(void* dst, const void* src, std::size_t bytes);
  /// Device -> host through pinned staging; returns when `dst` holds the data
  /// (synchronises with the stream), then raises pending deferred checks.
  void copy_device_to_host(void* dst, const void* src, std::size_t bytes);
  /// The same without check_deferred() (for callers that must not throw a
  /// deferred finding, e.g. while reading something else back).
  void copy_device_to_host_unchecked(void* dst, const void* src, std::size_t bytes);
  /// Device -> pinned host without staging; returns when `dst` holds the data.
  void copy_device_to_pinned(void* dst, const void* src, std::size_t bytes);
  /// Pinned host -> device without staging, asynchronous: `src` must stay
  /// unchanged until the stream reaches the copy.
  void copy_pinned_to_device(void* dst, const void* src, std::size_t bytes);
  /// Device -> device on this device's stream, asynchronous.
  void copy_device_to_device(void* dst, const void* src, std::size_t bytes);

  CudaMemoryInfo memory_info();

  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;
  ~CudaContext();

  struct Impl;

 private:
  explicit CudaContext(int index);
  std::unique_ptr<Impl> impl_;
};

/// Blocks until `event` (recorded by CudaContext::record_event) has completed;
/// throws CudaError if the work before it failed. A null event returns at once.
void wait_event(CUevent_st* event);
/// Destroys an event (null is fine); never throws. A pending event's resources go
/// once its work is done.
void destroy_event(CUevent_st* event) noexcept;

/// Copies `bytes` from device `src_device` to device `dst_device` (peer copy when
/// they differ), ordered after earlier work on both devices' streams.
void copy_between_devices(void* dst, int dst_device, const void* src, int src_device,
                          std::size_t bytes);

}  // namespace minidl
