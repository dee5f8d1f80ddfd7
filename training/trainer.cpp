#include "trainer.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "../dist/collectives.hpp"
#include "../dist/data_parallel.hpp"
#include "../dist/process.hpp"
#include "../io/checkpoint.hpp"
#include "../kernels/arith.hpp"
#include "../kernels/fill.hpp"
#include "../kernels/reduce.hpp"
#include "../layers/loss.hpp"

namespace minidl {

TrainableGraph trainable(Sequential& model) {
  MINIDL_CHECK(model.loss_value() >= 0, ValueError,
               "Trainer: the Sequential has no loss (call loss() before training)");
  return TrainableGraph{&model.graph(), model.output(), model.loss_value()};
}

namespace {

void check_model(const TrainableGraph& m, const char* who) {
  MINIDL_CHECK(m.graph != nullptr, ValueError, who, ": the model's graph is null");
  MINIDL_CHECK(m.logits >= 0 && m.loss >= 0, ValueError, who,
               ": the model needs a logits value and a loss value");
  MINIDL_CHECK(m.graph->built(), ValueError, who, ": build the model's graph first");
}

std::string format_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

double parse_double(const std::map<std::string, std::string>& extra, const std::string& key,
                    const std::string& path) {
  const auto it = extra.find(key);
  MINIDL_CHECK(it != extra.end(), IoError, "Trainer: checkpoint ", path, " does not record ", key);
  try {
    std::size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw IoError(detail::concat("Trainer: checkpoint ", path, ": ", key,
                               " is not a number: ", detail::excerpt(it->second, 64)));
}

// A count recorded in a checkpoint: decimal digits only, at most `max`. stod and
// a cast took "1.9" as 1, "99999999999" as garbage and "nan" as undefined behaviour.
std::int64_t parse_count(const std::map<std::string, std::string>& extra, const std::string& key,
                         const std::string& path, std::int64_t max) {
  const auto it = extra.find(key);
  MINIDL_CHECK(it != extra.end(), IoError, "Trainer: checkpoint ", path, " does not record ", key);
  const std::string& text = it->second;
  // 19 digits fit in a uint64 (an int64 overflows at 9223372036854775808).
  std::uint64_t v = 0;
  bool ok = !text.empty() && text.size() <= 19;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!ok || v > static_cast<std::uint64_t>(max))
    throw IoError(detail::concat("Trainer: checkpoint ", path, ": ", key, " is ",
                                 detail::excerpt(text), ", not a whole number in [0, ", max, "]"));
  return static_cast<std::int64_t>(v);
}

// A finite number recorded in a checkpoint (> 0 when `positive`).
double parse_finite(const std::map<std::string, std::string>& extra, const std::string& key,
                    const std::string& path, bool positive) {
  const double v = parse_double(extra, key, path);
  if (!std::isfinite(v) || (positive && v <= 0))
    throw IoError(detail::concat("Trainer: checkpoint ", path, ": ", key, " is ", v,
                                 positive ? ", not a finite number > 0" : ", not finite"));
  return v;
}

// A float the trainer saved (the running loss, the starting rate): finite within float's
// range, so that the conversion back is defined (> 0 when `positive`).
float parse_float(const std::map<std::string, std::string>& extra, const std::string& key,
                  const std::string& path, bool positive) {
  const double v = parse_finite(extra, key, path, positive);
  if (std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max()))
    throw IoError(detail::concat("Trainer: checkpoint ", path, ": ", key, " is ", v,
                                 ", beyond a float's range"));
  return static_cast<float>(v);
}

// The weight of a batch's loss value in a per-sample sum: its size for a mean-reduced
// loss, 1 for a sum-reduced one (whose value is already the sum over its samples; weighting
// it by the size made the reported losses batch-size times too large; found in review).
bool loss_is_summed(const TrainableGraph& m) {
  const Graph& g = *m.graph;
  for (std::size_t i = 0; i < g.layer_count(); ++i) {
    if (g.layer_output(i) != m.loss) continue;
    const auto* loss = dynamic_cast<const LossLayer*>(&g.layer(i));
    return loss != nullptr && loss->options().reduction == Reduction::Sum;
  }
  return false;
}

}  // namespace

Evaluation evaluate(const TrainableGraph& model, DataLoader& loader) {
  check_model(model, "evaluate");
  Graph& g = *model.graph;
  const LoaderOptions& lo = loader.options();
  const bool sharded = lo.shards > 1;
  if (sharded) {
    const int world = dist::initialized() ? dist::world_size() : 1;
    const int rank = dist::initialized() ? dist::rank() : 0;
    MINIDL_CHECK(lo.shards == world && lo.shard == rank, ValueError, "evaluate: the loader is shard ",
                 lo.shard, " of ", lo.shards, ", but this process is rank ", rank, " of ", world,
                 " (dist::init() and dist::sharded() make them agree)");
  }
  g.eval();
  loader.start_epoch(loader.epoch());
  Evaluation e;
  // The classes from the built logits, so a process whose shard is empty still
  // has a confusion matrix of the right size to combine.
  const Shape& built_logits = g.value_shape(model.logits);
  if (built_logits.rank() == 2)
    e.confusion.assign(static_cast<std::size_t>(built_logits.dim(1)),
                       std::vector<std::int64_t>(static_cast<std::size_t>(built_logits.dim(1)), 0));
  Batch batch;
  const bool summed = loss_is_summed(model);
  double loss_sum = 0;
  std::int64_t correct = 0, seen = 0;
  try {
    while (loader.next(batch)) {
      if (batch.size == 0) continue;  // an empty share of the last batch
      g.forward({batch.x, batch.y});
      loss_sum += static_cast<double>(g.value(model.loss).item<float>()) *
                  (summed ? 1.0 : static_cast<double>(batch.size));
      const Tensor logits = g.value(model.logits);
      MINIDL_CHECK(logits.rank() == 2, ShapeError, "evaluate: the logits must be [batch, classes], got ",
                   logits.shape());
      const auto classes = static_cast<std::size_t>(logits.size(1));
      if (e.confusion.empty()) e.confusion.assign(classes, std::vector<std::int64_t>(classes, 0));
      const auto predicted = argmax(logits).to_vector<std::int32_t>();
      const auto truth = batch.y.to_vector<std::int32_t>();
      for (std::size_t i = 0; i < predicted.size(); ++i) {
        MINIDL_CHECK(truth[i] >= 0 && static_cast<std::size_t>(truth[i]) < classes, ValueError,
                     "evaluate: label ", truth[i], " of sample ", seen + static_cast<std::int64_t>(i),
                     " is outside [0, ", classes, ")");
        ++e.confusion[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(predicted[i])];
        correct += predicted[i] == truth[i];
      }
      seen += batch.size;
    }
  } catch (...) {
    g.train();
    throw;
  }
  g.train();
  if (sharded) {
    std::vector<double> sums{loss_sum};
    dist::all_reduce(sums);
    loss_sum = sums[0];
    std::vector<std::int64_t> counts{seen, correct};
    for (const auto& row : e.confusion) counts.insert(counts.end(), row.begin(), row.end());
    dist::all_reduce(counts);
    seen = counts[0];
    correct = counts[1];
    std::size_t at = 2;
    for (auto& row : e.confusion)
      for (std::int64_t& c : row) c = counts[at++];
  }
  e.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
  e.accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  e.samples = seen;
  return e;
}

Evaluation evaluate(Sequential& model, DataLoader& loader) {
  return evaluate(trainable(model), loader);
}

Trainer::Trainer(Sequential& model, Optimizer& optimizer, TrainerOptions options)
    : Trainer(trainable(model), optimizer, std::move(options)) {}

Trainer::~Trainer() = default;

Trainer::Trainer(const TrainableGraph& model, Optimizer& optimizer, TrainerOptions options)
    : model_(model),
      optimizer_(optimizer),
      options_(std::move(options)),
      base_lr_(optimizer.learning_rate()) {
  check_model(model_, "Trainer");
  check_options();
  if (!options_.resume.empty()) load(options_.resume);
}

void Trainer::check_options() const {
  const TrainerOptions& o = options_;
  MINIDL_CHECK(o.epochs >= 0, ValueError, "Trainer: epochs must be >= 0, got ", o.epochs);
  MINIDL_CHECK(o.report_every >= 1, ValueError, "Trainer: report_every must be >= 1, got ",
               o.report_every);
  MINIDL_CHECK(o.checkpoint_every_steps >= 0, ValueError,
               "Trainer: checkpoint_every_steps must be >= 0, got ", o.checkpoint_every_steps);
  MINIDL_CHECK(o.checkpoint_every_steps == 0 || !o.checkpoint.empty(), ValueError,
               "Trainer: checkpoint_every_steps needs a checkpoint path");
  const ReduceOnPlateau& p = o.reduce_on_plateau;
  MINIDL_CHECK(!p.enabled || (p.factor > 0.0f && p.factor < 1.0f), ValueError,
               "Trainer: reduce_on_plateau.factor must be in (0, 1), got ", p.factor);
  MINIDL_CHECK(!p.enabled || p.patience >= 0, ValueError,
               "Trainer: reduce_on_plateau.patience must be >= 0, got ", p.patience);
  MINIDL_CHECK(!p.enabled || (std::isfinite(p.min_lr) && p.min_lr >= 0.0f), ValueError,
               "Trainer: reduce_on_plateau.min_lr must be finite and >= 0, got ", p.min_lr);
  MINIDL_CHECK(!p.enabled || (std::isfinite(p.min_delta) && p.min_delta >= 0.0), ValueError,
               "Trainer: reduce_on_plateau.min_delta must be finite and >= 0, got ", p.min_delta);
  const EarlyStopping& s = o.early_stopping;
  MINIDL_CHECK(!s.enabled || s.patience >= 1, ValueError,
               "Trainer: early_stopping.patience must be >= 1, got ", s.patience);
  MINIDL_CHECK(!s.enabled || (std::isfinite(s.min_delta) && s.min_delta >= 0.0), ValueError,
               "Trainer: early_stopping.min_delta must be finite and >= 0, got ", s.min_delta);
}

void Trainer::load(const std::string& path) {
  constexpr std::int64_t kMaxEpochs = std::numeric_limits<int>::max();
  constexpr std::int64_t kMaxCount = std::numeric_limits<std::int64_t>::max() / 2;
  const auto extra = load_checkpoint(path, *model_.graph, &optimizer_);
  if (extra.find("trainer.epochs_done") == extra.end()) {
    // A checkpoint written by minidl-train before the trainer moved into the
    // library: whole epochs and the history only.
    epochs_done_ = static_cast<int>(parse_count(extra, "epochs_done", path, kMaxEpochs));
    const auto history = extra.find("history");
    if (history != extra.end()) history_ = parse_metrics_csv(history->second);
    return;
  }
  epochs_done_ = static_cast<int>(parse_count(extra, "trainer.epochs_done", path, kMaxEpochs));
  resume_step_ = parse_count(extra, "trainer.step", path, kMaxCount);
  resume_running_ = parse_float(extra, "trainer.running_loss", path, false);
  resume_images_ = parse_count(extra, "trainer.images", path, kMaxCount);
  base_lr_ = parse_float(extra, "trainer.base_lr", path, false);
  // Reduce-on-plateau only ever lowers the rate: its factor is in (0, 1].
  lr_factor_ = parse_finite(extra, "trainer.lr_factor", path, true);
  MINIDL_CHECK(lr_factor_ <= 1.0, IoError, "Trainer: checkpoint ", path, ": trainer.lr_factor is ",
               lr_factor_, ", not in (0, 1]");
  has_best_ = parse_count(extra, "trainer.has_best", path, 1) != 0;
  plateau_best_ = parse_finite(extra, "trainer.best", path, false);
  // Checkpoints from before the two features kept their own best held one for both.
  stop_best_ = extra.count("trainer.stop_best") != 0
                   ? parse_finite(extra, "trainer.stop_best", path, false)
                   : plateau_best_;
  plateau_epochs_ = static_cast<int>(parse_count(extra, "trainer.plateau_epochs", path, kMaxEpochs));
  stale_epochs_ = static_cast<int>(parse_count(extra, "trainer.stale_epochs", path, kMaxEpochs));
  const auto history = extra.find("trainer.history");
  MINIDL_CHECK(history != extra.end(), IoError, "Trainer: checkpoint ", path,
               " does not record trainer.history");
  history_ = parse_metrics_csv(history->second);
}

void Trainer::save(std::int64_t step_in_epoch, float running_loss, std::int64_t images) {
  char running[40];
  std::snprintf(running, sizeof running, "%.9g", static_cast<double>(running_loss));
  save_checkpoint(options_.checkpoint, *model_.graph, &optimizer_,
                  {{"trainer.epochs_done", std::to_string(epochs_done_)},
                   {"trainer.step", std::to_string(step_in_epoch)},
                   {"trainer.running_loss", running},
                   {"trainer.images", std::to_string(images)},
                   {"trainer.base_lr", format_double(static_cast<double>(base_lr_))},
                   {"trainer.lr_factor", format_double(lr_factor_)},
                   {"trainer.has_best", has_best_ ? "1" : "0"},
                   {"trainer.best", format_double(plateau_best_)},
                   {"trainer.stop_best", format_double(stop_best_)},
                   {"trainer.plateau_epochs", std::to_string(plateau_epochs_)},
                   {"trainer.stale_epochs", std::to_string(stale_epochs_)},
                   {"trainer.history", metrics_csv(history_)}});
}

void Trainer::end_of_epoch(double monitored) {
  const ReduceOnPlateau& p = options_.reduce_on_plateau;
  const EarlyStopping& s = options_.early_stopping;
  // Each feature has its own best, which moves only when its own test passes: a loss that
  // falls by less than min_delta an epoch is not an improvement, however long it falls. A
  // non-finite loss (a NaN validation set) improves nothing and never becomes the best.
  bool plateau_improved = false, stop_improved = false;
  if (std::isfinite(monitored)) {
    plateau_improved = !has_best_ || monitored < plateau_best_ - p.min_delta;
    stop_improved = !has_best_ || monitored < stop_best_ - s.min_delta;
    if (plateau_improved) plateau_best_ = monitored;
    if (stop_improved) stop_best_ = monitored;
    has_best_ = true;
  }
  if (p.enabled) {
    // Saturating: a checkpoint may hold any count up to INT_MAX.
    plateau_epochs_ = plateau_improved ? 0 : std::min(plateau_epochs_, INT_MAX - 1) + 1;
    if (plateau_epochs_ > p.patience) {
      // The rate the epoch's last step used (the schedule's, times the factor so far):
      // min_lr bounds the rate in use, not the optimizer's starting rate.
      const double current = static_cast<double>(optimizer_.learning_rate());
      if (current > static_cast<double>(p.min_lr)) {
        const double reduced =
            std::max(current * static_cast<double>(p.factor), static_cast<double>(p.min_lr));
        lr_factor_ *= reduced / current;
      }
      plateau_epochs_ = 0;
    }
  }
  if (s.enabled) {
    stale_epochs_ = stop_improved ? 0 : std::min(stale_epochs_, INT_MAX - 1) + 1;
    if (stale_epochs_ >= s.patience) stopped_early_ = true;
  }
}

std::vector<EpochMetrics> Trainer::fit(DataLoader& train, DataLoader* validation) {
  using clock = std::chrono::steady_clock;
  Graph& g = *model_.graph;
  const Graph::Value loss_value = model_.loss;
  const Device device = g.device();
  check_options();
  const std::int64_t steps = train.batches_per_epoch();
  // Data parallel (one DataParallel for the trainer's life; the options may turn it off).
  if (!options_.data_parallel) data_parallel_.reset();
  if (options_.data_parallel && !data_parallel_) {
    MINIDL_CHECK(dist::initialized(), ValueError,
                 "Trainer: data_parallel needs dist::init() first (a dist::Session in main)");
    data_parallel_ = std::make_unique<dist::DataParallel>(g, optimizer_);
  }
  const bool parallel = data_parallel_ && data_parallel_->active();
  if (parallel) {
    const LoaderOptions& lo = train.options();
    MINIDL_CHECK(lo.shards == dist::world_size() && lo.shard == dist::rank(), ValueError,
                 "Trainer: data_parallel with ", dist::world_size(),
                 " processes needs the training loader of this process's shard (LoaderOptions "
                 "from dist::sharded()); it is shard ",
                 lo.shard, " of ", lo.shards, " and this process is rank ", dist::rank());
  }
  // The sum over processes of a value each holds (itself with one process).
  auto global_sum = [&](double v) {
    if (!parallel) return v;
    std::vector<double> values{v};
    dist::all_reduce(values);
    return values[0];
  };
  Tensor running = zeros({}, device);  // the epoch's loss sum, kept on the device
  const bool summed = loss_is_summed(model_);
  // DataParallel averages gradients weighted by each process's samples, which is the
  // global batch's gradient for a mean-reduced loss only (dist/data_parallel.hpp).
  MINIDL_CHECK(!(parallel && summed), ValueError,
               "Trainer: data_parallel needs a mean-reduced loss (Reduction::Mean); with "
               "Reduction::Sum the averaged gradients would be scaled wrongly");
  stopped_early_ = options_.early_stopping.enabled &&
                   stale_epochs_ >= options_.early_stopping.patience;
  g.train();

  auto check_finite = [&](float sum, int epoch, std::int64_t step) {
    if (std::isfinite(sum)) return;
    throw DivergedError(detail::concat("training diverged: the running training loss is ", sum,
                                       " at epoch ", epoch, ", step ", step, " of ", steps,
                                       " (it became non-finite after the previous report)"),
                        epoch, step);
  };

  while (!stopped_early_ && epochs_done_ < options_.epochs) {
    const int epoch = epochs_done_;  // 0-based
    train.start_epoch(epoch);
    Batch batch;
    std::int64_t images = 0;        // of the global batches (== local_images with one process)
    std::int64_t local_images = 0;  // this process's samples (its share of the loss)
    std::int64_t done = 0;
    if (resume_step_ > 0) {
      // A mid-epoch checkpoint: the same order, the first steps already taken.
      MINIDL_CHECK(resume_step_ < steps, IoError, "Trainer: the checkpoint resumes at step ",
                   resume_step_, " of an epoch that has ", steps,
                   " steps (written with another batch size or data set?)");
      for (; done < resume_step_ && train.next(batch); ++done) {
      }
      images = resume_images_;
      // The checkpoint's sum is over every process: rank 0 carries it.
      const bool carry = !parallel || dist::rank() == 0;
      fill(running, carry ? static_cast<double>(resume_running_) : 0.0);
      local_images = carry ? resume_images_ : 0;
      resume_step_ = 0;
    } else {
      fill(running, 0.0);
    }
    const auto t0 = clock::now();
    std::int64_t timed_images = 0;
    while (train.next(batch)) {
      optimizer_.zero_grad();
      // An empty share of the last global batch: no forward, but the step (and
      // its all-reduce) all the same.
      if (batch.size > 0) {
        g.forward({batch.x, batch.y});
        g.backward(loss_value);
      }
      if (options_.schedule) {
        const float lr = options_.schedule->learning_rate(optimizer_.steps());
        optimizer_.set_learning_rate(
            lr_factor_ == 1.0 ? lr : static_cast<float>(static_cast<double>(lr) * lr_factor_));
      } else if (lr_factor_ != 1.0) {
        optimizer_.set_learning_rate(static_cast<float>(static_cast<double>(base_lr_) * lr_factor_));
      }
      optimizer_.step();
      if (batch.size > 0)
        axpy(summed ? 1.0f : static_cast<float>(batch.size), g.value(loss_value), running);
      images += batch.global_size;
      local_images += batch.size;
      timed_images += batch.global_size;
      ++done;
      if (options_.on_progress && (done % options_.report_every == 0 || done == steps)) {
        const float sum = running.item<float>();
        check_finite(sum, epoch + 1, done);
        const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
        const double rate = static_cast<double>(timed_images) / std::max(seconds, 1e-9);
        const double left = static_cast<double>(train.size() - images);
        options_.on_progress(Progress{
            epoch + 1, options_.epochs, done, steps,
            static_cast<double>(sum) / static_cast<double>(std::max<std::int64_t>(local_images, 1)),
            rate, left / std::max(rate, 1e-9)});
      }
      if (options_.checkpoint_every_steps > 0 && done % options_.checkpoint_every_steps == 0 &&
          done < steps) {
        const double sum = global_sum(static_cast<double>(running.item<float>()));
        // A diverged run is a DivergedError here as at a report, on every process alike
        // (the sum is global), not a failed save on rank 0 alone.
        check_finite(static_cast<float>(sum), epoch + 1, done);
        if (!parallel || dist::rank() == 0) save(done, static_cast<float>(sum), images);
      }
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    const double sum = global_sum(static_cast<double>(running.item<float>()));
    const double samples = global_sum(static_cast<double>(local_images));
    check_finite(static_cast<float>(sum), epoch + 1, done);
    m.train_loss = sum / std::max(samples, 1.0);
    m.seconds = std::chrono::duration<double>(clock::now() - t0).count();  // item() waited
    m.images_per_second = static_cast<double>(timed_images) / std::max(m.seconds, 1e-9);
    m.learning_rate = optimizer_.learning_rate();
    double monitored = m.train_loss;
    if (validation) {
      // Every process evaluates rank 0's model (the one the checkpoint records): its
      // BatchNorm running statistics, which drift apart between processes (the
      // parameters are equal everywhere already).
      if (parallel) data_parallel_->broadcast_buffers();
      last_eval_ = evaluate(model_, *validation);
      m.val_loss = last_eval_.loss;
      m.val_accuracy = last_eval_.accuracy;
      if (parallel) {
        // Rank 0's numbers everywhere, so every process takes the same plateau and
        // early-stopping decisions (BatchNorm statistics differ per process).
        std::string text = detail::concat(format_double(m.val_loss), ' ',
                                          format_double(m.val_accuracy));
        text = dist::broadcast(text, 0);
        std::istringstream in(text);
        in >> m.val_loss >> m.val_accuracy;
      }
      monitored = m.val_loss;
    }
    if (parallel) {
      // Likewise for the training loss (an all-reduce need not round alike everywhere).
      std::string text = dist::broadcast(format_double(m.train_loss), 0);
      m.train_loss = std::stod(text);
      if (validation == nullptr) monitored = m.train_loss;
    }
    history_.push_back(m);
    ++epochs_done_;
    end_of_epoch(monitored);
    if (!options_.checkpoint.empty() && (!parallel || dist::rank() == 0)) save(0, 0.0f, 0);
    if (options_.on_epoch) options_.on_epoch(m);
  }
  return history_;
}

std::string metrics_csv(const std::vector<EpochMetrics>& history,
                        const std::string& validation_name) {
  std::ostringstream out;
  out.precision(9);
  out << "epoch,train_loss," << validation_name << "_loss," << validation_name
      << "_accuracy,seconds,images_per_second,learning_rate\n";
  for (const EpochMetrics& m : history) {
    out << m.epoch << ',' << m.train_loss << ',' << m.val_loss << ',' << m.val_accuracy << ','
        << m.seconds << ',' << m.images_per_second << ',' << m.learning_rate << '\n';
  }
  return out.str();
}

std::vector<EpochMetrics> parse_metrics_csv(const std::string& csv) {
  std::vector<EpochMetrics> out;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    // Seven comma-separated fields, each read whole with strtol / strtod, which also read
    // the "nan" and "inf" metrics_csv writes for a NaN validation loss (istream >> double
    // does not, and such a checkpoint could not be resumed).
    std::vector<std::string> fields;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    bool ok = fields.size() == 7;
    const auto number = [&](std::size_t k) {
      const std::string& f = fields[k];
      char* end = nullptr;
      const double v = std::strtod(f.c_str(), &end);
      ok = ok && !f.empty() && *end == '\0' && !std::isspace(static_cast<unsigned char>(f[0]));
      return v;
    };
    EpochMetrics m;
    if (ok) {
      const std::string& e = fields[0];
      char* end = nullptr;
      errno = 0;
      const long epoch = std::strtol(e.c_str(), &end, 10);
      ok = !e.empty() && *end == '\0' && errno == 0 && epoch >= 0 && epoch <= INT_MAX &&
           !std::isspace(static_cast<unsigned char>(e[0]));
      m.epoch = static_cast<int>(epoch);
      m.train_loss = number(1);
      m.val_loss = number(2);
      m.val_accuracy = number(3);
      m.seconds = number(4);
      m.images_per_second = number(5);
      m.learning_rate = number(6);
    }
    MINIDL_CHECK(ok, IoError, "metrics CSV: line ", line_no,
                 " is malformed: ", detail::excerpt(line, 120));
    out.push_back(m);
  }
  return out;
}

}  // namespace minidl
