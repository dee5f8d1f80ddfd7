// Collectives on tensors across the processes of the job (process.hpp): every
// process calls the same collective, in the same order, with tensors of the same
// shape and dtype on the same kind of device.
//
// Engines: CPU tensors go through MPI (MPI_Iallreduce, MPI_Ibcast,
// MPI_Iallgather, in place where the op allows it). CUDA tensors go through
// NCCL on a communication stream of the tensor's device; the NCCL communicator
// is created on first use, with NCCL's unique id made by rank 0 and broadcast
// over MPI. The NCCL path is UNVERIFIED: it compiles and links, but it has never
// run (minidl's tests ran on machines without GPUs; they skip it); treat it as
// untested until a machine with two GPUs has run tests/dist.
//
// Checks. Each collective first checks its own arguments (defined tensor,
// float32 or int32, a device this build can communicate on: DTypeError,
// DeviceError) and then compares, across all processes, what each passed (one
// small MPI_Allgather of a descriptor: the op, dtype, device kind, shape, root):
// a mismatch throws the same ShapeError / DTypeError / DeviceError / ValueError on
// every process, naming the first process that differs from rank 0 and both
// values, instead of corrupting memory or hanging. The async forms make that
// check before they return (it is a blocking exchange of a few bytes); the data
// transfer itself is what they leave running.
//
// World of one: every collective returns at once, leaves its tensor unchanged
// (all_gather copies), and does not communicate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace minidl::dist {

enum class ReduceOp {
  Sum,   ///< the elementwise sum over processes
  Mean,  ///< the sum divided by world_size() (float32 only)
};

namespace detail {
/// One collective in flight (an MPI request, or an event on a CUDA stream).
class PendingWork {
 public:
  virtual ~PendingWork() = default;
  /// Blocks until done and finishes the op (e.g. the division of a mean).
  virtual void wait() = 0;
  /// Whether done, without blocking (drives MPI's progress engine).
  virtual bool test() = 0;
};
}  // namespace detail

/// A handle to an asynchronous collective. Until wait() returns, the tensors the
/// collective was given must stay alive and must not be read or written (the
/// handle keeps their storage alive, not their contents safe). Move-only. A
/// default-constructed Work, and the Work of a collective in a world of one, is
/// already complete.
class Work {
 public:
  Work();
  explicit Work(std::unique_ptr<detail::PendingWork> pending);
  Work(Work&&) noexcept;
  Work& operator=(Work&&) noexcept;
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;
  /// Waits if still pending (a failure there is printed on stderr, not thrown).
  ~Work();

  /// Blocks until the collective is complete (for CUDA tensors: until work queued
  /// on the device's compute stream after this call runs after it; the host does
  /// not wait). Throws Error when it failed. Calling it again does nothing.
  void wait();
  /// True when complete (wait() would not block). Never blocks; on the CPU it also
  /// lets MPI progress the transfer.
  bool completed();

 private:
  std::unique_ptr<detail::PendingWork> pending_;
};

/// tensor <- the elementwise Sum (or Mean) of every process's tensor, in place.
/// float32 or int32 (Mean: float32 only, DTypeError). Every process gets
/// bit-identical results.
void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum);
Work all_reduce_async(Tensor& tensor, ReduceOp op = ReduceOp::Sum);

/// tensor <- root's tensor on every process, in place. Requires 0 <= root <
/// world_size() (ValueError).
void broadcast(Tensor& tensor, int root = 0);
Work broadcast_async(Tensor& tensor, int root = 0);

/// Every process's `tensor`, stacked in rank order: a new tensor of shape
/// [world_size(), tensor.shape()...] on tensor's device (out[r] is rank r's).
Tensor all_gather(const Tensor& tensor);
/// The same into `out`, which must already have that shape, dtype and device
/// (ShapeError / DTypeError / DeviceError).
Work all_gather_async(const Tensor& tensor, Tensor& out);

// ---- host values (metrics, counts, files), for code that is not a tensor op ----

/// values <- the elementwise Sum (or Mean) over processes, in place, in double.
/// The vectors must have the same length on every process (ValueError).
void all_reduce(std::vector<double>& values, ReduceOp op = ReduceOp::Sum);
/// values <- the elementwise sum over processes, in place, in int64 (exact).
void all_reduce(std::vector<std::int64_t>& values);
/// Every process's string (any length, any bytes), in rank order.
std::vector<std::string> all_gather(const std::string& bytes);
/// root's string on every process (the argument is ignored on the others).
std::string broadcast(const std::string& bytes, int root = 0);

}  // namespace minidl::dist
