// Trainer: the training loop in the library (dlib's dnn_trainer): epochs over a
// DataLoader with an optimizer and an optional learning-rate schedule, progress
// reports, per-epoch metrics, evaluation with a confusion matrix, checkpoints that
// resume exactly, reduce-on-plateau and early stopping. A user's main is the
// model and one call:
//
//   Sequential net({784}, Device::cpu(), /*seed=*/1);
//   net.add<Dense>(256).add(relu_layer()).add<Dense>(10);
//   net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
//   net.build(128);
//   Adam adam(net.graph().parameters());
//   DataLoader train(images, labels, {/*batch*/ 128});
//   DataLoader test(test_images, test_labels, {128, /*shuffle*/ false});
//   TrainerOptions o;
//   o.epochs = 5;
//   std::vector<EpochMetrics> history = Trainer(net, adam, o).fit(train, &test);
//
// One step: zero_grad, forward on (batch.x, batch.y), backward from the loss,
// the schedule's rate (times the plateau factor) set on the optimizer, step, and
// the batch's loss added to a running sum that stays on the model's device. The
// loop never reads from the device inside a step: the running sum is read once
// per progress report (every `report_every` steps, only when a progress callback
// is set) and once at the end of the epoch. A non-finite sum then throws
// DivergedError naming the epoch and the step.
//
// Checkpoints (io/checkpoint.hpp) hold the parameters, the optimizer's state, the
// graph generator's position (dropout), and the trainer's own state: the position
// in the epoch, the epoch's running loss, the plateau and early-stopping counters
// and the history. The loader's order is a pure function of (seed, epoch), so a
// run resumed from any checkpoint, mid-epoch ones included, takes exactly the
// steps an uninterrupted run takes, with the same results.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../data/loader.hpp"
#include "../layers/graph.hpp"
#include "../layers/sequential.hpp"
#include "../optim/optimizer.hpp"
#include "../optim/schedule.hpp"

namespace minidl {

/// Thrown when the training loss becomes NaN or infinite.
class DivergedError : public Error {
 public:
  DivergedError(const std::string& message, int epoch, std::int64_t step)
      : Error(message), epoch_(epoch), step_(step) {}
  /// 1-based epoch and 1-based step within it at which the non-finite loss was read
  /// (the loss is read once per report, so it turned non-finite at or before it).
  int epoch() const noexcept { return epoch_; }
  std::int64_t step() const noexcept { return step_; }

 private:
  int epoch_;
  std::int64_t step_;
};

/// What a model is to the trainer: a graph whose inputs are exactly (x, targets),
/// in that order, the value holding the logits and the (scalar) loss value.
struct TrainableGraph {
  Graph* graph = nullptr;
  Graph::Value logits = -1;
  Graph::Value loss = -1;
};
/// A Sequential with a loss: its graph, output and loss value.
TrainableGraph trainable(Sequential& model);

struct Evaluation {
  double loss = 0;      ///< mean loss per sample
  double accuracy = 0;  ///< fraction of samples whose argmax(logits) is the label
  std::int64_t samples = 0;
  /// confusion[true][predicted], classes x classes (classes = the logits' width).
  std::vector<std::vector<std::int64_t>> confusion;
};

/// Runs `model` in evaluation mode (dropout off, batch-norm running statistics)
/// over every batch of `loader` from the start of its current epoch (the loader is
/// restarted; use one without shuffling or drop_last to see every sample once),
/// then puts it back in training mode. A sharded loader (LoaderOptions::shards > 1,
/// dist/) is evaluated by every process of the job on its shard and the results
/// are summed across processes (a collective: every process calls evaluate() at
/// the same point; ValueError unless shards == dist::world_size() and shard ==
/// dist::rank()), so every process gets the evaluation of the whole set. The labels must be int32
/// class indices in [0, classes) (ValueError naming the sample otherwise). The loss sums the
/// per-batch losses (a mean-reduced loss weighted by its batch size, a sum-reduced one as it
/// is) in double on the host, so it is the mean per sample either way; this
/// reads every batch's loss and predictions back (evaluation is not a training step).
Evaluation evaluate(const TrainableGraph& model, DataLoader& loader);
Evaluation evaluate(Sequential& model, DataLoader& loader);

struct Progress {
  int epoch;                ///< 1-based
  int epochs;
  std::int64_t step;        ///< batches done in this epoch
  std::int64_t steps;       ///< batches per epoch
  double loss;              ///< running mean training loss of the epoch
  double images_per_second;
  double eta_seconds;       ///< for the rest of the epoch
};

struct EpochMetrics {
  int epoch = 0;  ///< 1-based
  double train_loss = 0;    ///< mean training loss over the epoch's samples
  double val_loss = 0;      ///< on the validation loader (0 without one)
  double val_accuracy = 0;  ///< on the validation loader (0 without one)
  double seconds = 0;            ///< training time of the epoch (evaluation excluded)
  double images_per_second = 0;  ///< training throughput
  double learning_rate = 0;      ///< the rate of the epoch's last step
};

/// Multiplies the learning rate by `factor` when the monitored loss (validation loss
/// with a validation loader, else training loss) has not improved by more than
/// `min_delta` for `patience` epochs; never below `min_lr` (PyTorch's
/// ReduceLROnPlateau in "min" mode with absolute threshold, cooldown 0).
struct ReduceOnPlateau {
  bool enabled = false;
  float factor = 0.1f;  ///< in (0, 1)
  int patience = 2;     ///< >= 0
  double min_delta = 1e-4;
  float min_lr = 0.0f;
};

/// Stops training when the monitored loss has not improved by more than
/// `min_delta` for `patience` epochs (the epoch that triggers it is completed and recorded).
struct EarlyStopping {
  bool enabled = false;
  int patience = 5;  ///< >= 1
  double min_delta = 0.0;
};

struct TrainerOptions {
  int epochs = 10;  ///< in total, counting epochs restored from a checkpoint
  /// The learning rate per step (its step index is the optimizer's steps()); null:
  /// the optimizer's own rate. With reduce-on-plateau, the rate used is the
  /// schedule's (or the starting rate) times the accumulated plateau factor.
  std::shared_ptr<const LrSchedule> schedule;
  ReduceOnPlateau reduce_on_plateau;
  EarlyStopping early_stopping;
  /// Called every `report_every` steps and after the epoch's last step; each call
  /// reads the running loss from the device (a synchronisation). Null: no reads
  /// inside the epoch.
  std::function<void(const Progress&)> on_progress;
  std::int64_t report_every = 10;  ///< >= 1
  /// Called after each epoch (after its evaluation and checkpoint).
  std::function<void(const EpochMetrics&)> on_epoch;
  /// A checkpoint written atomically after every epoch, and every
  /// `checkpoint_every_steps` steps when that is > 0 ("" = none).
  std::string checkpoint;
  std::int64_t checkpoint_every_steps = 0;
  /// A checkpoint to start from ("" = none); the model and the optimizer must be
  /// the ones it was written from (the same architecture and optimizer kind).
  std::string resume;
  /// Data-parallel training across the processes of an MPI job (dist/): fit()
  /// attaches a dist::DataParallel to the model and the optimizer (parameters and
  /// buffers broadcast from rank 0, gradients averaged over the global batch in
  /// buckets during backward; see dist/data_parallel.hpp, which also says what
  /// happens to BatchNorm). Requires dist::init(). With more than one process:
  ///  - the training loader must be this process's shard (LoaderOptions from
  ///    dist::sharded(): shard = rank, shards = world size; ValueError otherwise),
  ///    its batch_size the global batch; a process whose share of the last batch
  ///    is empty still takes the step (it contributes no samples);
  ///  - the epoch's train_loss is the mean over all processes' samples; the
  ///    progress callback's loss is this process's running mean (no communication
  ///    inside the epoch), its rate and ETA count global images;
  ///  - before each validation every process takes rank 0's buffers
  ///    (BatchNorm's running statistics drift apart between processes), so a sharded
  ///    validation loader, evaluated in shards and combined (evaluate()), measures
  ///    rank 0's model, the one checkpoints record; an unsharded one is evaluated
  ///    whole by every process. Either way the epoch's validation metrics (and so the
  ///    plateau and early-stopping decisions) are rank 0's, broadcast, so every
  ///    process decides alike;
  ///  - the loss must be mean-reduced (ValueError for Reduction::Sum: the averaged
  ///    gradients would be scaled wrongly);
  ///  - checkpoints are written by rank 0 only (a mid-epoch one records the
  ///    running loss summed over processes); every process can resume from one.
  /// Every process must call fit() with the same options and the same kind of
  /// loaders (a validation loader on all or none; checkpoint settings alike: the
  /// trainer itself lets only rank 0 write). The callbacks may differ (e.g.
  /// on_progress on rank 0 only): they run no collective. An exception on one
  /// process leaves the others waiting in the next collective: let it escape
  /// (dist/process.hpp's terminate handler ends the job) or end the job with
  /// dist::abort(), never finalize after catching it.
  /// With one process it changes nothing.
  bool data_parallel = false;
};

namespace dist {
class DataParallel;
}

class Trainer {
 public:
  /// Keeps references to model and optimizer (the optimizer over the model's
  /// parameters). Checks the options (ValueError naming the option) and, with
  /// `resume`, loads the checkpoint (the model must be built).
  Trainer(const TrainableGraph& model, Optimizer& optimizer, TrainerOptions options = {});
  Trainer(Sequential& model, Optimizer& optimizer, TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains from where the trainer stands (epoch 0, or the checkpoint's position)
  /// up to options.epochs, or until early stopping; evaluates on `validation`
  /// (may be null) after every epoch. The train loader's order comes from its own
  /// options (seed, shuffle): epoch e runs start_epoch(e). Returns every epoch's
  /// metrics, restored ones included.
  std::vector<EpochMetrics> fit(DataLoader& train, DataLoader* validation = nullptr);

  /// The options; changes take effect at the next fit() (`resume` is read only by
  /// the constructor).
  TrainerOptions& options() { return options_; }

  /// The last epoch's evaluation on the validation loader (empty before one).
  const Evaluation& last_evaluation() const { return last_eval_; }
  const std::vector<EpochMetrics>& history() const { return history_; }
  /// Epochs done (restored from the checkpoint before fit()).
  int epochs_done() const { return epochs_done_; }
  /// True when early stopping ended the last fit().
  bool stopped_early() const { return stopped_early_; }
  /// The factor reduce-on-plateau has applied so far (1 without reductions).
  double lr_factor() const { return lr_factor_; }

 private:
  void check_options() const;
  void save(std::int64_t step_in_epoch, float running_loss, std::int64_t images);
  void load(const std::string& path);
  /// Updates the plateau / early-stopping counters with an epoch's monitored loss.
  void end_of_epoch(double monitored);

  TrainableGraph model_;
  Optimizer& optimizer_;
  TrainerOptions options_;
  float base_lr_;
  std::vector<EpochMetrics> history_;
  Evaluation last_eval_;
  int epochs_done_ = 0;
  // Mid-epoch position restored from a checkpoint.
  std::int64_t resume_step_ = 0;
  float resume_running_ = 0.0f;
  std::int64_t resume_images_ = 0;
  double lr_factor_ = 1.0;
  // The best monitored loss of each feature: each moves only when its own min_delta test
  // passes (PyTorch's ReduceLROnPlateau and Keras's EarlyStopping alike).
  double plateau_best_ = 0.0;
  double stop_best_ = 0.0;
  bool has_best_ = false;
  int plateau_epochs_ = 0;
  int stale_epochs_ = 0;
  bool stopped_early_ = false;
  std::unique_ptr<dist::DataParallel> data_parallel_;  // with options_.data_parallel
};

/// Per-epoch metrics as CSV (a header, then one row per epoch, 9 significant
/// digits) and back (the header is skipped; IoError naming the line for a malformed row).
/// The validation columns are named "<validation_name>_loss" and "<validation_name>_accuracy".
std::string metrics_csv(const std::vector<EpochMetrics>& history,
                        const std::string& validation_name = "val");
std::vector<EpochMetrics> parse_metrics_csv(const std::string& csv);

}  // namespace minidl
