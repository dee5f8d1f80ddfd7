// DataLoader: argument checks, the per-epoch shuffle, the CPU gather, and the
// two-slot pipeline (with an optional background thread) that feeds it; the CUDA
// copies and events live behind detail::BatchTransfer (loader_cuda.cpp).
#include "loader.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>

#include "../core/dispatch.hpp"
#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/storage.hpp"
#include "loader_cuda.hpp"

namespace minidl {

namespace {

// "Shuf" in the high word of the Philox offset: shuffles never reuse the words of
// a Generator draw, whose offsets count up from 0.
constexpr std::uint64_t kShuffleStream = std::uint64_t{0x53687566} << 32;
constexpr std::int64_t kMaxShuffleSamples = std::int64_t{1} << 40;
constexpr std::int64_t kMaxEpoch = std::int64_t{1} << 32;

// A uniform integer in [0, bound) for Fisher-Yates position i: Lemire's
// multiply-shift, rejecting the 2^64 mod bound low products that would bias it
// ("Fast Random Integer Generation in an Interval", 2019). Rejections (probability
// < bound / 2^64 each) move on to the block's second word pair, then to further
// blocks i + r * 2^40, so the result is exact and still a function of (seed,
// offset, i) alone.
std::uint64_t bounded_draw(std::uint64_t seed, std::uint64_t offset, std::uint64_t i,
                           std::uint64_t bound) {
  const std::uint64_t threshold = (0 - bound) % bound;
  for (std::uint64_t round = 0;; ++round) {
    const Philox4x32 r = philox_block(seed, offset, i + (round << 40));
    for (std::size_t half = 0; half < 2; ++half) {
      const std::uint64_t x = (std::uint64_t{r.v[2 * half]} << 32) | r.v[2 * half + 1];
      const __uint128_t product = static_cast<__uint128_t>(x) * bound;
      if (static_cast<std::uint64_t>(product) >= threshold)
        return static_cast<std::uint64_t>(product >> 64);
    }
  }
}

// Runs one job at a time on a thread of its own; wait() returns when it is done
// and rethrows what it threw.
class Worker {
 public:
  Worker() = default;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();  // a running job finishes first
  }

  /// Requires: no job in flight (wait() returned since the last run()).
  void run(std::function<void()> job) {
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = std::move(job);
      busy_ = true;
    }
    wake_.notify_all();
  }

  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return !busy_; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stop_ || job_ != nullptr; });
      if (job_ == nullptr) return;  // stopping, nothing left to do
      std::function<void()> job = std::exchange(job_, nullptr);
      lock.unlock();
      std::exception_ptr error;
      try {
        job();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      error_ = error;
      busy_ = false;
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::function<void()> job_;
  bool busy_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// The same storage seen as its first `rows` rows.
Tensor first_rows(const Tensor& t, std::int64_t rows) {
  std::vector<std::int64_t> dims = t.shape().dims();
  dims[0] = rows;
  return Tensor(t.storage(), Shape(dims), t.dtype());
}

// Below this many elements a batch is gathered by one thread: an OpenMP team
// costs more than it saves.
constexpr std::int64_t kParallelGather = std::int64_t{1} << 15;

}  // namespace

std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  MINIDL_CHECK(n >= 0 && n < kMaxShuffleSamples, ValueError, "shuffled_indices: n = ", n,
               " is outside [0, 2^40)");
  MINIDL_CHECK(epoch >= 0 && epoch < kMaxEpoch, ValueError, "shuffled_indices: epoch ", epoch,
               " is outside [0, 2^32)");
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  if (n < 2) return order;
  // Each draw depends on its position only, so all are made in parallel first;
  // the swaps, which depend on each other, follow in order.
  const std::uint64_t offset = kShuffleStream + static_cast<std::uint64_t>(epoch);
  std::vector<std::int64_t> pick(static_cast<std::size_t>(n));
  parallel_for(n, 4096, [&](std::int64_t i_begin, std::int64_t i_end) {
    for (std::int64_t i = std::max<std::int64_t>(i_begin, 1); i < i_end; ++i) {
      const auto u = static_cast<std::uint64_t>(i);
      pick[static_cast<std::size_t>(i)] =
          static_cast<std::int64_t>(bounded_draw(seed, offset, u, u + 1));
    }
  });
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<std::size_t>(i)],
              order[static_cast<std::size_t>(pick[static_cast<std::size_t>(i)])]);
  return order;
}

struct DataLoader::Impl {
  // Declaration order is destruction order reversed: the worker stops first (it
  // uses everything else), then the transfer drains its copy stream, then the
  // slots' memory goes.
  Tensor images;
  Tensor labels;
  LoaderOptions options;
  std::int64_t n = 0;
  std::int64_t row = 0;  // elements per sample
  std::int64_t batches = 0;
  bool prefetch = false;
  bool on_cuda = false;

  std::vector<std::int64_t> order;
  std::int64_t epoch = 0;
  std::int64_t cursor = 0;  // the batch the next call to next() returns

  struct Slot {
    Tensor host_x, host_y;    // gathered into (pinned for CUDA)
    Tensor batch_x, batch_y;  // handed out: host_x / host_y on the CPU, device tensors on CUDA
  };
  std::array<Slot, 2> slots;
  std::unique_ptr<detail::BatchTransfer> transfer;  // CUDA only
  int next_slot = 0;
  int held_slot = -1;       // the slot of the batch the caller holds
  int in_flight_slot = -1;  // the slot the worker is filling with batch `cursor`
  Worker worker;

  // Batch `index` of the epoch as this shard sees it: where its samples start in
  // `order`, how many it has, and the size of the global batch.
  struct Share {
    std::int64_t begin = 0;
    std::int64_t count = 0;
    std::int64_t global = 0;
  };
  Share share(std::int64_t index) const {
    Share s;
    const std::int64_t begin = index * options.batch_size;
    s.global = std::min(options.batch_size, n - begin);
    const std::int64_t w = options.shards;
    const std::int64_t r = options.shard;
    const std::int64_t base = s.global / w;
    const std::int64_t extra = s.global % w;
    s.count = base + (r < extra ? 1 : 0);
    s.begin = begin + r * base + std::min(r, extra);
    return s;
  }

  void fill(int slot, std::int64_t index, bool on_worker) {
    const Share sh = share(index);
    const std::int64_t begin = sh.begin;
    const std::int64_t count = sh.count;
    Slot& s = slots[static_cast<std::size_t>(slot)];
    if (transfer) transfer->wait_host_free(slot);
    gather(order.data() + begin, count, s.host_x.data<float>(), s.host_y.data<std::int32_t>(),
           // On the CPU device a background gather shares the cores with the
           // caller's own OpenMP work: keep it to one thread.
           count * row >= kParallelGather && (on_cuda || !on_worker));
    if (transfer) {
      transfer->copy_to_device(slot, s.batch_x.raw_data(), s.host_x.raw_data(),
                               static_cast<std::size_t>(count * row) * sizeof(float),
                               s.batch_y.raw_data(), s.host_y.raw_data(),
                               static_cast<std::size_t>(count) * sizeof(std::int32_t));
    }
  }

  void gather(const std::int64_t* rows, std::int64_t count, float* x, std::int32_t* y,
              bool parallel) const {
    const float* src = images.data<float>();
    const std::int32_t* src_y = labels.data<std::int32_t>();
    const float mean = options.mean;
    const float stddev = options.stddev;
    // (v - 0) / 1 == v for every float, so the default options are a plain copy.
    const bool identity = mean == 0.0f && stddev == 1.0f;
    const std::int64_t width = row;
    parallel_for(
        count,
        parallel ? grain_for(width, 1 << 15) : count,
        [&](std::int64_t r_begin, std::int64_t r_end) {
          for (std::int64_t r = r_begin; r < r_end; ++r) {
            const std::int64_t i = rows[r];
            const float* in = src + i * width;
            float* out = x + r * width;
            if (identity) {
              std::memcpy(out, in, static_cast<std::size_t>(width) * sizeof(float));
            } else {
              for (std::int64_t c = 0; c < width; ++c) out[c] = (in[c] - mean) / stddev;
            }
            y[r] = src_y[i];
          }
        });
  }

  int take_slot() {
    const int slot = next_slot;
    next_slot ^= 1;
    return slot;
  }

  // The caller has moved past its batch: on CUDA, mark the compute stream's
  // position so the next copy into that slot waits for the work queued so far.
  void release_held() {
    if (held_slot < 0) return;
    if (transfer) transfer->release(held_slot);
    held_slot = -1;
  }

  // Waits for (and discards) a batch the worker is preparing.
  void drop_in_flight() {
    if (in_flight_slot < 0) return;
    in_flight_slot = -1;
    worker.wait();
  }
};

DataLoader::DataLoader(const Tensor& images, const Tensor& labels, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  MINIDL_CHECK(options.batch_size >= 1, ValueError, "DataLoader: batch_size must be >= 1, got ",
               options.batch_size);
  MINIDL_CHECK(images.defined(), ValueError, "DataLoader: the images tensor is undefined");
  MINIDL_CHECK(labels.defined(), ValueError, "DataLoader: the labels tensor is undefined");
  MINIDL_CHECK(images.device().is_cpu() && labels.device().is_cpu(), DeviceError,
               "DataLoader: images and labels must be CPU tensors (the loader gathers on the CPU "
               "and copies batches to options.device); got images on ",
               images.device(), ", labels on ", labels.device());
  MINIDL_CHECK(images.dtype() == DType::Float32, DTypeError,
               "DataLoader: images must be float32, got ", images.dtype());
  MINIDL_CHECK(labels.dtype() == DType::Int32, DTypeError, "DataLoader: labels must be int32, got ",
               labels.dtype());
  MINIDL_CHECK(images.rank() >= 1, ShapeError,
               "DataLoader: images must have shape [N, ...] (rank >= 1), got ", images.shape());
  MINIDL_CHECK(labels.rank() == 1, ShapeError, "DataLoader: labels must have shape [N], got ",
               labels.shape());
  MINIDL_CHECK(images.size(0) == labels.size(0), ShapeError, "DataLoader: images ", images.shape(),
               " and labels ", labels.shape(), " hold different numbers of samples");
  MINIDL_CHECK(images.size(0) >= 1, ValueError, "DataLoader: the dataset is empty (images ",
               images.shape(), ")");
  MINIDL_CHECK(images.size(0) < kMaxShuffleSamples, ValueError, "DataLoader: ", images.size(0),
               " samples; at most 2^40 are supported");
  MINIDL_CHECK(std::isfinite(options.mean), ValueError, "DataLoader: mean must be finite, got ",
               options.mean);
  MINIDL_CHECK(std::isfinite(options.stddev) && options.stddev > 0.0f, ValueError,
               "DataLoader: stddev must be finite and > 0, got ", options.stddev);
  MINIDL_CHECK(!options.drop_last || options.batch_size <= images.size(0), ValueError,
               "DataLoader: drop_last with batch_size ", options.batch_size, " > ", images.size(0),
               " samples gives no batch at all");
  MINIDL_CHECK(options.shards >= 1, ValueError, "DataLoader: shards must be >= 1, got ",
               options.shards);
  MINIDL_CHECK(options.shard >= 0 && options.shard < options.shards, ValueError,
               "DataLoader: shard ", options.shard, " is outside [0, ", options.shards, ")");
  MINIDL_CHECK(options.shards <= options.batch_size, ValueError, "DataLoader: batch_size ",
               options.batch_size, " (the global batch) is smaller than shards = ", options.shards,
               ": some shards would never get a sample");
  check_device(options.device);

  m.images = images;
  m.labels = labels;
  m.options = options;
  m.n = images.size(0);
  m.row = images.numel() / m.n;
  m.batches = m.n / options.batch_size + (!options.drop_last && m.n % options.batch_size != 0);
  m.on_cuda = options.device.is_cuda();
  m.prefetch = options.prefetch == LoaderPrefetch::On ||
               (options.prefetch == LoaderPrefetch::Auto && m.on_cuda);

  std::vector<std::int64_t> x_dims = images.shape().dims();
  const std::int64_t global_rows = std::min(options.batch_size, m.n);
  x_dims[0] = (global_rows + options.shards - 1) / options.shards;
  const Shape x_shape(x_dims);
  const Shape y_shape{x_dims[0]};
  if (m.on_cuda) {
    MINIDL_CUDA_CALL(m.transfer = detail::make_cuda_batch_transfer(options.device.index()));
  }
  for (std::size_t s = 0; s < m.slots.size(); ++s) {
    Impl::Slot& slot = m.slots[s];
    if (m.on_cuda) {
      // Page-locked, so the copies are true DMA and do not block the caller.
      // Page-locked by the loader's own device's context (not GPU 0's: a rank of a
      // multi-GPU job would start a context there).
      const int dev = options.device.index();
      slot.host_x =
          Tensor(Storage::allocate(x_shape.numel() * sizeof(float), Device::cpu(), true, dev),
                 x_shape, DType::Float32);
      slot.host_y = Tensor(
          Storage::allocate(y_shape.numel() * sizeof(std::int32_t), Device::cpu(), true, dev),
          y_shape, DType::Int32);
      slot.batch_x = empty(x_shape, options.device, DType::Float32);
      slot.batch_y = empty(y_shape, options.device, DType::Int32);
      // The device buffers were allocated on the compute stream: the first copies
      // into them wait for that.
      m.transfer->release(static_cast<int>(s));
    } else {
      slot.host_x = slot.batch_x = empty(x_shape, Device::cpu(), DType::Float32);
      slot.host_y = slot.batch_y = empty(y_shape, Device::cpu(), DType::Int32);
    }
  }
  start_epoch(0);
}

DataLoader::~DataLoader() = default;
DataLoader::DataLoader(DataLoader&&) noexcept = default;
DataLoader& DataLoader::operator=(DataLoader&&) noexcept = default;

std::int64_t DataLoader::size() const { return impl_->n; }
std::int64_t DataLoader::batches_per_epoch() const { return impl_->batches; }
std::int64_t DataLoader::local_batch_size() const {
  const std::int64_t global_rows = std::min(impl_->options.batch_size, impl_->n);
  return (global_rows + impl_->options.shards - 1) / impl_->options.shards;
}
std::int64_t DataLoader::epoch() const { return impl_->epoch; }
const LoaderOptions& DataLoader::options() const { return impl_->options; }

void DataLoader::start_epoch(std::int64_t epoch) {
  Impl& m = *impl_;
  MINIDL_CHECK(epoch >= 0 && epoch < kMaxEpoch, ValueError, "DataLoader::start_epoch: epoch ",
               epoch, " is outside [0, 2^32)");
  m.release_held();
  m.drop_in_flight();
  if (m.options.shuffle) {
    m.order = shuffled_indices(m.n, m.options.seed, epoch);
  } else if (m.order.empty()) {
    m.order.resize(static_cast<std::size_t>(m.n));
    std::iota(m.order.begin(), m.order.end(), std::int64_t{0});
  }
  m.epoch = epoch;
  m.cursor = 0;
}

bool DataLoader::next(Batch& batch) {
  Impl& m = *impl_;
  m.release_held();
  if (m.cursor >= m.batches) {
    batch = Batch{};
    return false;
  }
  int slot = m.in_flight_slot;
  if (slot >= 0) {
    m.in_flight_slot = -1;
    m.worker.wait();
  } else {
    slot = m.take_slot();
    m.fill(slot, m.cursor, /*on_worker=*/false);
  }
  if (m.transfer) m.transfer->acquire(slot);
  if (m.prefetch && m.cursor + 1 < m.batches) {
    const int ahead = m.take_slot();
    const std::int64_t index = m.cursor + 1;
    Impl* impl = &m;
    // In flight only once the job is queued: a worker thread that cannot be started
    // throws from run(), and the next call must fill its batch itself rather than wait
    // for a job that never ran and return the slot unfilled (found in review).
    m.worker.run([impl, ahead, index] { impl->fill(ahead, index, /*on_worker=*/true); });
    m.in_flight_slot = ahead;
  }
  const Impl::Slot& s = m.slots[static_cast<std::size_t>(slot)];
  const Impl::Share sh = m.share(m.cursor);
  batch.size = sh.count;
  batch.global_size = sh.global;
  batch.index = m.cursor;
  batch.x = first_rows(s.batch_x, batch.size);
  batch.y = first_rows(s.batch_y, batch.size);
  m.held_slot = slot;
  ++m.cursor;
  return true;
}

}  // namespace minidl
