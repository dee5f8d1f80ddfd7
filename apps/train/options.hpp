// minidl-train's command line: parsing, and every check that can be made before
// the data is loaded and the first epoch starts, so that a mistake costs seconds,
// not a training run.
//
// Rules:
//   - every number is checked for its domain (a learning rate is finite and > 0,
//     --dropout is in [0, 0.95], counts are >= 0, --seed is a decimal uint64, ...);
//     NaN, negative or out-of-range values are errors, never silently replaced;
//   - every value --help offers works (--svm-kernel poly and polynomial alike);
//   - options that the chosen model does not use are errors (--svm-save with
//     --model mlp, --save with --model svm), as are combinations that cannot be
//     honoured (--svm-multi-class ovr with --svm-save: LIBSVM's format is
//     one-vs-one);
//   - outputs (--out, --save, --svm-save) are checked writable, and --resume
//     readable, before anything is loaded;
//   - resuming continues the checkpoint's run: its weights, optimizer state and
//     learning rate; --lr, --momentum and --weight-decay are for new runs and are
//     an error with --resume (the banner states the rule).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "svm_task.hpp"
#include "trainer.hpp"

namespace minidl::train {

struct Options {
  TrainConfig train;       ///< the model, optimizer and data limits (device resolved later)
  SvmConfig svm;           ///< --model svm
  std::string device = "auto";
  std::string data_dir;    ///< "" = $MINIDL_FASHION_MNIST_DIR or the default folder
  std::string out_dir = "minidl-train-output";
  std::string export_onnx;  ///< ONNX file written after training ("" = none; mlp and cnn)
  int threads = 0;         ///< 0 = all cores
  bool no_progress = false;
  bool train_limit_given = false;  ///< --train-limit on the command line (svm's CPU default)
};

/// --help: what() is the help text, to print on stdout with exit status 0.
class HelpRequested : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses argv (argv[0] is the program) and checks every value and combination
/// that needs no file system access. Throws HelpRequested for --help, ValueError
/// naming the option for anything wrong (CLI11's messages included; a value is quoted
/// with at most 64 of its bytes, and any other token longer than 120 bytes is cut short:
/// shorten_tokens).
Options parse_options(int argc, const char* const argv[]);

/// The checks that look at the file system, run before any data is loaded:
/// --out is (or can be created as) a writable folder, --save, --svm-save and
/// --export-onnx can be
/// written (a missing folder, a directory or a device node are errors), --resume
/// is a readable regular file. IoError naming the option. Without `outputs` only
/// --resume is checked (the ranks of a distributed run other than 0, which write
/// nothing but read the checkpoint).
void check_paths(const Options& options, bool outputs = true);

/// `text` with every whitespace-separated token longer than `max` bytes cut to
/// its first `max` bytes plus "...(N bytes)": a 5 MB argument is not echoed. The
/// default is above what detail::excerpt leaves, so that excerpts pass unchanged.
std::string shorten_tokens(const std::string& text, std::size_t max = 120);

}  // namespace minidl::train
