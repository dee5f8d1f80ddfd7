// The SVM's command-line options, one parser for every program that trains an
// SVC: minidl-train --model svm (--svm-c, --svm-kernel, ...) and the
// LIBSVM-compatible minidl-svm-train / minidl-svm-predict (-c, -t, ...). Each
// setting is parsed and checked by one function (set_svm_option), whatever the
// spelling of its option; svc_options turns the result into svm::SvcOptions.
//
// minidl-svm-train follows svm-train's command line (LIBSVM 3.x README):
//   minidl-svm-train [options] training_set_file [model_file]
//   -s svm_type   0 C-SVC (the only type minidl trains; 1-4 are refused by name)
//   -t kernel     0 linear, 1 polynomial, 2 rbf (default), 3 sigmoid (4 precomputed: refused)
//   -d degree (3)  -g gamma (1/num_features; -g 0 too, as svm-train reads it)
//   -r coef0 (0)  -c cost (1)
//   -m cache MB (minidl: the kernel memory budget; default: minidl's, half the RAM)
//   -e epsilon (0.001)  -h shrinking 0|1 (SvcOptions::shrinking;
//   which changes its speed only)  -b probability 0|1  -wi weight (a label the data
//   lacks: svm-train's warning, and ignored)  -v n  -q
// plus minidl's long options: --device, --multi-class ovo|ovr, --threads N,
// --progress (progress on stderr even when it is not a terminal), --seed N (the
// folds of -v and -b 1), --storage auto|dense|sparse (svm::Storage: the data file
// is read as CSR and kept sparse or made dense; minidl-svm-predict takes it too),
// --timings (one line on stderr with the seconds of each phase, -q or not: read, fit,
// write for minidl-svm-train; read_data, read_model, predict, write for
// minidl-svm-predict; PhaseTimings in svm_progress.hpp; both tools take it), --help. Option values
// are checked strictly (svm-train's atof/atoi read "-c abc" as 0): a value out of its domain is a
// ValueError naming the option.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "svm/svc.hpp"

namespace minidl::train {

struct SvmConfig {
  double C = 10.0;  ///< minidl-train's default; minidl-svm-train's is LIBSVM's, 1
  std::string kernel = "rbf";  ///< linear | polynomial | rbf | sigmoid
  /// scale | auto | a number > 0 (auto = 1/d: minidl-train's 1/784, the Fashion-MNIST
  /// paper's setting, and svm-train's default 1/num_features)
  std::string gamma = "auto";
  double tol = 1e-3;
  int degree = 3;
  double coef0 = 0.0;
  std::string multi_class = "ovo";  ///< ovo | ovr
  std::string save_model;           ///< minidl-train: LIBSVM model file to write ("" = none)
  double cache_mb = 0.0;            ///< -m: memory budget in MiB; 0 = minidl's default
  std::map<std::int32_t, double> class_weight;  ///< -wi: C of class i = C * weight
  bool probability = false;                     ///< -b 1
  bool shrinking = true;                        ///< -h 0|1 (SvcOptions::shrinking)
  /// auto | dense | sparse: how the training data is kept (svm::Storage; auto: CSR
  /// below svm::kSparseDensity non-zeros or when dense it would exceed 1 GiB)
  std::string storage = "auto";
};

/// The settings an option can carry.
enum class SvmSetting {
  C,
  Kernel,
  Gamma,
  Tol,
  Degree,
  Coef0,
  MultiClass,
  CacheMb,
  Probability,
  Storage
};

/// Parses `text` as the value of `setting` into `config`. `option` is the option
/// as the user wrote it (for messages: "-c", "--svm-c"). Domains: C in (0, 1e12];
/// kernel a name (linear, poly, polynomial, rbf, sigmoid) or LIBSVM's number 0-3
/// (4, precomputed, is refused); gamma scale, auto or a finite number > 0; tol in
/// (0, 1e6]; degree an integer in [0, 1000]; coef0 finite; multi-class ovo or ovr;
/// cache MiB in (0, 1e9]; probability 0 or 1; storage auto, dense or sparse.
/// ValueError otherwise.
void set_svm_option(SvmConfig& config, SvmSetting setting, const std::string& option,
                    const std::string& text);

/// -w<label> <weight>: label an int32, weight finite and > 0, each label once.
void set_svm_class_weight(SvmConfig& config, const std::string& option,
                          const std::string& label_text, const std::string& weight_text);

/// The SvcOptions a checked config means (cache_mb -> memory_budget in bytes).
svm::SvcOptions svc_options(const SvmConfig& config);

/// svm::Storage for a checked storage name (auto, dense, sparse).
svm::Storage svm_storage(const std::string& name);

/// --help: what() is the help text (stdout, exit status 0).
class SvmHelpRequested : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SvmTrainCommand {
  SvmConfig svm;                ///< C defaults to 1 here, as svm-train's
  std::string training_file;
  std::string model_file;       ///< default: the training file's name + ".model", in "."
  int folds = 0;                ///< -v n (>= 2); 0: train and save a model
  bool quiet = false;           ///< -q
  bool progress = false;        ///< --progress: show it on stderr even when not a terminal
  bool timings = false;         ///< --timings: seconds per phase on stderr (also with -q)
  std::string device = "auto";  ///< auto (CUDA when present), cpu, cuda, cuda:N
  int threads = 0;              ///< 0 = all cores
  std::uint64_t seed = 1;       ///< folds of -v and of -b 1's internal cross-validation
};

/// Parses minidl-svm-train's argv (argv[0] is the program). Throws SvmHelpRequested
/// for --help, ValueError naming the option (or the missing file) otherwise.
SvmTrainCommand parse_svm_train_command(int argc, const char* const argv[]);

struct SvmPredictCommand {
  std::string test_file, model_file, output_file;
  bool probability = false;  ///< -b 1
  bool quiet = false;        ///< -q
  std::string device = "auto";
  int threads = 0;
  std::string storage = "auto";  ///< --storage: the test data's and the model's storage
  bool timings = false;          ///< --timings: seconds per phase on stderr (also with -q)
};

/// Parses minidl-svm-predict's argv: [options] test_file model_file output_file
/// with -b 0|1, -q, --device, --threads, --storage, --timings, --help.
SvmPredictCommand parse_svm_predict_command(int argc, const char* const argv[]);

std::string svm_train_usage();
std::string svm_predict_usage();

}  // namespace minidl::train
