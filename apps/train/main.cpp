// minidl-train: trains a model on Fashion-MNIST and reports how it did.
//
//   minidl-train                        # MLP 784-256-128-10, Adam, 10 epochs, GPU if present
//   minidl-train --device cpu --epochs 3 --optimizer sgd --lr 0.05
//   minidl-train --save ckpt.safetensors --epochs 5
//   minidl-train --resume ckpt.safetensors --epochs 10   # continues with epoch 6
//   minidl-train --model cnn            # 2 x (conv 5x5 same + ReLU + max-pool 2), dense 1024
//   minidl-train --export-onnx model.onnx   # the trained model for ONNX Runtime & co.
//   mpirun -np 4 minidl-train ...       # data-parallel: --batch is the global batch
//
// Writes <out>/metrics.csv (per epoch), <out>/curves.svg (loss and accuracy
// curves; open it in a browser) and <out>/confusion.csv.
//
// Under mpirun (or srun) every process runs this program; rank 0 alone prints,
// writes the outputs and the checkpoints (training/trainer.hpp), the others
// train and evaluate their shard silently. An error on any rank ends the whole
// job (dist::abort) with "[rank r] error: minidl-train: <message>".
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/info.hpp"
#include "dist/process.hpp"
#include "io/onnx_export.hpp"
#include "options.hpp"
#include "report.hpp"
#include "svm_task.hpp"
#include "trainer.hpp"

namespace {

using namespace minidl;
using namespace minidl::train;

int run(int argc, char** argv) {
  const int world = dist::world_size();
  const bool rank0 = dist::rank() == 0;
  // Only rank 0 prints: the other ranks' standard output goes nowhere (their errors
  // still reach stderr, through dist::abort).
  if (!rank0) std::cout.rdbuf(nullptr);
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const HelpRequested& help) {
    std::cout << help.what();
    return 0;
  }
  // Everything that can be wrong with the outputs is found now, not after training
  // (on rank 0, the one that writes them; every rank reads --resume).
  check_paths(options, rank0);
  TrainConfig& config = options.train;
  SvmConfig& svm_config = options.svm;
  const std::string& data_dir = options.data_dir;
  const std::string& out_dir = options.out_dir;
  const bool no_progress = options.no_progress;
  if (options.threads > 0) {
    set_cpu_threads(options.threads);
  } else if (dist::local_size() > 1 && std::getenv("OMP_NUM_THREADS") == nullptr) {
    // Processes sharing a node share its cores: all of them each would oversubscribe.
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    set_cpu_threads(std::max(1, cores / dist::local_size()));
  }
  if (options.device == "auto") {
    // One GPU per process on a node: local rank r uses GPU r (modulo the count).
    config.device = cuda_available()
                        ? Device::cuda(dist::local_rank() % std::max(1, cuda_device_count()))
                        : Device::cpu();
  } else {
    config.device = Device::parse(options.device);
    if (config.device.is_cuda() && world > 1 && options.device == "cuda")
      config.device = Device::cuda(dist::local_rank() % std::max(1, cuda_device_count()));
    check_device(config.device);
  }

  std::cout << "minidl " << version() << " on " << config.device;
  if (world > 1) std::cout << " x " << world << " processes";
  if (config.device.is_cuda())
    std::cout << " (" << CudaContext::get(config.device.index()).info().name << ")";
  if (config.model == "svm") {
    std::cout << "\n";
  } else if (config.resume.empty()) {
    std::cout << ", " << config.optimizer << " lr " << config.lr << ", batch " << config.batch
              << ", seed " << config.seed << "\n";
  } else {
    std::cout << ", batch " << config.batch << ", seed " << config.seed << "\nresuming "
              << config.resume
              << ": the weights, the optimizer's state and its learning rate come from the "
                 "checkpoint (--lr, --momentum and --weight-decay are for new runs)\n";
  }
  const Dataset train_set = load_fashion_mnist(FashionMnistSplit::Train, data_dir);
  const Dataset test_set = load_fashion_mnist(FashionMnistSplit::Test, data_dir);
  for (const auto& [set, split] : {std::pair{&train_set, "training"}, std::pair{&test_set, "test"}})
    MINIDL_CHECK(set->images.size(0) > 0, IoError, "the Fashion-MNIST ", split, " split in ",
                 fashion_mnist_dir(data_dir), " holds 0 images: nothing to ",
                 set == &train_set ? "train on" : "evaluate");
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
    if (!options.train_limit_given && config.device.is_cpu()) limit = 10000;
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
    if (!rank0) return 0;
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
  if (!config.resume.empty()) {
    std::cout << "resuming from " << config.resume << " after epoch " << trainer.start_epoch()
              << " of " << config.epochs << ", " << config.optimizer << " lr "
              << trainer.optimizer().learning_rate() << "\n";
    if (trainer.start_epoch() >= config.epochs)
      std::cout << "the checkpoint has already done " << trainer.start_epoch()
                << " epochs and --epochs is " << config.epochs
                << ": nothing to train (raise --epochs to continue); evaluating it\n";
  }

  const bool tty = rank0 && !no_progress && ::isatty(STDOUT_FILENO);
  auto on_progress = [&](const Progress& p) {
    std::cout << "\r" << progress_line(p) << "\x1b[K" << std::flush;
  };
  auto on_epoch = [&](const EpochMetrics& m) {
    if (tty) std::cout << "\r\x1b[K";
    std::cout << epoch_line(m, config.epochs) << std::endl;
  };
  const std::vector<EpochMetrics> history =
      trainer.run(tty ? std::function<void(const Progress&)>(on_progress) : nullptr,
                  rank0 ? std::function<void(const EpochMetrics&)>(on_epoch) : nullptr);

  const Evaluation& final_eval = trainer.final_evaluation();
  std::cout << "\ntest accuracy " << std::fixed;
  std::cout.precision(2);
  std::cout << 100.0 * final_eval.accuracy << "% (" << final_eval.samples
            << " images)\n\nconfusion matrix:\n"
            << confusion_table(final_eval, class_names);

  if (!rank0) return 0;
  write_confusion(final_eval);
  write_text_file(out_dir + "/metrics.csv", test_metrics_csv(history));
  write_text_file(out_dir + "/curves.svg", curves_svg(history));
  std::cout << "\nwrote " << out_dir << "/metrics.csv, " << out_dir << "/curves.svg, " << out_dir
            << "/confusion.csv";
  if (!config.save.empty()) std::cout << ", checkpoint " << config.save;
  const std::string& export_path = options.export_onnx;
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
    // A process started by mpirun / srun joins the job; otherwise a world of one.
    minidl::dist::Session session;
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Messages name what is wrong; the program's name is added here, once.
    const std::string message = "minidl-train: " + shorten_tokens(e.what());
    // With other processes waiting in a collective, end the whole job, not just
    // this process (dist/process.hpp: never finalize after an error on one rank).
    if (minidl::dist::initialized() && minidl::dist::world_size() > 1)
      minidl::dist::abort(message);
    std::cerr << message << "\n";
    return 1;
  }
}
