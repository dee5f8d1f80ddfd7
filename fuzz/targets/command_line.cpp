// Fuzz target "command_line": the command lines of minidl-train (parse_options),
// minidl-svm-train and minidl-svm-predict (parse_svm_train_command,
// parse_svm_predict_command; apps/train/), which read what users type.
//
// Input: the first byte picks the program (its value mod 3, in that order); the
// rest is its arguments, separated by NUL bytes (argv[0] is the program's name).
// Checks, beyond "no crash, only minidl::Error or the help request":
//   - every whitespace-free token of an error message is short: the parsers quote at
//     most 64 bytes of a value (detail::excerpt) and cut any other token to 120 bytes
//     (shorten_tokens, options.hpp), so a megabyte argument never comes back as a
//     megabyte message;
//   - what parses is in the documented domains (options.hpp, svm_options.hpp), and
//     an SVM configuration that parses converts to svm::SvcOptions.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "../../apps/train/options.hpp"
#include "../../apps/train/svm_options.hpp"
#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

namespace {

// The longest whitespace-free token a message may hold: shorten_tokens' 120 bytes and
// its "...(N" (" bytes)" follows a space); a 64-byte excerpt in quotes is shorter.
constexpr std::size_t kMaxMessageToken = 120 + 24;

void check_message(const std::string& program, const std::string& message) {
  std::size_t run = 0;
  for (const char c : message) {
    run = std::isspace(static_cast<unsigned char>(c)) ? 0 : run + 1;
    if (run > kMaxMessageToken)
      violated(program + ": an error message quotes more than " + std::to_string(kMaxMessageToken) +
               " bytes of one token: " + message.substr(0, 300));
  }
}

void require(bool ok, const std::string& program, const char* what) {
  if (!ok) violated(program + " accepted " + what);
}

bool one_of(const std::string& v, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (v == n) return true;
  return false;
}

bool device_ok(const std::string& d) {
  if (d == "auto") return true;
  try {
    (void)Device::parse(d);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// The SVM settings every program checks the same way (svm_options.hpp's domains).
void check_svm(const train::SvmConfig& s, const std::string& program) {
  require(s.C > 0 && s.C <= 1e12, program, "a C outside (0, 1e12]");
  require(one_of(s.kernel, {"linear", "polynomial", "rbf", "sigmoid"}), program,
          "a kernel name that is not canonical");
  if (s.gamma != "scale" && s.gamma != "auto") {
    const double g = std::strtod(s.gamma.c_str(), nullptr);
    require(std::isfinite(g) && g > 0, program, "a gamma that is not > 0");
  }
  require(s.tol > 0 && s.tol <= 1e6, program, "a tolerance outside (0, 1e6]");
  require(s.degree >= 0 && s.degree <= 1000, program, "a degree outside [0, 1000]");
  require(std::isfinite(s.coef0), program, "a non-finite coef0");
  require(one_of(s.multi_class, {"ovo", "ovr"}), program, "a multi-class mode not ovo or ovr");
  require(s.cache_mb == 0 || (s.cache_mb > 0 && s.cache_mb <= 1e9), program,
          "a cache size outside (0, 1e9]");
  require(one_of(s.storage, {"auto", "dense", "sparse"}), program, "an unknown storage");
  for (const auto& [label, weight] : s.class_weight)
    require(std::isfinite(weight) && weight > 0 && weight <= 1e12, program,
            "a class weight outside (0, 1e12]");
  try {
    (void)train::svc_options(s);
  } catch (const Error& e) {
    violated(program + ": a configuration that parsed does not convert: " + e.what());
  }
}

void check_train(const train::Options& o) {
  const std::string p = "minidl-train";
  const train::TrainConfig& c = o.train;
  require(one_of(c.model, {"mlp", "cnn", "svm"}), p, "an unknown model");
  require(one_of(c.optimizer, {"sgd", "adam", "adamw"}), p, "an unknown optimizer");
  require(one_of(c.lr_schedule, {"constant", "cosine"}), p, "an unknown schedule");
  require(one_of(c.conv_backend, {"auto", "cpu", "onednn", "cudnn", "own"}), p,
          "an unknown convolution backend");
  for (const std::int64_t h : c.hidden)
    require(h >= 1 && h <= 65536, p, "a hidden size out of range");
  for (const std::int64_t ch : c.conv_channels)
    require(ch >= 1 && ch <= 4096, p, "a channel count out of range");
  require(c.dropout >= 0.0f && c.dropout <= 0.95f, p, "a dropout outside [0, 0.95]");
  require(c.epochs >= 0 && c.epochs <= 1000000, p, "an epoch count out of range");
  require(c.batch >= 1 && c.batch <= (1 << 20), p, "a batch size out of range");
  require(std::isfinite(c.lr) && c.lr > 0.0f, p, "a learning rate that is not > 0");
  require(c.momentum >= 0.0f && c.momentum < 1.0f, p, "a momentum outside [0, 1)");
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0.0f, p, "a negative weight decay");
  require(o.threads >= 0 && o.threads <= 4096, p, "a thread count out of range");
  require(c.train_limit >= 0 && c.test_limit >= 0, p, "a negative data limit");
  require(device_ok(o.device), p, "a device that does not parse");
  check_svm(o.svm, p);
}

void check_svm_train(const train::SvmTrainCommand& cmd) {
  const std::string p = "minidl-svm-train";
  require(!cmd.training_file.empty() && !cmd.model_file.empty(), p, "an empty file name");
  require(cmd.folds == 0 || cmd.folds >= 2, p, "-v below 2");
  require(cmd.threads >= 0 && cmd.threads <= 4096, p, "a thread count out of range");
  require(device_ok(cmd.device), p, "a device that does not parse");
  require(!(cmd.svm.multi_class == "ovr" && cmd.folds == 0), p,
          "one-vs-rest without -v (no model file could hold it)");
  check_svm(cmd.svm, p);
}

void check_svm_predict(const train::SvmPredictCommand& cmd) {
  const std::string p = "minidl-svm-predict";
  require(cmd.threads >= 0 && cmd.threads <= 4096, p, "a thread count out of range");
  require(device_ok(cmd.device), p, "a device that does not parse");
  require(one_of(cmd.storage, {"auto", "dense", "sparse"}), p, "an unknown storage");
  require(!cmd.test_file.empty() && !cmd.model_file.empty() && !cmd.output_file.empty(), p,
          "an empty file name");
}

}  // namespace

int command_line(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* const programs[] = {"minidl-train", "minidl-svm-train", "minidl-svm-predict"};
  const int which = data[0] % 3;
  std::vector<std::string> args{programs[which]};
  std::string current;
  for (std::size_t i = 1; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (size > 1) args.push_back(current);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const int argc = static_cast<int>(argv.size());
  try {
    switch (which) {
      case 0:
        check_train(train::parse_options(argc, argv.data()));
        break;
      case 1:
        check_svm_train(train::parse_svm_train_command(argc, argv.data()));
        break;
      default:
        check_svm_predict(train::parse_svm_predict_command(argc, argv.data()));
        break;
    }
  } catch (const train::HelpRequested&) {
  } catch (const train::SvmHelpRequested&) {
  } catch (const Error& e) {
    check_message(programs[which], e.what());
  }
  return 0;
}

}  // namespace minidl::fuzz
