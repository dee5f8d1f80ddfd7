// DataLoader: mini-batches of a dataset held in CPU memory, shuffled per epoch,
// normalised, and delivered on the device the model runs on.
//
// Order. Epoch e visits the samples in the order shuffled_indices(N, seed, e): a
// Fisher-Yates shuffle driven by Philox4x32-10 (core/random.hpp), a pure function
// of (N, seed, e). The same options give the same batches on every platform and
// in every run, and a loader started at epoch k (a resumed run) gives the same
// order as one that ran epochs 0..k-1 first. Without shuffle, the order is 0..N-1.
//
// Pipeline. The rows of each batch are gathered and normalised on the CPU
// (OpenMP), x -> (x - mean) / stddev, into one of two staging slots:
//   - CPU device: the slot's tensors are the batch;
//   - CUDA device: the slot's host buffers are pinned, and the copy into the
//     slot's device tensors is asynchronous on a dedicated copy stream. The copy
//     waits (a CUDA event) until the compute stream (CudaContext::stream()) has
//     finished the work queued on it before the caller moved past the batch that
//     used the slot two batches ago, and next() makes the compute stream wait for
//     the batch's "ready" event before returning it. The compute stream never
//     waits on the host; the host waits only before refilling a pinned buffer
//     whose previous copy has not finished, that is when it runs more than two
//     batches ahead of the GPU (natural back-pressure, not a synchronisation).
//   With prefetch (the default for CUDA devices), next() hands the following
//   batch to a background thread before it returns, so batch k + 1 is gathered
//   and copied while the caller computes on batch k. Without it (the default for
//   the CPU, whose cores are busy with the caller's own work), next() gathers its
//   batch itself.
//
// Lifetime rule (every device and prefetch mode): the tensors of the Batch that
// next() returns hold that batch until the next call to next() or start_epoch().
// After that call they may be overwritten (for CUDA: by a copy that is ordered
// after every piece of work the caller queued on the compute stream before the
// call, so queued work always sees the right data). To keep a batch longer, clone()
// it. Work on CUDA batch tensors must go on the device's context stream, as all of
// minidl's ops do.
//
// A DataLoader is used from one thread at a time; it is movable, not copyable.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../core/device.hpp"
#include "../core/tensor.hpp"

namespace minidl {

/// Whether the next batch is prepared on a background thread while the caller
/// works on the current one. Auto: on for CUDA devices, off for the CPU.
enum class LoaderPrefetch { Auto, On, Off };

struct LoaderOptions {
  std::int64_t batch_size = 128;  ///< >= 1
  bool shuffle = true;
  std::uint64_t seed = 0;
  bool drop_last = false;  ///< drop the last, partial batch of each epoch
  Device device = Device::cpu();
  float mean = 0.0f;    ///< x -> (x - mean) / stddev; the defaults leave x unchanged
  float stddev = 1.0f;  ///< finite, > 0
  LoaderPrefetch prefetch = LoaderPrefetch::Auto;
  /// Sharding for data-parallel training (dist::sharded() sets both from the
  /// process's rank and world size). With shards = W > 1, batch_size is the GLOBAL
  /// batch B: batch k of an epoch is the global batch at positions [k B, min((k+1) B,
  /// N)) of the epoch's order (the same Philox shuffle on every shard), and shard r
  /// gets its contiguous share of it: of a global batch of L samples, L / W samples,
  /// plus one when r < L % W, following the shares of shards 0..r-1. So the shards'
  /// batches, concatenated in shard order, are exactly the batch one loader with
  /// shards = 1 gives; every shard has the same batches_per_epoch(); and a shard's
  /// share of a last, partial batch of fewer than W samples may be empty
  /// (Batch::size 0; drop_last drops the partial global batch instead).
  int shard = 0;   ///< in [0, shards)
  int shards = 1;  ///< >= 1, <= batch_size
};

struct Batch {
  Tensor x;                ///< float32 [size, ...] (the images' trailing shape) on options.device
  Tensor y;                ///< int32 [size] on options.device
  std::int64_t size = 0;   ///< samples in this batch: batch_size, or fewer for the last
                           ///< (sharded: this shard's share, possibly 0)
  std::int64_t index = 0;  ///< 0, 1, ... within the epoch
  /// Samples in the global batch this batch is a share of (== size unsharded).
  std::int64_t global_size = 0;
};

/// The order of epoch `epoch` for n samples: a permutation of 0..n-1 from a
/// Fisher-Yates shuffle whose draw for position i is Lemire's exact (rejection)
/// bounded integer from philox_block(seed, 0x53687566'00000000 + epoch, i + r * 2^40)
/// for r = 0, 1, ... (the high word "Shuf" keeps these draws apart from a
/// Generator's, whose offsets count up from 0).
/// Requires 0 <= n < 2^40 and 0 <= epoch < 2^32; throws ValueError otherwise.
std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::uint64_t seed, std::int64_t epoch);

class DataLoader {
 public:
  /// Requires: images a float32 CPU tensor [N, ...] (rank >= 1), labels an int32
  /// CPU tensor [N], N >= 1; batch_size >= 1 (and <= N with drop_last, which would
  /// otherwise give no batch); 1 <= shards <= batch_size and 0 <= shard < shards;
  /// a finite mean; a finite stddev > 0; a usable device. Throws ValueError, DTypeError, ShapeError or DeviceError naming the
  /// argument otherwise. The loader keeps handles to images and labels (no copy):
  /// do not modify them while it is in use.
  /// The loader starts at epoch 0; call start_epoch() to choose another.
  DataLoader(const Tensor& images, const Tensor& labels, LoaderOptions options = {});
  ~DataLoader();
  DataLoader(DataLoader&&) noexcept;
  DataLoader& operator=(DataLoader&&) noexcept;
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// N, the number of samples.
  std::int64_t size() const;
  /// ceil(N / batch_size), or floor(N / batch_size) with drop_last (the same on every shard).
  std::int64_t batches_per_epoch() const;
  /// The most samples a batch of this loader holds: min(batch_size, N) unsharded,
  /// ceil(min(batch_size, N) / shards) sharded (build the model for that batch).
  std::int64_t local_batch_size() const;
  /// The current epoch.
  std::int64_t epoch() const;
  const LoaderOptions& options() const;

  /// Begins epoch `epoch` (0 <= epoch < 2^32, else ValueError) from its first
  /// batch, with the order shuffled_indices(N, seed, epoch); abandons what is left
  /// of the current epoch. The previous batch's tensors may be reused from now on.
  void start_epoch(std::int64_t epoch);

  /// Ensures: returns true and sets `batch` to the next batch of the epoch, or
  /// returns false and resets `batch` to an empty Batch when the epoch is over
  /// (and keeps returning false until start_epoch()). See the lifetime rule above.
  /// On CUDA it may throw CudaError from the copy; the loader is then still
  /// usable (the next call retries the same batch) if the CUDA context is.
  bool next(Batch& batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minidl
