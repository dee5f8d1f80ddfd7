#include "trainer.hpp"

#include <chrono>
#include <cmath>
#include <sstream>

#include "data/loader.hpp"
#include "io/checkpoint.hpp"
#include "kernels/arith.hpp"
#include "kernels/fill.hpp"
#include "kernels/reduce.hpp"
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

Dataset first_rows(const Dataset& d, std::int64_t limit) {
  if (limit <= 0 || limit >= d.images.size(0)) return d;
  std::vector<std::int64_t> dims = d.images.shape().dims();
  dims[0] = limit;
  return Dataset{Tensor(d.images.storage(), Shape(dims), DType::Float32),
                 Tensor(d.labels.storage(), Shape{limit}, DType::Int32)};
}

namespace {

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
      detail::concat("minidl-train: unknown optimizer '", c.optimizer, "' (sgd, adam or adamw)"));
}

LoaderOptions loader_options(const TrainConfig& c, bool shuffle) {
  LoaderOptions o;
  o.batch_size = c.batch;
  o.shuffle = shuffle;
  o.seed = c.seed;
  o.device = c.device;
  o.mean = kFashionMnistTrainMean;
  o.stddev = kFashionMnistTrainStd;
  return o;
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
  MINIDL_CHECK(config.model == "mlp", ValueError, "minidl-train: unknown model '", config.model,
               "' (mlp or cnn)");
  Sequential net({features}, config.device, config.seed);
  add_classifier(net, config);
  return net;
}

namespace {
ConvBackend parse_conv_backend(const std::string& name) {
  for (ConvBackend b : {ConvBackend::Auto, ConvBackend::Cpu, ConvBackend::Cudnn, ConvBackend::Own})
    if (name == conv_backend_name(b)) return b;
  throw ValueError(detail::concat("minidl-train: unknown convolution backend '", name,
                                  "' (auto, cpu, cudnn or own)"));
}
}  // namespace

Sequential build_cnn(const TrainConfig& config, std::int64_t features) {
  MINIDL_CHECK(config.model == "cnn", ValueError, "minidl-train: build_cnn for model '",
               config.model, "'");
  std::int64_t side = 1;
  while (side * side < features) ++side;
  MINIDL_CHECK(side * side == features, ShapeError, "minidl-train: the CNN needs square images, ",
               "got ", features, " features per sample");
  Sequential net({features}, config.device, config.seed);
  net.add(std::make_shared<Reshape>(Shape{1, side, side}), "image");
  Conv2dOptions conv = Conv2dOptions::same();
  conv.backend = parse_conv_backend(config.conv_backend);
  int k = 0;
  for (std::int64_t channels : config.conv_channels) {
    ++k;
    net.add(std::make_shared<Conv2d>(channels, config.conv_kernel, conv),
            "conv" + std::to_string(k));
    net.add(relu_layer());
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

Trainer::Trainer(TrainConfig config, Dataset train, Dataset test)
    : config_(std::move(config)),
      train_(first_rows(train, config_.train_limit)),
      test_(first_rows(test, config_.test_limit)) {
  MINIDL_CHECK(config_.epochs >= 0, ValueError, "minidl-train: --epochs must be >= 0");
  MINIDL_CHECK(config_.batch >= 1, ValueError, "minidl-train: --batch must be >= 1");
  MINIDL_CHECK(config_.lr_schedule == "constant" || config_.lr_schedule == "cosine", ValueError,
               "minidl-train: unknown learning-rate schedule '", config_.lr_schedule,
               "' (constant or cosine)");
  const std::int64_t features = train_.images.numel() / train_.images.size(0);
  model_ = std::make_unique<Sequential>(build_model(config_, features));
  optimizer_ = make_optimizer(config_, model_->graph().parameters());
  if (!config_.resume.empty()) {
    const auto extra = load_checkpoint(config_.resume, model_->graph(), optimizer_.get());
    const auto epochs = extra.find("epochs_done");
    MINIDL_CHECK(epochs != extra.end(), IoError, "minidl-train: ", config_.resume,
                 " does not record epochs_done");
    start_epoch_ = std::stoi(epochs->second);
    const auto history = extra.find("history");
    if (history != extra.end()) history_ = parse_metrics_csv(history->second);
  }
}

Evaluation Trainer::evaluate() {
  Graph& g = model_->graph();
  g.eval();
  DataLoader loader(test_.images, test_.labels, loader_options(config_, false));
  const Graph::Value logits = model_->output();
  Evaluation e;
  Batch batch;
  double loss_sum = 0;
  std::int64_t correct = 0, seen = 0;
  while (loader.next(batch)) {
    g.forward({batch.x, batch.y});
    loss_sum += static_cast<double>(g.value(model_->loss_value()).item<float>()) *
                static_cast<double>(batch.size);
    const auto predicted = argmax(g.value(logits)).to_vector<std::int32_t>();
    const auto truth = batch.y.to_vector<std::int32_t>();
    for (std::size_t i = 0; i < predicted.size(); ++i) {
      ++e.confusion[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(predicted[i])];
      correct += predicted[i] == truth[i];
    }
    seen += batch.size;
  }
  g.train();
  e.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
  e.accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  e.samples = seen;
  return e;
}

std::vector<EpochMetrics> Trainer::run(const std::function<void(const Progress&)>& on_progress,
                                       const std::function<void(const EpochMetrics&)>& on_epoch) {
  using clock = std::chrono::steady_clock;
  Graph& g = model_->graph();
  DataLoader loader(train_.images, train_.labels, loader_options(config_, true));
  Tensor running = zeros({}, config_.device);  // the epoch's loss sum, kept on the device
  const std::int64_t batches = loader.batches_per_epoch();
  std::unique_ptr<LrSchedule> schedule;
  if (config_.lr_schedule == "cosine" && config_.epochs > 0 && batches > 0)
    schedule = std::make_unique<CosineLr>(config_.lr, std::int64_t{config_.epochs} * batches);
  for (int epoch = start_epoch_; epoch < config_.epochs; ++epoch) {
    loader.start_epoch(epoch);
    fill(running, 0.0);
    const auto t0 = clock::now();
    Batch batch;
    std::int64_t images = 0;
    while (loader.next(batch)) {
      optimizer_->zero_grad();
      g.forward({batch.x, batch.y});
      g.backward(model_->loss_value());
      if (schedule) apply_schedule(*schedule, *optimizer_);
      optimizer_->step();
      axpy(static_cast<float>(batch.size), g.value(model_->loss_value()), running);
      images += batch.size;
      if (on_progress && (batch.index % 10 == 9 || batch.index + 1 == batches)) {
        const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
        const double rate = static_cast<double>(images) / std::max(seconds, 1e-9);
        on_progress(
            Progress{epoch + 1, config_.epochs, batch.index + 1, batches,
                     static_cast<double>(running.item<float>()) / static_cast<double>(images), rate,
                     static_cast<double>(train_.images.size(0) - images) / std::max(rate, 1e-9)});
      }
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.train_loss = static_cast<double>(running.item<float>()) /
                   static_cast<double>(std::max<std::int64_t>(images, 1));
    m.seconds = std::chrono::duration<double>(clock::now() - t0)
                    .count();  // item() above waited for the GPU
    m.images_per_second = static_cast<double>(images) / std::max(m.seconds, 1e-9);
    m.learning_rate = optimizer_->learning_rate();
    final_ = evaluate();
    m.test_loss = final_.loss;
    m.test_accuracy = final_.accuracy;
    history_.push_back(m);
    if (!config_.save.empty()) save_checkpoint_now(epoch + 1, history_);
    if (on_epoch) on_epoch(m);
  }
  if (start_epoch_ >= config_.epochs) final_ = evaluate();
  return history_;
}

void Trainer::save_checkpoint_now(int epochs_done, const std::vector<EpochMetrics>& history) {
  save_checkpoint(
      config_.save, model_->graph(), optimizer_.get(),
      {{"epochs_done", std::to_string(epochs_done)}, {"history", metrics_csv(history)}});
}

std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  std::ostringstream out;
  out.precision(9);
  out << "epoch,train_loss,test_loss,test_accuracy,seconds,images_per_second,learning_rate\n";
  for (const EpochMetrics& m : history) {
    out << m.epoch << ',' << m.train_loss << ',' << m.test_loss << ',' << m.test_accuracy << ','
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
    EpochMetrics m;
    char c1, c2, c3, c4, c5, c6;
    std::istringstream row(line);
    row >> m.epoch >> c1 >> m.train_loss >> c2 >> m.test_loss >> c3 >> m.test_accuracy >> c4 >>
        m.seconds >> c5 >> m.images_per_second >> c6 >> m.learning_rate;
    MINIDL_CHECK(!row.fail() && c1 == ',' && c6 == ',', IoError, "metrics CSV: line ", line_no,
                 " is malformed: '", line, "'");
    out.push_back(m);
  }
  return out;
}

}  // namespace minidl::train
