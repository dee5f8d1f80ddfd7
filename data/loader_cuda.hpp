// Internal to data/loader.cpp (no CUDA headers, nothing a user calls): the CUDA
// half of the DataLoader pipeline, implemented in loader_cuda.cpp, which is built
// only with the CUDA backend.
//
// It owns a copy stream and, per staging slot, two events:
//   ready[s]    recorded on the copy stream after the copies into slot s; the
//               compute stream waits on it before the batch is used, and the host
//               waits on it before it overwrites the slot's pinned buffers;
//   released[s] recorded on the compute stream when the caller has moved past the
//               batch in slot s; the next copy into slot s waits on it.
#pragma once

#include <cstddef>
#include <memory>

namespace minidl::detail {

class BatchTransfer {
 public:
  virtual ~BatchTransfer() = default;
  /// Blocks until the last copy out of slot `slot`'s host buffers has finished,
  /// so they can be refilled. Called before the gather (on any thread).
  virtual void wait_host_free(int slot) = 0;
  /// Queues dst_x <- src_x and dst_y <- src_y (pinned host to device) on the copy
  /// stream, after released[slot], then records ready[slot]. Does not block.
  virtual void copy_to_device(int slot, void* dst_x, const void* src_x, std::size_t bytes_x,
                              void* dst_y, const void* src_y, std::size_t bytes_y) = 0;
  /// The compute stream waits for ready[slot]. Does not block the host.
  virtual void acquire(int slot) = 0;
  /// Records released[slot] on the compute stream. Does not block the host.
  virtual void release(int slot) = 0;
};

/// The transfer for CUDA device `device`. Its destructor waits for the copies
/// still queued (they read pinned buffers and write device buffers that are freed
/// next). Throws DeviceError / CudaError.
std::unique_ptr<BatchTransfer> make_cuda_batch_transfer(int device);

}  // namespace minidl::detail
