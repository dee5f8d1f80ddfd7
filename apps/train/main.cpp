// minidl-train: trains a model on Fashion-MNIST and reports how it did.
//
//   minidl-train                        # MLP 784-256-128-10, Adam, 10 epochs, GPU if present
//   minidl-train --device cpu --epochs 3 --optimizer sgd --lr 0.05
//   minidl-train --save ckpt.safetensors --epochs 5
//   minidl-train --resume ckpt.safetensors --epochs 10   # continues with epoch 6
//
// Writes <out>/metrics.csv (per epoch), <out>/curves.svg (loss and accuracy
// curves; open it in a browser) and <out>/confusion.csv.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/info.hpp"
#include "report.hpp"
#include "trainer.hpp"

namespace {

using namespace minidl;
using namespace minidl::train;

std::vector<std::int64_t> parse_sizes(const std::string& text) {
  std::vector<std::int64_t> sizes;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v <= 0) throw std::invalid_argument("bad");
      sizes.push_back(v);
    } catch (const std::exception&) {
      throw ValueError("--hidden: '" + item +
                       "' is not a positive layer size (expected e.g. 256,128)");
    }
  }
  return sizes;
}

int run(int argc, char** argv) {
  CLI::App app{"minidl-train: train a model on Fashion-MNIST with minidl"};
  TrainConfig config;
  std::string device = "auto", hidden = "256,128", data_dir, out_dir = "minidl-train-output";
  float lr = -1.0f;
  int threads = 0;
  bool no_progress = false;
  app.add_option("--model", config.model, "Model: mlp")->check(CLI::IsMember({"mlp"}));
  app.add_option("--hidden", hidden, "MLP hidden layer sizes, comma-separated")
      ->capture_default_str();
  app.add_option("--dropout", config.dropout, "Dropout after each hidden layer (0 = none)")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--epochs", config.epochs, "Epochs to train (in total, when resuming)")
      ->capture_default_str();
  app.add_option("--batch", config.batch, "Batch size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--optimizer", config.optimizer, "sgd, adam or adamw")
      ->capture_default_str()
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  app.add_option("--lr", lr, "Learning rate (default: 1e-3 for adam/adamw, 0.05 for sgd)");
  app.add_option("--momentum", config.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", config.weight_decay, "Weight decay")->capture_default_str();
  app.add_option("--seed", config.seed, "Seed for initialisation, shuffling and dropout")
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads for OpenMP and OpenBLAS (default: all cores)");
  app.add_option("--save", config.save, "Checkpoint to write after every epoch (safetensors)");
  app.add_option("--resume", config.resume, "Checkpoint to continue from");
  app.add_option("--data", data_dir,
                 "Fashion-MNIST folder (default: $MINIDL_FASHION_MNIST_DIR or "
                 "/usr/share/datasets/fashion-mnist)");
  app.add_option("--out", out_dir, "Folder for metrics.csv, curves.svg and confusion.csv")
      ->capture_default_str();
  app.add_option("--train-limit", config.train_limit,
                 "Use only the first N training images (0 = all)");
  app.add_option("--test-limit", config.test_limit, "Use only the first N test images (0 = all)");
  app.add_flag("--no-progress", no_progress, "No progress bar even on a terminal");
  CLI11_PARSE(app, argc, argv);

  if (threads > 0) set_cpu_threads(threads);
  config.hidden = parse_sizes(hidden);
  config.lr = lr > 0 ? lr : (config.optimizer == "sgd" ? 0.05f : 1e-3f);
  if (device == "auto") {
    config.device = cuda_available() ? Device::cuda() : Device::cpu();
  } else {
    config.device = Device::parse(device);
    check_device(config.device);
  }

  std::cout << "minidl " << version() << " on " << config.device;
  if (config.device.is_cuda())
    std::cout << " (" << CudaContext::get(config.device.index()).info().name << ")";
  std::cout << ", " << config.optimizer << " lr " << config.lr << ", batch " << config.batch
            << ", seed " << config.seed << "\n";
  const Dataset train_set = load_fashion_mnist(FashionMnistSplit::Train, data_dir);
  const Dataset test_set = load_fashion_mnist(FashionMnistSplit::Test, data_dir);
  std::cout << "Fashion-MNIST from " << fashion_mnist_dir(data_dir) << ": "
            << train_set.images.size(0) << " train, " << test_set.images.size(0)
            << " test images\n";

  Trainer trainer(config, train_set, test_set);
  std::cout << trainer.model().graph().summary();
  if (trainer.start_epoch() > 0)
    std::cout << "resuming from " << config.resume << " after epoch " << trainer.start_epoch()
              << "\n";

  const bool tty = !no_progress && ::isatty(STDOUT_FILENO);
  auto on_progress = [&](const Progress& p) {
    std::cout << "\r" << progress_line(p) << "\x1b[K" << std::flush;
  };
  auto on_epoch = [&](const EpochMetrics& m) {
    if (tty) std::cout << "\r\x1b[K";
    std::cout << epoch_line(m, config.epochs) << std::endl;
  };
  const std::vector<EpochMetrics> history =
      trainer.run(tty ? std::function<void(const Progress&)>(on_progress) : nullptr, on_epoch);

  const Evaluation& final_eval = trainer.final_evaluation();
  const auto& names = fashion_mnist_class_names();
  const std::vector<std::string> class_names(names.begin(), names.end());
  std::cout << "\ntest accuracy " << std::fixed;
  std::cout.precision(2);
  std::cout << 100.0 * final_eval.accuracy << "% (" << test_set.images.size(0)
            << " images)\n\nconfusion matrix:\n"
            << confusion_table(final_eval, class_names);

  std::filesystem::create_directories(out_dir);
  std::ostringstream confusion_csv;
  confusion_csv << "true\\predicted";
  for (const std::string& n : class_names) confusion_csv << ',' << n;
  confusion_csv << '\n';
  for (std::size_t i = 0; i < 10; ++i) {
    confusion_csv << class_names[i];
    for (std::size_t j = 0; j < 10; ++j) confusion_csv << ',' << final_eval.confusion[i][j];
    confusion_csv << '\n';
  }
  write_text_file(out_dir + "/metrics.csv", metrics_csv(history));
  write_text_file(out_dir + "/curves.svg", curves_svg(history));
  write_text_file(out_dir + "/confusion.csv", confusion_csv.str());
  std::cout << "\nwrote " << out_dir << "/metrics.csv, " << out_dir << "/curves.svg, " << out_dir
            << "/confusion.csv";
  if (!config.save.empty()) std::cout << ", checkpoint " << config.save;
  std::cout << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "minidl-train: " << e.what() << "\n";
    return 1;
  }
}
