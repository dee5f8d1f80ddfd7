#include "context.hpp"

#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "cuda_arch.hpp"
#include "device.hpp"
#include "error.hpp"

#if MINIDL_WITH_CUDA
#include "cuda_check.hpp"
#endif

namespace minidl {

#if MINIDL_WITH_CUDA

namespace {

// Makes `device` current for the scope and restores the caller's device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    MINIDL_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) MINIDL_CUDA_CHECK(cudaSetDevice(device));
    device_ = device;
  }
  ~DeviceGuard() {
    if (previous_ != device_) (void)cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  int device_ = 0;
};

// Two pinned buffers of this size: while the DMA engine moves one, the CPU
// fills (or drains) the other.
constexpr std::size_t kStagingBytes = std::size_t{8} << 20;

}  // namespace

struct CudaContext::Impl {
  int device = 0;
  CudaDeviceInfo info;
  cudaStream_t stream = nullptr;
  cudaMemPool_t pool = nullptr;
  std::mutex handle_mutex;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;

  struct StagingSlot {
    void* host = nullptr;
    cudaEvent_t done = nullptr;  // recorded after the last copy that used `host`
  };
  std::mutex staging_mutex;
  std::array<StagingSlot, 2> staging{};

  std::mutex deferred_mutex;
  detail::DeferredChecks deferred;
  unsigned long long* deferred_words = nullptr;  // DeferredChecks::kCapacity, lazily

  // Both slots, or none: the buffers and events are built aside and kept only when all
  // four calls succeeded (a first slot kept alone made every later copy skip the setup and
  // use the second's null buffer and event).
  void ensure_staging() {
    if (staging[1].done != nullptr) return;
    std::array<StagingSlot, 2> made{};
    const auto undo = [&made] {
      for (StagingSlot& slot : made) {
        if (slot.host != nullptr) (void)cudaFreeHost(slot.host);
        if (slot.done != nullptr) (void)cudaEventDestroy(slot.done);
      }
    };
    for (StagingSlot& slot : made) {
      cudaError_t status = cudaHostAlloc(&slot.host, kStagingBytes, cudaHostAllocDefault);
      if (status != cudaSuccess) slot.host = nullptr;
      if (status == cudaSuccess) {
        status = cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming);
        if (status != cudaSuccess) slot.done = nullptr;
      }
      if (status != cudaSuccess) {
        undo();
        MINIDL_CUDA_CHECK(status);
      }
    }
    staging = made;
  }
};

CudaContext::CudaContext(int index) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.device = index;
  DeviceGuard guard(index);
  cudaDeviceProp props{};
  MINIDL_CUDA_CHECK(cudaGetDeviceProperties(&props, index));
  m.info.index = index;
  m.info.name = props.name;
  m.info.compute_major = props.major;
  m.info.compute_minor = props.minor;
  m.info.multiprocessors = props.multiProcessorCount;
  m.info.total_memory = props.totalGlobalMem;
  m.info.l2_cache_bytes = static_cast<std::size_t>(props.l2CacheSize);
  // A device this build has no code for would fail at its first launch with "no
  // kernel image": say so now, naming the device and what the build has.
  detail::check_cuda_arch(props.name, props.major, props.minor, built_cuda_architectures());
  MINIDL_CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  // Keep freed blocks in the pool instead of returning them to the driver at
  // every synchronisation: steady-state training steps then never call cudaMalloc.
  MINIDL_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&m.pool, index));
  std::uint64_t threshold = std::numeric_limits<std::uint64_t>::max();
  MINIDL_CUDA_CHECK(cudaMemPoolSetAttribute(m.pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

// Contexts are never destroyed (see get()), so this only runs if that changes.
CudaContext::~CudaContext() = default;

int CudaContext::current_device() {
  check_device(Device::cuda(0));
  int device = 0;
  MINIDL_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

CudaContext& CudaContext::get(int index) {
  check_device(Device::cuda(index));
  // One slot per device, created under a lock and then leaked on purpose: tensors
  // held in static objects may be freed after main() returns, and their memory
  // must still find a live context (and the CUDA runtime tolerates that order).
  static std::mutex mutex;
  static std::vector<CudaContext*> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  if (contexts.empty()) contexts.resize(static_cast<std::size_t>(cuda_device_count()), nullptr);
  CudaContext*& slot = contexts[static_cast<std::size_t>(index)];
  if (slot == nullptr) slot = new CudaContext(index);
  return *slot;
}

int CudaContext::device() const { return impl_->device; }
const CudaDeviceInfo& CudaContext::info() const { return impl_->info; }
CUstream_st* CudaContext::stream() { return impl_->stream; }

cublasContext* CudaContext::cublas() {
  std::lock_guard<std::mutex> lock(impl_->handle_mutex);
  if (impl_->cublas == nullptr) {
    DeviceGuard guard(impl_->device);
    MINIDL_CUBLAS_CHECK(cublasCreate(&impl_->cublas));
    MINIDL_CUBLAS_CHECK(cublasSetStream(impl_->cublas, impl_->stream));
  }
  return impl_->cublas;
}

cudnnContext* CudaContext::cudnn() {
  std::lock_guard<std::mutex> lock(impl_->handle_mutex);
  if (impl_->cudnn == nullptr) {
    DeviceGuard guard(impl_->device);
    MINIDL_CUDNN_CHECK(cudnnCreate(&impl_->cudnn));
    MINIDL_CUDNN_CHECK(cudnnSetStream(impl_->cudnn, impl_->stream));
  }
  return impl_->cudnn;
}

void CudaContext::synchronize() {
  {
    DeviceGuard guard(impl_->device);
    MINIDL_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  }
  check_deferred();
}

unsigned long long* CudaContext::defer_check(detail::DeferredChecks::Describe describe) {
  constexpr std::size_t kWords = detail::DeferredChecks::kCapacity;
  {
    std::lock_guard<std::mutex> lock(impl_->deferred_mutex);
    if (!impl_->deferred.full()) {
      if (impl_->deferred_words == nullptr) {
        DeviceGuard guard(impl_->device);
        // Never freed, like the context; reset after each read, in stream order.
        MINIDL_CUDA_CHECK(cudaMalloc(&impl_->deferred_words, kWords * sizeof(unsigned long long)));
        MINIDL_CUDA_CHECK(cudaMemsetAsync(impl_->deferred_words, 0xff,
                                          kWords * sizeof(unsigned long long), impl_->stream));
      }
      return impl_->deferred_words + impl_->deferred.add(std::move(describe));
    }
  }
  check_deferred();  // every word is pending: resolve them (this waits), then take one
  return defer_check(std::move(describe));
}

void CudaContext::check_deferred() {
  std::lock_guard<std::mutex> lock(impl_->deferred_mutex);
  if (impl_->deferred.empty()) return;
  const std::size_t n = impl_->deferred.size();
  std::array<std::uint64_t, detail::DeferredChecks::kCapacity> words{};
  {
    DeviceGuard guard(impl_->device);
    MINIDL_CUDA_CHECK(cudaMemcpyAsync(words.data(), impl_->deferred_words,
                                      n * sizeof(unsigned long long), cudaMemcpyDeviceToHost,
                                      impl_->stream));
    MINIDL_CUDA_CHECK(cudaMemsetAsync(impl_->deferred_words, 0xff, n * sizeof(unsigned long long),
                                      impl_->stream));
    MINIDL_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  }
  impl_->deferred.resolve(words.data());  // clears the list; throws the first finding
}

void* CudaContext::allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  DeviceGuard guard(impl_->device);
  void* ptr = nullptr;
  cudaError_t status = cudaMallocAsync(&ptr, bytes, impl_->stream);
  if (status == cudaErrorMemoryAllocation) {
    // The pool may hold freed blocks of the wrong sizes: give them back and retry once.
    (void)cudaGetLastError();
    MINIDL_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
    MINIDL_CUDA_CHECK(cudaMemPoolTrimTo(impl_->pool, 0));
    status = cudaMallocAsync(&ptr, bytes, impl_->stream);
  }
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    std::size_t free_bytes = 0, total_bytes = 0;
    (void)cudaMemGetInfo(&free_bytes, &total_bytes);
    throw OutOfMemoryError(
        detail::concat("CUDA out of memory on cuda:", impl_->device, " (", impl_->info.name,
                       "): asked for ", bytes, " bytes (", static_cast<double>(bytes) / (1 << 20),
                       " MiB); ", free_bytes, " bytes (",
                       static_cast<double>(free_bytes) / (1 << 20), " MiB) free of ", total_bytes),
        bytes, free_bytes, total_bytes);
  }
  MINIDL_CUDA_CHECK(status);
  return ptr;
}

void CudaContext::deallocate(void* ptr) noexcept {
  if (ptr == nullptr) return;
  int previous = 0;
  (void)cudaGetDevice(&previous);
  if (previous != impl_->device) (void)cudaSetDevice(impl_->device);
  // Errors here are only possible at process teardown (the runtime already
  // unloaded) or after an earlier sticky fault that has been reported already.
  if (cudaFreeAsync(ptr, impl_->stream) != cudaSuccess) (void)cudaGetLastError();
  if (previous != impl_->device) (void)cudaSetDevice(previous);
}

void* CudaContext::allocate_pinned(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  DeviceGuard guard(impl_->device);
  void* ptr = nullptr;
  const cudaError_t status = cudaHostAlloc(&ptr, bytes, cudaHostAllocDefault);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw OutOfMemoryError(
        detail::concat("cannot allocate ", bytes, " bytes of pinned host memory"), bytes, 0, 0);
  }
  MINIDL_CUDA_CHECK(status);
  return ptr;
}

void CudaContext::deallocate_pinned(void* ptr) noexcept {
  if (ptr == nullptr) return;
  // The copies that read this buffer (on any device's stream) have been waited for
  // by its Storage (wait_for_uses); cudaFreeHost does not wait for them itself.
  if (cudaFreeHost(ptr) != cudaSuccess) (void)cudaGetLastError();
}

void CudaContext::record_event(CUevent_st*& event) {
  DeviceGuard guard(impl_->device);
  if (event == nullptr) MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  MINIDL_CUDA_CHECK(cudaEventRecord(event, impl_->stream));
}

void wait_event(CUevent_st* event) {
  if (event == nullptr) return;
  MINIDL_CUDA_CHECK(cudaEventSynchronize(event));
}

void destroy_event(CUevent_st* event) noexcept {
  if (event != nullptr && cudaEventDestroy(event) != cudaSuccess) (void)cudaGetLastError();
}

void CudaContext::copy_host_to_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(impl_->device);
  std::lock_guard<std::mutex> lock(impl_->staging_mutex);
  impl_->ensure_staging();
  auto* out = static_cast<char*>(dst);
  const auto* in = static_cast<const char*>(src);
  std::size_t k = 0;
  for (std::size_t offset = 0; offset < bytes; offset += kStagingBytes, ++k) {
    const std::size_t n = std::min(kStagingBytes, bytes - offset);
    Impl::StagingSlot& slot = impl_->staging[k % 2];
    MINIDL_CUDA_CHECK(cudaEventSynchronize(slot.done));  // the slot's previous copy has left it
    std::memcpy(slot.host, in + offset, n);
    MINIDL_CUDA_CHECK(
        cudaMemcpyAsync(out + offset, slot.host, n, cudaMemcpyHostToDevice, impl_->stream));
    MINIDL_CUDA_CHECK(cudaEventRecord(slot.done, impl_->stream));
  }
}

void CudaContext::copy_device_to_host_unchecked(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(impl_->device);
  std::lock_guard<std::mutex> lock(impl_->staging_mutex);
  impl_->ensure_staging();
  auto* out = static_cast<char*>(dst);
  const auto* in = static_cast<const char*>(src);
  const std::size_t chunks = (bytes + kStagingBytes - 1) / kStagingBytes;
  // Chunk k goes into slot k % 2; while it is in flight the CPU drains chunk k - 1.
  auto drain = [&](std::size_t k) {
    Impl::StagingSlot& slot = impl_->staging[k % 2];
    const std::size_t offset = k * kStagingBytes;
    MINIDL_CUDA_CHECK(cudaEventSynchronize(slot.done));
    std::memcpy(out + offset, slot.host, std::min(kStagingBytes, bytes - offset));
  };
  for (std::size_t k = 0; k < chunks; ++k) {
    Impl::StagingSlot& slot = impl_->staging[k % 2];
    const std::size_t offset = k * kStagingBytes;
    MINIDL_CUDA_CHECK(cudaMemcpyAsync(slot.host, in + offset,
                                      std::min(kStagingBytes, bytes - offset),
                                      cudaMemcpyDeviceToHost, impl_->stream));
    MINIDL_CUDA_CHECK(cudaEventRecord(slot.done, impl_->stream));
    if (k > 0) drain(k - 1);
  }
  drain(chunks - 1);
}

void CudaContext::copy_device_to_host(void* dst, const void* src, std::size_t bytes) {
  copy_device_to_host_unchecked(dst, src, bytes);
  check_deferred();  // the stream has drained up to the copy: the checks are ready too
}

void CudaContext::copy_pinned_to_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(impl_->device);
  MINIDL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, impl_->stream));
}

void CudaContext::copy_device_to_pinned(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(impl_->device);
  MINIDL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, impl_->stream));
  MINIDL_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  check_deferred();
}

void CudaContext::copy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(impl_->device);
  MINIDL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, impl_->stream));
}

CudaMemoryInfo CudaContext::memory_info() {
  DeviceGuard guard(impl_->device);
  CudaMemoryInfo m;
  MINIDL_CUDA_CHECK(cudaMemGetInfo(&m.device_free, &m.device_total));
  std::uint64_t value = 0;
  MINIDL_CUDA_CHECK(
      cudaMemPoolGetAttribute(impl_->pool, cudaMemPoolAttrReservedMemCurrent, &value));
  m.pool_reserved = value;
  MINIDL_CUDA_CHECK(cudaMemPoolGetAttribute(impl_->pool, cudaMemPoolAttrUsedMemCurrent, &value));
  m.pool_used = value;
  return m;
}

void copy_between_devices(void* dst, int dst_device, const void* src, int src_device,
                          std::size_t bytes) {
  if (bytes == 0) return;
  CudaContext& dst_ctx = CudaContext::get(dst_device);
  if (dst_device == src_device) {
    dst_ctx.copy_device_to_device(dst, src, bytes);
    return;
  }
  CudaContext& src_ctx = CudaContext::get(src_device);
  // dst's stream waits for src's pending writes; src's stream then waits for the
  // copy, so src's memory is not freed (stream-ordered) while it is being read.
  cudaEvent_t ready = nullptr, copied = nullptr;
  {
    DeviceGuard guard(src_device);
    MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    MINIDL_CUDA_CHECK(cudaEventRecord(ready, src_ctx.stream()));
  }
  {
    DeviceGuard guard(dst_device);
    MINIDL_CUDA_CHECK(cudaStreamWaitEvent(dst_ctx.stream(), ready, 0));
    MINIDL_CUDA_CHECK(
        cudaMemcpyPeerAsync(dst, dst_device, src, src_device, bytes, dst_ctx.stream()));
    MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
    MINIDL_CUDA_CHECK(cudaEventRecord(copied, dst_ctx.stream()));
  }
  {
    DeviceGuard guard(src_device);
    MINIDL_CUDA_CHECK(cudaStreamWaitEvent(src_ctx.stream(), copied, 0));
  }
  // Destroying a recorded event is fine: its resources go once its work is done.
  (void)cudaEventDestroy(ready);
  (void)cudaEventDestroy(copied);
}

#else  // CPU-only build: there is no device to return a context for.

struct CudaContext::Impl {};

[[noreturn]] static void no_cuda(const char* what) {
  throw DeviceError(detail::concat(what, ": ", cuda_unavailable_reason()));
}

CudaContext::CudaContext(int) { no_cuda("CudaContext"); }
CudaContext::~CudaContext() = default;
CudaContext& CudaContext::get(int index) {
  check_device(Device::cuda(index));  // throws: CUDA is never available here
  no_cuda("CudaContext::get");
}
int CudaContext::current_device() {
  check_device(Device::cuda(0));  // throws: CUDA is never available here
  no_cuda("CudaContext::current_device");
}
int CudaContext::device() const { return 0; }
const CudaDeviceInfo& CudaContext::info() const { no_cuda("CudaContext::info"); }
CUstream_st* CudaContext::stream() { no_cuda("CudaContext::stream"); }
cublasContext* CudaContext::cublas() { no_cuda("CudaContext::cublas"); }
cudnnContext* CudaContext::cudnn() { no_cuda("CudaContext::cudnn"); }
void CudaContext::synchronize() { no_cuda("CudaContext::synchronize"); }
unsigned long long* CudaContext::defer_check(detail::DeferredChecks::Describe) {
  no_cuda("CudaContext::defer_check");
}
void CudaContext::check_deferred() { no_cuda("CudaContext::check_deferred"); }
void* CudaContext::allocate(std::size_t) { no_cuda("CudaContext::allocate"); }
void CudaContext::deallocate(void*) noexcept {}
void* CudaContext::allocate_pinned(std::size_t) { no_cuda("CudaContext::allocate_pinned"); }
void CudaContext::deallocate_pinned(void*) noexcept {}
void CudaContext::record_event(CUevent_st*&) { no_cuda("CudaContext::record_event"); }
void wait_event(CUevent_st* event) {
  if (event != nullptr) no_cuda("wait_event");
}
void destroy_event(CUevent_st*) noexcept {}
void CudaContext::copy_host_to_device(void*, const void*, std::size_t) {
  no_cuda("copy_host_to_device");
}
void CudaContext::copy_device_to_host(void*, const void*, std::size_t) {
  no_cuda("copy_device_to_host");
}
void CudaContext::copy_device_to_host_unchecked(void*, const void*, std::size_t) {
  no_cuda("copy_device_to_host");
}
void CudaContext::copy_pinned_to_device(void*, const void*, std::size_t) {
  no_cuda("copy_pinned_to_device");
}
void CudaContext::copy_device_to_pinned(void*, const void*, std::size_t) {
  no_cuda("copy_device_to_pinned");
}
void CudaContext::copy_device_to_device(void*, const void*, std::size_t) {
  no_cuda("copy_device_to_device");
}
CudaMemoryInfo CudaContext::memory_info() { no_cuda("CudaContext::memory_info"); }
void copy_between_devices(void*, int, const void*, int, std::size_t) {
  no_cuda("copy_between_devices");
}

#endif

}  // namespace minidl
