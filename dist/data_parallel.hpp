// Data-parallel training: each process runs the same model on its own share of
// every global batch, and the gradients are averaged across processes before
// each optimizer step, so every process takes the same step and the weights stay
// identical. One line turns an existing training loop into a data-parallel one:
//
//   dist::Session session;                          // in main
//   Sequential net(...); net.build(local_batch);    // the usual model
//   Adam adam(net.graph().parameters());            // and optimizer
//   dist::DataParallel ddp(net, adam);              // <- the line
//   DataLoader train(x, y, dist::sharded({/*global batch*/ 256}));
//   ... the usual loop: zero_grad, forward, backward, adam.step() ...
//
// (training/trainer.hpp does all of it with TrainerOptions::data_parallel.)
//
// What it does:
//  (a) At construction, broadcasts every parameter and every buffer (BatchNorm's
//      running statistics) from rank `options.root` (0), after checking that every
//      process has the same parameters (names, shapes, order): ValueError naming
//      the first difference otherwise.
//  (b) Gradients are all-reduced in BUCKETS of about options.bucket_bytes (4 MiB),
//      filled in the order backward produces the gradients (the last layer's
//      first). A Graph hook (Graph::set_grad_ready_hook) reports each parameter as
//      soon as its gradient is final; when every gradient of a bucket is final,
//      and every earlier bucket has been launched, the bucket's gradients are
//      copied into one flat buffer and an asynchronous all-reduce (MPI_Iallreduce
//      on CPU tensors, NCCL on CUDA tensors) is started, while backward goes on
//      with the layers upstream. On the CPU, each later report also lets MPI
//      progress the buckets in flight (MPI's non-blocking collectives move only
//      when MPI is called). The optimizer's step() waits for every bucket (an
//      Optimizer hook: Optimizer::set_before_step_hook) and copies the averaged
//      gradients back before it updates anything. Buckets that backward did not
//      reach (parameters off the loss's path) are launched then.
//  (c) With one process (a world of one) it does nothing at all: no hooks, no copies.
//
// The average. Each process's gradient is the mean over its own samples (minidl's
// losses are means over the batch). The result is the mean over the GLOBAL batch:
// sum_r n_r g_r / sum_r n_r, with n_r the batch size of process r's last forward
// before the step, 0 for a process that ran no backward since the previous step
// (its share of a short last batch was empty: it still calls step(), and
// contributes zeros). With equal shares that is the plain mean of the processes'
// gradients. It requires a loss that is a mean over the batch; a loss that sums
// over the batch would be scaled wrongly.
//
// BatchNorm keeps PER-PROCESS statistics (PyTorch's DistributedDataParallel with
// broadcast_buffers=False, without SyncBatchNorm; its default re-broadcasts rank 0's
// buffers at every forward): in training mode each process normalises with the mean
// and variance of its own share of the batch, and its running statistics are updated
// from those. They start equal (broadcast at construction) and drift apart; rank 0's
// are the ones a checkpoint records (the Trainer broadcasts them before each
// validation, so every process evaluates rank 0's model). A
// model with BatchNorm therefore does not give the same results with W processes
// of batch b as with one process of batch W*b (a model without it does, up to
// the rounding of sums taken in another order).
//
// Rules: one backward per step (accumulating gradients over several backward calls
// before a step is refused with an Error: use a larger batch); every process
// calls step() the same number of times; the DataParallel must not outlive the
// graph and the optimizer (declare it after them), and its destructor removes
// the hooks. CUDA models go through NCCL: UNVERIFIED (see collectives.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "../data/loader.hpp"
#include "../layers/graph.hpp"
#include "../layers/sequential.hpp"
#include "../optim/optimizer.hpp"
#include "collectives.hpp"

namespace minidl::dist {

struct DataParallelOptions {
  /// Gradient bytes per bucket (float32: 4 bytes an element), > 0. A bucket closes
  /// once it holds at least this many; a larger parameter gets a bucket of its own.
  std::size_t bucket_bytes = std::size_t{4} << 20;
  /// The process whose parameters and buffers every process starts from.
  int root = 0;
  /// Record events() (for tests and for seeing the overlap).
  bool record_events = false;
};

/// What happened, in order (recorded with DataParallelOptions::record_events).
struct DataParallelEvent {
  enum class Kind {
    GradientReady,   ///< backward reported `parameter` (of `bucket`) final
    BucketLaunched,  ///< the all-reduce of `bucket` was started
    BucketDone,      ///< step() waited for `bucket` and copied it back
  };
  Kind kind;
  int bucket;
  std::string parameter;  ///< GradientReady only
};

class DataParallel {
 public:
  /// Requires init() (Error otherwise), a built graph, and an optimizer over
  /// exactly the graph's parameters (ValueError otherwise); options.bucket_bytes
  /// > 0 and 0 <= options.root < world_size() (ValueError). With more than one
  /// process: checks the model is the same everywhere, broadcasts the parameters
  /// and buffers from root, and installs the graph's and the optimizer's hooks
  /// (ValueError if either already has one). A collective: every process makes
  /// its DataParallel at the same point.
  DataParallel(Graph& graph, Optimizer& optimizer, DataParallelOptions options = {});
  DataParallel(Sequential& model, Optimizer& optimizer, DataParallelOptions options = {});
  /// Removes the hooks; waits for buckets still in flight (without copying them back).
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  /// True with more than one process (otherwise everything here is a no-op).
  bool active() const { return active_; }

  /// Broadcasts every parameter and buffer from options.root again (a collective).
  /// Requires no step in progress (no backward since the last step; ValueError
  /// otherwise). The optimizer's state (Adam's moments, its step count) is not part of
  /// it: a checkpoint must be loaded on every process (as the Trainer does), not on the
  /// root alone, or the processes' steps differ from then on.
  void broadcast_state();
  /// The buffers alone (BatchNorm's running statistics), from options.root (a
  /// collective): the parameters stay equal by themselves, the buffers drift apart.
  void broadcast_buffers();

  /// Launches the buckets not launched yet, waits for all of them and writes the
  /// averaged gradients back into the parameters' grads. The optimizer's step()
  /// calls it (through its hook). Without a backward since the last call, this
  /// process contributes zeros with weight 0 (see "The average" above).
  ///
  /// Call it yourself to read or CHANGE the averaged gradients before the step:
  /// backward, synchronize(), then clip_grad_norm (or zero a frozen parameter's grad),
  /// then step(). The step right after a call of yours uses the grads as they are then
  /// (it does not average again), and a backward between the two is an Error. A change
  /// made to the grads BEFORE synchronize() is lost: backward has already copied them
  /// into the buckets, and the average written back is of the unchanged ones.
  void synchronize();

  /// The buckets, each as its parameters' names in the order they were packed.
  std::size_t bucket_count() const { return buckets_.size(); }
  std::vector<std::string> bucket_parameters(std::size_t bucket) const;

  const std::vector<DataParallelEvent>& events() const { return events_; }
  void clear_events() { events_.clear(); }

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into params_
    std::int64_t numel = 0;
    Tensor flat;
    Work work;
    int pending = 0;  // gradients not yet reported in this round
    bool launched = false;
  };

  void on_grad_ready(Parameter& p);
  void launch(std::size_t b);
  void launch_ready_in_order();
  void record(DataParallelEvent::Kind kind, int bucket, const std::string& parameter = "");
  void reset_round();
  void average();  // synchronize()'s work, for the step hook too

  Graph& graph_;
  Optimizer& optimizer_;
  DataParallelOptions options_;
  bool active_ = false;
  std::vector<Parameter*> params_;       // in the graph's order
  std::vector<std::size_t> bucket_of_;   // params_ index -> bucket
  std::vector<std::int64_t> offset_of_;  // params_ index -> offset in its bucket's flat
  std::vector<bool> ready_;              // params_ index -> reported in this round
  std::unordered_map<const Parameter*, std::size_t> index_;  // -> params_ index
  std::vector<Bucket> buckets_;          // in launch order
  std::size_t next_launch_ = 0;
  bool round_started_ = false;  // a gradient was reported since the last synchronize
  std::int64_t round_samples_ = 0;
  bool user_synchronized_ = false;  // the user called synchronize() since the last step
  std::vector<DataParallelEvent> events_;
};

/// `options` for this process's shard of the data: shard = rank(), shards =
/// world_size() (LoaderOptions, data/loader.hpp). options.batch_size stays the
/// GLOBAL batch. Requires init().
LoaderOptions sharded(LoaderOptions options);

}  // namespace minidl::dist
