// minidl-train: trains a model on Fashion-MNIST and reports how it did.
//
//   minidl-train                        # MLP 784-256-128-10, Adam, 10 epochs, GPU if present
//   minidl-train --device cpu --epochs 3 --optimizer sgd --lr 0.05
//   minidl-train --save ckpt.safetensors --epochs 5
//   minidl-train --resume ckpt.safetensors --epochs 10   # continues with epoch 6
//   minidl-train --model cnn            # 2 x (conv 5x5 same + ReLU + max-pool 2), dense 1024
//   minidl-train --export-onnx model.onnx   # the trained model for ONNX Runtime & co.
//
// Writes <out>/metrics.csv (per epoch), <out>/curves.svg (loss and accuracy
// curves; open it in a browser) and <out>/confusion.csv.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/info.hpp"
#include "io/atomic_file.hpp"
#include "io/onnx_export.hpp"
#include "report.hpp"
#include "svm_task.hpp"
#include "trainer.hpp"

namespace {

using namespace minidl;
using namespace minidl::train;

std::vector<std::int64_t> parse_sizes(const std::string& text, const char* option = "--hidden") {
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
      throw ValueError(std::string(option) + ": '" + item +
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
  std::string channels = "32,64";
  app.add_option("--model", config.model,
                 "Model: mlp, cnn (TensorFlow's Fashion-MNIST tutorial CNN) or svm (kernel SVM)")
      ->capture_default_str()
      ->check(CLI::IsMember({"mlp", "cnn", "svm"}));
  app.add_option(
      "--hidden", hidden,
      "Hidden Dense layer sizes, comma-separated (default: 256,128 for mlp, 1024 for cnn)");
  app.add_option("--dropout", config.dropout,
                 "Dropout after each hidden Dense layer (default: 0 for mlp, 0.4 for cnn)")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--channels", channels, "cnn: output channels of each 5x5 conv + pool stage")
      ->capture_default_str();
  app.add_option("--conv-backend", config.conv_backend, "cnn: auto, cpu, cudnn or own")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cudnn", "own"}));
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
  app.add_option("--lr-schedule", config.lr_schedule,
                 "constant, or cosine (annealed to 0 over --epochs; default: constant for mlp, "
                 "cosine for cnn)")
      ->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--momentum", config.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", config.weight_decay, "Weight decay")->capture_default_str();
  app.add_option("--seed", config.seed, "Seed for initialisation, shuffling and dropout")
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads for OpenMP and OpenBLAS (default: all cores)");
  app.add_option("--save", config.save, "Checkpoint to write after every epoch (safetensors)");
  app.add_option("--resume", config.resume, "Checkpoint to continue from");
  std::string export_path;
  app.add_option("--export-onnx", export_path,
                 "After training, write the model as ONNX (opset 13; input x [batch, 784], "
                 "output the logits)");
  app.add_option("--data", data_dir,
                 "Fashion-MNIST folder (default: $MINIDL_FASHION_MNIST_DIR or "
                 "/usr/share/datasets/fashion-mnist)");
  app.add_option("--out", out_dir, "Folder for metrics.csv, curves.svg and confusion.csv")
      ->capture_default_str();
  app.add_option("--train-limit", config.train_limit,
                 "Use only the first N training images (0 = all)");
  app.add_option("--test-limit", config.test_limit, "Use only the first N test images (0 = all)");
  app.add_flag("--no-progress", no_progress, "No progress bar even on a terminal");
  SvmConfig svm_config;
  app.add_option("--svm-c", svm_config.C, "svm: C")->capture_default_str();
  app.add_option("--svm-kernel", svm_config.kernel, "svm: linear, poly, rbf or sigmoid")
      ->capture_default_str()
      ->check(CLI::IsMember({"linear", "poly", "rbf", "sigmoid"}));
  app.add_option("--svm-gamma", svm_config.gamma, "svm: scale, auto (1/784) or a number")
      ->capture_default_str();
  app.add_option("--svm-tol", svm_config.tol, "svm: stopping tolerance (LIBSVM's -e)")
      ->capture_default_str();
  app.add_option("--svm-multi-class", svm_config.multi_class, "svm: ovo (one-vs-one) or ovr")
      ->capture_default_str();
  app.add_option("--svm-save", svm_config.save_model, "svm: write the model in LIBSVM's format");
  CLI11_PARSE(app, argc, argv);

  if (threads > 0) set_cpu_threads(threads);
  MINIDL_CHECK(export_path.empty() || config.model != "svm", ValueError,
               "--export-onnx: the SVM has no ONNX export (use --svm-save for a LIBSVM model)");
  if (!export_path.empty()) check_writable(export_path, "--export-onnx");
  if (config.model == "cnn") {
    const TrainConfig cnn = cnn_config();
    if (app.count("--hidden") == 0) hidden = "1024";
    if (app.count("--dropout") == 0) config.dropout = cnn.dropout;
    if (app.count("--lr-schedule") == 0) config.lr_schedule = cnn.lr_schedule;
    if (app.count("--epochs") == 0) config.epochs = cnn.epochs;
    config.conv_channels = parse_sizes(channels, "--channels");
  }
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

  const auto& names = fashion_mnist_class_names();
  const std::vector<std::string> class_names(names.begin(), names.end());
  auto write_confusion = [&](const Evaluation& e) {
    std::ostringstream csv;
    csv << "true\\predicted";
    for (const std::string& n : class_names) csv << ',' << n;
    csv << '\n';
    for (std::size_t i = 0; i < 10; ++i) {
      csv << class_names[i];
      for (std::size_t j = 0; j < 10; ++j) csv << ',' << e.confusion[i][j];
      csv << '\n';
    }
    std::filesystem::create_directories(out_dir);
    write_text_file(out_dir + "/confusion.csv", csv.str());
  };

  if (config.model == "svm") {
    // The dual needs an n x n kernel matrix: on a CPU, default to the first
    // 10,000 training images (the CPU setting); on a GPU, all of them.
    std::int64_t limit = config.train_limit;
    if (app.count("--train-limit") == 0 && config.device.is_cpu()) limit = 10000;
    const Dataset svm_train = first_rows(train_set, limit);
    const Dataset svm_test = first_rows(test_set, config.test_limit);
    std::cout << "SVC C " << svm_config.C << ", kernel " << svm_config.kernel << ", gamma "
              << svm_config.gamma << ", " << svm_config.multi_class << ", on "
              << svm_train.images.size(0) << " training images\n";
    const SvmReport r = run_svm(svm_config, config.device, svm_train, svm_test);
    std::cout << "fit " << std::fixed << std::setprecision(2) << r.fit_seconds << " s, predict "
              << r.predict_seconds << " s, " << r.support_vectors
              << " support vectors\n\ntest accuracy " << 100.0 * r.evaluation.accuracy << "% ("
              << r.evaluation.samples << " images)\n\nconfusion matrix:\n"
              << confusion_table(r.evaluation, class_names);
    write_confusion(r.evaluation);
    std::ostringstream metrics;
    metrics.precision(9);
    metrics << "train_images,fit_seconds,predict_seconds,support_vectors,test_accuracy\n"
            << r.train_samples << ',' << r.fit_seconds << ',' << r.predict_seconds << ','
            << r.support_vectors << ',' << r.evaluation.accuracy << '\n';
    write_text_file(out_dir + "/svm_metrics.csv", metrics.str());
    std::cout << "\nwrote " << out_dir << "/svm_metrics.csv, " << out_dir << "/confusion.csv";
    if (!svm_config.save_model.empty()) std::cout << ", model " << svm_config.save_model;
    std::cout << "\n";
    return 0;
  }

  TrainingRun trainer(config, train_set, test_set);
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
  std::cout << "\ntest accuracy " << std::fixed;
  std::cout.precision(2);
  std::cout << 100.0 * final_eval.accuracy << "% (" << final_eval.samples
            << " images)\n\nconfusion matrix:\n"
            << confusion_table(final_eval, class_names);

  write_confusion(final_eval);
  write_text_file(out_dir + "/metrics.csv", test_metrics_csv(history));
  write_text_file(out_dir + "/curves.svg", curves_svg(history));
  std::cout << "\nwrote " << out_dir << "/metrics.csv, " << out_dir << "/curves.svg, " << out_dir
            << "/confusion.csv";
  if (!config.save.empty()) std::cout << ", checkpoint " << config.save;
  if (!export_path.empty()) {
    export_onnx(trainer.model().graph(), export_path);
    std::cout << ", ONNX model " << export_path;
  }
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
