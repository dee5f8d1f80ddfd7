// The CUDA half of the DataLoader pipeline (see loader_cuda.hpp): a copy stream of
// its own, so host-to-device copies of the next batch run beside the compute
// stream's kernels, and the events that order the two streams. No kernels: the
// gather runs on the CPU, and the copy engine moves whole batches.
#include "loader_cuda.hpp"

#include <array>

#include "../core/context.hpp"
#include "../core/cuda_check.hpp"
#include "../core/device_scope.hpp"

namespace minidl::detail {

namespace {

class CudaBatchTransfer final : public BatchTransfer {
 public:
  explicit CudaBatchTransfer(int device)
      : device_(device), compute_(CudaContext::get(device).stream()) {
    DeviceScope scope(device_);
    try {
      MINIDL_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
      for (std::size_t s = 0; s < kSlots; ++s) {
        MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(&ready_[s], cudaEventDisableTiming));
        MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(&released_[s], cudaEventDisableTiming));
      }
    } catch (...) {
      destroy();
      throw;
    }
  }

  ~CudaBatchTransfer() override {
    // Queued copies read pinned buffers and write device buffers that the loader
    // frees right after this: they must have finished.
    if (copy_ != nullptr && cudaStreamSynchronize(copy_) != cudaSuccess) (void)cudaGetLastError();
    destroy();
  }

  CudaBatchTransfer(const CudaBatchTransfer&) = delete;
  CudaBatchTransfer& operator=(const CudaBatchTransfer&) = delete;

  void wait_host_free(int slot) override {
    // The worker thread's first CUDA call: on its own device, or the runtime binds the
    // thread to GPU 0's context.
    DeviceScope scope(device_);
    // An event never recorded counts as complete, so the first fill does not wait.
    MINIDL_CUDA_CHECK(cudaEventSynchronize(ready_[index(slot)]));
  }

  void copy_to_device(int slot, void* dst_x, const void* src_x, std::size_t bytes_x, void* dst_y,
                      const void* src_y, std::size_t bytes_y) override {
    DeviceScope scope(device_);
    const std::size_t s = index(slot);
    MINIDL_CUDA_CHECK(cudaStreamWaitEvent(copy_, released_[s], 0));
    try {
      MINIDL_CUDA_CHECK(cudaMemcpyAsync(dst_x, src_x, bytes_x, cudaMemcpyHostToDevice, copy_));
      MINIDL_CUDA_CHECK(cudaMemcpyAsync(dst_y, src_y, bytes_y, cudaMemcpyHostToDevice, copy_));
      MINIDL_CUDA_CHECK(cudaEventRecord(ready_[s], copy_));
    } catch (...) {
      // A copy may be queued: the slot's next fill must wait for it before it overwrites
      // the pinned buffer (best effort; the first error is the one reported).
      (void)cudaEventRecord(ready_[s], copy_);
      throw;
    }
  }

  void acquire(int slot) override {
    DeviceScope scope(device_);
    MINIDL_CUDA_CHECK(cudaStreamWaitEvent(compute_, ready_[index(slot)], 0));
  }

  void release(int slot) override {
    DeviceScope scope(device_);
    MINIDL_CUDA_CHECK(cudaEventRecord(released_[index(slot)], compute_));
  }

 private:
  static constexpr std::size_t kSlots = 2;

  static std::size_t index(int slot) { return static_cast<std::size_t>(slot) % kSlots; }

  void destroy() noexcept {
    for (std::size_t s = 0; s < kSlots; ++s) {
      if (ready_[s] != nullptr) (void)cudaEventDestroy(ready_[s]);
      if (released_[s] != nullptr) (void)cudaEventDestroy(released_[s]);
      ready_[s] = released_[s] = nullptr;
    }
    if (copy_ != nullptr) (void)cudaStreamDestroy(copy_);
    copy_ = nullptr;
  }

  int device_;
  cudaStream_t compute_;
  cudaStream_t copy_ = nullptr;
  std::array<cudaEvent_t, kSlots> ready_{};
  std::array<cudaEvent_t, kSlots> released_{};
};

}  // namespace

std::unique_ptr<BatchTransfer> make_cuda_batch_transfer(int device) {
  return std::make_unique<CudaBatchTransfer>(device);
}

}  // namespace minidl::detail
