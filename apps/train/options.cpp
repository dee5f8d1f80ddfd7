// minidl-train's command line (the rules are in options.hpp). Numbers are taken
// as text and parsed here, strictly: CLI11 would turn "--seed -1" into 2^64 - 1
// and accept "nan" for a float.
#include "options.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "option_values.hpp"
#include "svm_options.hpp"

namespace minidl::train {
namespace {

std::uint64_t parse_seed(const std::string& text) {
  std::uint64_t v = 0;
  bool ok = !text.empty() && text.size() <= 20;
  for (char c : text) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      ok = false;
      break;
    }
    v = v * 10 + digit;
  }
  if (!ok) bad_value("--seed", text, "is not an integer in [0, 18446744073709551615]");
  return v;
}

// "256,128": positive sizes up to `max`, no empty items ("64," and ",64" are errors).
std::vector<std::int64_t> parse_sizes(const std::string& option, const std::string& text,
                                      long long max) {
  std::vector<std::int64_t> sizes;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos
                                                                           : comma - start);
    if (item.empty())
      bad_value(option, text, "has an empty item (expected sizes separated by commas, e.g. 256,128)");
    sizes.push_back(parse_integer(option, item, 1, max));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return sizes;
}

}  // namespace

std::string shorten_tokens(const std::string& text, std::size_t max) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j - i > max) {
      out += text.substr(i, max) + "...(" + std::to_string(j - i) + " bytes)";
    } else {
      out += text.substr(i, j - i);
    }
    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) out += text[j++];
    i = j;
  }
  return out;
}

Options parse_options(int argc, const char* const argv[]) {
  CLI::App app{"minidl-train: train a model on Fashion-MNIST with minidl"};
  Options o;
  TrainConfig& c = o.train;
  SvmConfig& s = o.svm;
  std::string hidden, dropout, channels = "32,64", epochs, batch = "128", lr, lr_schedule,
                      momentum = "0.9", weight_decay = "0", seed = "1", threads = "0",
                      train_limit = "0", test_limit = "0", svm_c = "10", svm_tol = "0.001";
  app.add_option("--model", c.model,
                 "Model: mlp, cnn (TensorFlow's Fashion-MNIST tutorial CNN) or svm (kernel SVM)")
      ->capture_default_str();
  app.add_option("--hidden", hidden,
                 "Hidden Dense layer sizes, comma-separated (default: 256,128 for mlp, 1024 for "
                 "cnn)");
  app.add_option("--dropout", dropout,
                 "Dropout after each hidden Dense layer, in [0, 0.95] (default: 0 for mlp, 0.4 "
                 "for cnn)");
  app.add_option("--channels", channels, "cnn: output channels of each 5x5 conv + pool stage")
      ->capture_default_str();
  app.add_option("--conv-backend", c.conv_backend, "cnn: auto, cpu, onednn, cudnn or own (auto: on the CPU onednn where minidl has "
                 "it and it is the faster, on CUDA cudnn)")
      ->capture_default_str();
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--epochs", epochs,
                 "Epochs to train, in total when resuming (default: 10 for mlp, 15 for cnn)");
  app.add_option("--batch", batch, "Batch size (>= 1)")->capture_default_str();
  app.add_option("--optimizer", c.optimizer, "sgd, adam or adamw")->capture_default_str();
  app.add_option("--lr", lr,
                 "Learning rate, > 0 (default: 1e-3 for adam/adamw, 0.05 for sgd; a resumed run "
                 "keeps its checkpoint's)");
  app.add_option("--lr-schedule", lr_schedule,
                 "constant, or cosine (annealed to 0 over --epochs; default: constant for mlp, "
                 "cosine for cnn)");
  app.add_option("--momentum", momentum, "SGD momentum, in [0, 1)")->capture_default_str();
  app.add_option("--weight-decay", weight_decay, "Weight decay, >= 0")->capture_default_str();
  app.add_option("--seed", seed, "Seed for initialisation, shuffling and dropout")
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads for OpenMP and OpenBLAS (0 = all cores)")
      ->capture_default_str();
  app.add_option("--save", c.save, "Checkpoint to write after every epoch (safetensors)");
  app.add_option("--resume", c.resume, "Checkpoint to continue from");
  app.add_option("--export-onnx", o.export_onnx,
                 "After training, write the model as ONNX (opset 13; input x [batch, 784], "
                 "output the logits)");
  app.add_option("--data", o.data_dir,
                 "Fashion-MNIST folder (default: $MINIDL_FASHION_MNIST_DIR or "
                 "/usr/share/datasets/fashion-mnist)");
  app.add_option("--out", o.out_dir, "Folder for metrics.csv, curves.svg and confusion.csv")
      ->capture_default_str();
  app.add_option("--train-limit", train_limit,
                 "Use only the first N training images (0 = all; svm on a CPU: 10000)");
  app.add_option("--test-limit", test_limit, "Use only the first N test images (0 = all)")
      ->capture_default_str();
  app.add_flag("--no-progress", o.no_progress, "No progress bar even on a terminal");
  app.add_option("--svm-c", svm_c, "svm: C, > 0")->capture_default_str();
  app.add_option("--svm-kernel", s.kernel, "svm: linear, poly (polynomial), rbf or sigmoid")
      ->capture_default_str();
  app.add_option("--svm-gamma", s.gamma, "svm: scale, auto (1/784) or a number > 0")
      ->capture_default_str();
  app.add_option("--svm-tol", svm_tol, "svm: stopping tolerance, > 0 (LIBSVM's -e)")
      ->capture_default_str();
  app.add_option("--svm-multi-class", s.multi_class, "svm: ovo (one-vs-one) or ovr")
      ->capture_default_str();
  app.add_option("--svm-save", s.save_model,
                 "svm: write the model in LIBSVM's format (one-vs-one only)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    throw HelpRequested(app.help());
  } catch (const CLI::ParseError& e) {
    throw ValueError(shorten_tokens(e.what()) + " (see --help)");
  }
  const auto given = [&](const char* name) { return app.count(name) > 0; };

  check_member("--model", c.model, {"mlp", "cnn", "svm"});
  check_member("--conv-backend", c.conv_backend, {"auto", "cpu", "onednn", "cudnn", "own"});
  check_member("--optimizer", c.optimizer, {"sgd", "adam", "adamw"});
  const bool nn = c.model != "svm";
  const TrainConfig cnn = cnn_config();
  const TrainConfig mlp;
  const TrainConfig& defaults = c.model == "cnn" ? cnn : mlp;

  // Options a model does not use are mistakes, not something to ignore.
  const auto only_for = [&](std::initializer_list<const char*> names, bool applies,
                            const char* models) {
    for (const char* n : names)
      if (given(n) && !applies)
        throw ValueError(detail::concat(n, " applies to ", models, " only (this run is --model ",
                                        c.model, ")"));
  };
  if (given("--export-onnx") && !nn)
    throw ValueError(
        "--export-onnx: the SVM has no ONNX export (use --svm-save for a LIBSVM model)");
  only_for({"--channels", "--conv-backend"}, c.model == "cnn", "--model cnn");
  only_for({"--hidden", "--dropout", "--epochs", "--batch", "--optimizer", "--lr", "--lr-schedule",
            "--momentum", "--weight-decay", "--save", "--resume", "--export-onnx"},
           nn, "--model mlp and cnn");
  only_for({"--svm-c", "--svm-kernel", "--svm-gamma", "--svm-tol", "--svm-multi-class",
            "--svm-save"},
           !nn, "--model svm");
  only_for({"--momentum"}, c.optimizer == "sgd", "--optimizer sgd");

  c.hidden = given("--hidden") ? parse_sizes("--hidden", hidden, 65536) : defaults.hidden;
  c.conv_channels = parse_sizes("--channels", channels, 4096);
  c.dropout = given("--dropout")
                  ? static_cast<float>(parse_real("--dropout", dropout, 0.0, false, 0.95))
                  : defaults.dropout;
  c.epochs = given("--epochs") ? static_cast<int>(parse_integer("--epochs", epochs, 0, 1000000))
                               : defaults.epochs;
  c.batch = parse_integer("--batch", batch, 1, 1 << 20);
  c.lr_schedule = given("--lr-schedule") ? lr_schedule : defaults.lr_schedule;
  check_member("--lr-schedule", c.lr_schedule, {"constant", "cosine"});
  c.lr = given("--lr") ? static_cast<float>(parse_real("--lr", lr, 0.0, true, 1e6))
                       : (c.optimizer == "sgd" ? 0.05f : 1e-3f);
  c.momentum = static_cast<float>(parse_real("--momentum", momentum, 0.0, false, 0.999999));
  c.weight_decay = static_cast<float>(parse_real("--weight-decay", weight_decay, 0.0, false, 1e6));
  c.seed = parse_seed(seed);
  o.threads = static_cast<int>(parse_integer("--threads", threads, 0, 4096));
  c.train_limit = parse_integer("--train-limit", train_limit, 0, std::numeric_limits<std::int64_t>::max());
  c.test_limit = parse_integer("--test-limit", test_limit, 0, std::numeric_limits<std::int64_t>::max());
  o.train_limit_given = given("--train-limit");

  // A resumed run continues its checkpoint's optimizer: a new rate would be
  // ignored, so asking for one is an error rather than a silent no-op.
  if (!c.resume.empty()) {
    for (const char* n : {"--lr", "--momentum", "--weight-decay"})
      if (given(n))
        throw ValueError(detail::concat(
            n, " cannot change a resumed run: --resume continues with the checkpoint's weights, "
               "optimizer state and learning rate (start a new run to change ",
            n, ")"));
  }

  // The SVM's values: one parser with minidl-svm-train (svm_options.hpp).
  set_svm_option(s, SvmSetting::C, "--svm-c", svm_c);
  set_svm_option(s, SvmSetting::Tol, "--svm-tol", svm_tol);
  set_svm_option(s, SvmSetting::Kernel, "--svm-kernel", s.kernel);
  set_svm_option(s, SvmSetting::Gamma, "--svm-gamma", s.gamma);
  set_svm_option(s, SvmSetting::MultiClass, "--svm-multi-class", s.multi_class);
  if (!s.save_model.empty() && s.multi_class == "ovr")
    throw ValueError(
        "--svm-save with --svm-multi-class ovr: LIBSVM's model format holds one-vs-one models "
        "only (use --svm-multi-class ovo, or drop --svm-save)");
  if (o.device != "auto") {
    try {
      (void)Device::parse(o.device);
    } catch (const Error& e) {
      throw ValueError(detail::concat("--device: ", shorten_tokens(e.what())));
    }
  }
  return o;
}

void check_paths(const Options& o, bool outputs) {
  if (outputs) {
    check_writable_folder(o.out_dir, "--out");
    if (!o.train.save.empty()) check_writable(o.train.save, "--save");
    if (!o.svm.save_model.empty()) check_writable(o.svm.save_model, "--svm-save");
    if (!o.export_onnx.empty()) check_writable(o.export_onnx, "--export-onnx");
  }
  if (!o.train.resume.empty()) {
    struct stat st {};
    if (::stat(o.train.resume.c_str(), &st) != 0)
      throw IoError(detail::concat("--resume: cannot read ", detail::excerpt(o.train.resume), ": ",
                                   errno_text(errno)));
    if (!S_ISREG(st.st_mode))
      throw IoError(detail::concat("--resume: ", detail::excerpt(o.train.resume),
                                   " is not a regular file"));
    if (::access(o.train.resume.c_str(), R_OK) != 0)
      throw IoError(detail::concat("--resume: cannot read ", detail::excerpt(o.train.resume), ": ",
                                   errno_text(errno)));
  }
}

}  // namespace minidl::train
