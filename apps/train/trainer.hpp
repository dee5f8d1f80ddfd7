// What minidl-train adds to the library's Trainer (training/trainer.hpp): the
// Fashion-MNIST models and optimizers built from its command-line configuration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "data/loader.hpp"
#include "layers/sequential.hpp"
#include "optim/optimizer.hpp"
#include "training/trainer.hpp"

namespace minidl::train {

struct TrainConfig {
  std::string model = "mlp";                   // mlp | cnn
  std::vector<std::int64_t> hidden{256, 128};  // hidden Dense sizes (the CNN's: {1024})
  float dropout = 0.0f;                        // after each hidden Dense + ReLU
  // cnn only: a 5x5 `same` Conv2d + ReLU + 2x2 max-pool per entry, then the hidden
  // Dense layers. conv_backend: auto | cpu | onednn | cudnn | own (kernels/conv2d.hpp).
  std::vector<std::int64_t> conv_channels{32, 64};
  std::int64_t conv_kernel = 5;
  std::string conv_backend = "auto";
  Device device = Device::cpu();
  int epochs = 10;
  std::int64_t batch = 128;
  std::string optimizer = "adam";  // sgd | adam | adamw
  float lr = 1e-3f;
  // constant | cosine: cosine annealing from lr to 0 over all of --epochs' steps
  // (optim/schedule.hpp's CosineLr; a resumed run continues it from the optimizer's step).
  std::string lr_schedule = "constant";
  float momentum = 0.9f;  // sgd
  float weight_decay = 0.0f;
  std::uint64_t seed = 1;
  std::string save;              // checkpoint written after every epoch ("" = none)
  std::string resume;            // checkpoint to start from ("" = none)
  std::int64_t train_limit = 0;  // use only the first N training images (0 = all)
  std::int64_t test_limit = 0;
};

/// The MLP: Dense(h) + ReLU (+ Dropout) per hidden size, Dense(10), softmax cross-entropy.
Sequential build_mlp(const TrainConfig& config, std::int64_t features);

/// The CNN (TensorFlow's Fashion-MNIST tutorial model with cnn_config()):
/// Reshape [B, features] -> [B, 1, S, S] (features = S * S, else ShapeError), per
/// conv_channels entry Conv2d(k x k, same) + ReLU + MaxPool2d(2), Flatten, per
/// hidden size Dense + ReLU (+ Dropout), Dense(10), softmax cross-entropy.
Sequential build_cnn(const TrainConfig& config, std::int64_t features);

/// build_mlp or build_cnn by config.model (ValueError for another name).
Sequential build_model(const TrainConfig& config, std::int64_t features);

/// The CNN's defaults: conv 5x5 32 + pool, conv 5x5 64 + pool, Dense 1024 +
/// dropout 0.4, Dense 10; Adam, lr 1e-3 annealed to 0 by a cosine over 15 epochs,
/// batch 128.
TrainConfig cnn_config();

/// minidl-train's run on Fashion-MNIST: builds the model and the optimizer from the
/// configuration, restores --resume, and trains with the library's Trainer
/// (training/trainer.hpp), evaluating on the test set after every epoch.
class TrainingRun {
 public:
  TrainingRun(TrainConfig config, Dataset train, Dataset test);

  /// Trains up to config.epochs; calls `on_progress` every 10 batches (when set; each
  /// call reads the loss back, a GPU synchronisation) and `on_epoch` after each epoch.
  /// Returns every epoch's metrics, including those restored from a checkpoint, and
  /// leaves the test set's last evaluation in final_evaluation().
  std::vector<EpochMetrics> run(const std::function<void(const Progress&)>& on_progress,
                                const std::function<void(const EpochMetrics&)>& on_epoch);
  /// The model on the test set.
  Evaluation evaluate();

  Sequential& model() { return *model_; }
  Optimizer& optimizer() { return *optimizer_; }
  const Evaluation& final_evaluation() const { return final_; }
  /// Epochs already done when run() starts (from --resume).
  int start_epoch() const { return start_epoch_; }

 private:
  TrainConfig config_;
  Dataset train_;
  Dataset test_;
  std::unique_ptr<Sequential> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<DataLoader> train_loader_;
  std::unique_ptr<DataLoader> test_loader_;
  std::unique_ptr<Trainer> trainer_;
  int start_epoch_ = 0;
  Evaluation final_;
};

/// The first `limit` samples of d (a view, no copy); all of them when limit <= 0.
Dataset first_rows(const Dataset& d, std::int64_t limit);

/// minidl-train's metrics.csv: the library's metrics_csv with the columns test_loss
/// and test_accuracy.
std::string test_metrics_csv(const std::vector<EpochMetrics>& history);

}  // namespace minidl::train
