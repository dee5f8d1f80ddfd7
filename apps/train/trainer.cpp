#include "trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>


#include "data/loader.hpp"
#include "dist/data_parallel.hpp"
#include "dist/process.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "layers/activation.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/pool.hpp"
#include "layers/structural.hpp"
#include "optim/adam.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"

namespace minidl::train {

Dataset first_rows(const Dataset& d, std::int64_t limit) { return first_samples(d, limit); }

namespace {

// The rate a resumed run started with (the Trainer's "trainer.base_lr" extra), so that
// its schedule continues the same curve: minidl-train refuses --lr with --resume,
// so config.lr is only the default there. A checkpoint without it (written before
// the library Trainer) keeps `fallback`; a malformed value is left to the
// Trainer's own checks when it loads the checkpoint.
float checkpoint_base_lr(const std::string& path, float fallback) {
  const auto meta = load_safetensors(path).metadata;
  const auto it = meta.find("user.trainer.base_lr");  // save_checkpoint's prefix for extras
  if (it == meta.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str() || *end != '\0' || !std::isfinite(v) || v <= 0.0) return fallback;
  return static_cast<float>(v);
}

// Rank r's dropout seed: SplitMix64's mix of seed + r * golden ratio.
std::uint64_t rank_seed(std::uint64_t seed, int rank) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(rank);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c,
                                          const std::vector<Parameter*>& params) {
  if (c.optimizer == "sgd") {
    return std::make_unique<Sgd>(params, SgdOptions{c.lr, c.momentum, false, c.weight_decay});
  }
  if (c.optimizer == "adam") {
    AdamOptions o;
    o.learning_rate = c.lr;
    o.weight_decay = c.weight_decay;
    return std::make_unique<Adam>(params, o);
  }
  if (c.optimizer == "adamw") {
    AdamWOptions o;
    o.learning_rate = c.lr;
    o.weight_decay = c.weight_decay;
    return std::make_unique<AdamW>(params, o);
  }
  throw ValueError(
      detail::concat("unknown optimizer '", c.optimizer, "' (sgd, adam or adamw)"));
}

// --batch is the global batch; under mpirun each process loads its share of it
// (dist::sharded: shard = rank, shards = world size).
LoaderOptions loader_options(const TrainConfig& c, bool shuffle) {
  LoaderOptions o;
  o.batch_size = c.batch;
  o.shuffle = shuffle;
  o.seed = c.seed;
  o.device = c.device;
  o.mean = kFashionMnistTrainMean;
  o.stddev = kFashionMnistTrainStd;
  return dist::initialized() ? dist::sharded(o) : o;
}

// Both models' head: Dense(h) + ReLU (+ Dropout) per hidden size, Dense(10) "logits",
// softmax cross-entropy on int32 labels; then builds the graph for the batch size.
void add_classifier(Sequential& net, const TrainConfig& config) {
  for (std::int64_t h : config.hidden) {
    net.add(std::make_shared<Dense>(h)).add(relu_layer());
    if (config.dropout > 0.0f) net.add(std::make_shared<Dropout>(config.dropout));
  }
  net.add(std::make_shared<Dense>(10), "logits");
  net.loss(softmax_cross_entropy_loss(LossOptions{Reduction::Mean, false}), {}, DType::Int32);
  net.build(config.batch);
}

}  // namespace

Sequential build_mlp(const TrainConfig& config, std::int64_t features) {
  MINIDL_CHECK(config.model == "mlp", ValueError, "unknown model '", config.model,
               "' (mlp or cnn)");
  Sequential net({features}, config.device, config.seed);
  add_classifier(net, config);
  return net;
}

Sequential build_cnn(const TrainConfig& config, std::int64_t features) {
  MINIDL_CHECK(config.model == "cnn", ValueError, "build_cnn for model '",
               config.model, "'");
  std::int64_t side = 1;
  while (side * side < features) ++side;
  MINIDL_CHECK(side * side == features, ShapeError, "the CNN needs square images, ",
               "got ", features, " features per sample");
  Sequential net({features}, config.device, config.seed);
  net.add(std::make_shared<Reshape>(Shape{1, side, side}), "image");
  Conv2dOptions conv = Conv2dOptions::same();
  conv.backend = parse_conv_backend(config.conv_backend);
  // Conv2d + ReLU as one layer (layers/conv.hpp): the same values, the ReLU fused into
  // oneDNN's convolution and no separate ReLU pass in either direction.
  conv.activation = Activation::ReLU;
  int k = 0;
  for (std::int64_t channels : config.conv_channels) {
    ++k;
    net.add(std::make_shared<Conv2d>(channels, config.conv_kernel, conv),
            "conv" + std::to_string(k));
    net.add(std::make_shared<MaxPool2d>(2), "pool" + std::to_string(k));
  }
  net.add(std::make_shared<Flatten>());
  add_classifier(net, config);
  return net;
}

Sequential build_model(const TrainConfig& config, std::int64_t features) {
  if (config.model == "cnn") return build_cnn(config, features);
  return build_mlp(config, features);
}

TrainConfig cnn_config() {
  TrainConfig c;
  c.model = "cnn";
  c.hidden = {1024};
  c.dropout = 0.4f;
  c.conv_channels = {32, 64};
  c.conv_kernel = 5;
  c.optimizer = "adam";
  c.lr = 1e-3f;
  c.lr_schedule = "cosine";
  c.epochs = 15;
  c.batch = 128;
  return c;
}

TrainingRun::TrainingRun(TrainConfig config, Dataset train, Dataset test)
    : config_(std::move(config)),
      train_(first_rows(train, config_.train_limit)),
      test_(first_rows(test, config_.test_limit)) {
  MINIDL_CHECK(config_.epochs >= 0, ValueError, "--epochs must be >= 0");
  MINIDL_CHECK(config_.batch >= 1, ValueError, "--batch must be >= 1");
  MINIDL_CHECK(config_.lr_schedule == "constant" || config_.lr_schedule == "cosine", ValueError,
               "unknown learning-rate schedule '", config_.lr_schedule,
               "' (constant or cosine)");
  // 0 images would divide by zero below (SIGFPE before this check).
  MINIDL_CHECK(train_.images.defined() && train_.images.rank() == 2 && train_.images.size(0) > 0,
               ValueError, "the training set is empty (",
               train_.images.defined() ? train_.images.description() : std::string("undefined"),
               "): nothing to train on");
  MINIDL_CHECK(test_.images.defined() && test_.images.size(0) > 0, ValueError,
               "the test set is empty: nothing to evaluate on");
  const int world = dist::initialized() ? dist::world_size() : 1;
  if (world > 1 && config_.batch % world != 0) {
    const std::int64_t down = config_.batch / world * world;
    throw ValueError(detail::concat(
        "--batch ", config_.batch, " is the global batch, shared equally by the ", world,
        " processes: it must be a multiple of ", world, " (e.g. --batch ",
        down > 0 ? detail::concat(down, " or ") : std::string(), down + world, ")"));
  }
  const std::int64_t features = train_.images.size(1);
  if (!config_.resume.empty()) config_.lr = checkpoint_base_lr(config_.resume, config_.lr);
  train_loader_ = std::make_unique<DataLoader>(train_.images, train_.labels,
                                               loader_options(config_, true));
  test_loader_ =
      std::make_unique<DataLoader>(test_.images, test_.labels, loader_options(config_, false));
  // Each process's model takes its share of a global batch (all of it in a world of one).
  TrainConfig local = config_;
  local.batch = config_.batch / world;
  model_ = std::make_unique<Sequential>(build_model(local, features));
  optimizer_ = make_optimizer(config_, model_->graph().parameters());
  TrainerOptions o;
  o.epochs = config_.epochs;
  const std::int64_t batches = train_loader_->batches_per_epoch();
  if (config_.lr_schedule == "cosine" && config_.epochs > 0 && batches > 0)
    o.schedule = std::make_shared<CosineLr>(config_.lr, std::int64_t{config_.epochs} * batches);
  o.checkpoint = config_.save;
  o.resume = config_.resume;
  o.report_every = 10;
  o.data_parallel = dist::initialized();  // a no-op in a world of one
  trainer_ = std::make_unique<Trainer>(*model_, *optimizer_, std::move(o));
  start_epoch_ = trainer_->epochs_done();
  // Dropout: every process's graph generator starts from the same seed (and a
  // resumed run restores rank 0's position everywhere), so without this each
  // process would draw the masks rank 0 draws for its share. Rank r > 0 switches to
  // its own stream at the same offset: independent masks per process, resumable
  // (the checkpoint keeps rank 0's seed, and this runs again after the load).
  if (world > 1 && dist::rank() > 0) {
    Generator& gen = model_->graph().generator();
    const std::uint64_t offset = gen.offset();
    gen = Generator(rank_seed(gen.seed(), dist::rank()));
    gen.set_offset(offset);
  }
}

Evaluation TrainingRun::evaluate() { return minidl::evaluate(*model_, *test_loader_); }

std::vector<EpochMetrics> TrainingRun::run(
    const std::function<void(const Progress&)>& on_progress,
    const std::function<void(const EpochMetrics&)>& on_epoch) {
  trainer_->options().on_progress = on_progress;
  trainer_->options().on_epoch = on_epoch;
  const std::vector<EpochMetrics> history = trainer_->fit(*train_loader_, test_loader_.get());
  final_ = start_epoch_ >= config_.epochs ? evaluate() : trainer_->last_evaluation();
  return history;
}

std::string test_metrics_csv(const std::vector<EpochMetrics>& history) {
  return metrics_csv(history, "test");
}

}  // namespace minidl::train
