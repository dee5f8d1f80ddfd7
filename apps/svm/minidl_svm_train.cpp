// minidl-svm-train: LIBSVM's svm-train command line and files, trained by minidl's
// SVC (the options: apps/train/svm_options.hpp, or --help).
//
//   minidl-svm-train -c 10 -g 0.05 train.libsvm            # writes train.libsvm.model
//   minidl-svm-train -b 1 -t 0 train.libsvm model          # with probA / probB
//   minidl-svm-train -v 5 -q train.libsvm                  # "Cross Validation Accuracy = ..%"
//
// What it prints on stdout follows svm-train (per sub-problem "optimization
// finished, #iter = ..", "nu", "obj, rho", "nSV, nBSV", then "Total nSV"), so
// scripts that read svm-train's output read this one; -q silences it, except the
// cross-validation accuracy, which svm-train prints with -q too. Progress goes to
// stderr on a terminal (or with --progress). The model file is LIBSVM's: svm-predict
// reads it. --timings prints the seconds of each phase on stderr at the end, -q or not:
//   timings: read=0.412s fit=1.070s write=0.105s total=1.613s
// (probability= with -b 1; read= and cross_validation= with -v n).
//
// The training file is read as CSR (svm/libsvm_format.hpp) and kept sparse or made
// dense once, by --storage (svm::with_storage; auto: by density): training, -b 1's
// internal cross-validation and -v n all work on that one copy, so a set with 10^6
// feature indices never becomes an n x d matrix.
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <utility>

#include "core/device.hpp"
#include "core/info.hpp"
#include "io/atomic_file.hpp"
#include "option_values.hpp"
#include "svm/cross_validation.hpp"
#include "svm/libsvm_format.hpp"
#include "svm/model_file.hpp"
#include "svm/probability.hpp"
#include "svm/svc.hpp"
#include "svm_options.hpp"
#include "svm_progress.hpp"

namespace {

using namespace minidl;
using namespace minidl::train;

Device resolve_device(const std::string& name) {
  if (name == "auto") return cuda_available() ? Device::cuda() : Device::cpu();
  const Device d = Device::parse(name);
  check_device(d);
  return d;
}

// svm-train's summary of one sub-problem.
void print_subproblem(const svm::BinaryResult& r) {
  double sum_alpha = 0;
  for (double a : r.alpha) sum_alpha += a;
  std::printf("optimization finished, #iter = %lld\n", static_cast<long long>(r.iterations));
  // svm-train prints nu only when the two sides' C are equal (no -wi on either class).
  if (r.cp == r.cn)
    std::printf("nu = %f\n", sum_alpha / (r.cp * static_cast<double>(r.alpha.size())));
  std::printf("obj = %f, rho = %f\n", -r.dual_objective, r.rho);
  std::printf("nSV = %lld, nBSV = %lld\n", static_cast<long long>(r.n_sv),
              static_cast<long long>(r.n_bsv));
  if (!r.converged)
    std::printf("WARNING: reaching max number of iterations\n");
}

int run(int argc, char** argv) {
  PhaseTimings timings;
  SvmTrainCommand cmd;
  try {
    cmd = parse_svm_train_command(argc, argv);
  } catch (const SvmHelpRequested& help) {
    std::cout << help.what();
    return 0;
  }
  if (cmd.threads > 0) set_cpu_threads(cmd.threads);
  const Device device = resolve_device(cmd.device);
  // A model file that cannot be written is found now, not after training.
  if (cmd.folds == 0) check_writable(cmd.model_file, "model_file");
  svm::SvcOptions options = svc_options(cmd.svm);
  svm::Samples x;
  Tensor y;
  timings.skip();
  {
    svm::LibsvmCsrData data = svm::read_libsvm_csr(cmd.training_file);
    // svm-train warns about a -wi label the data does not have, and trains without it.
    const std::vector<std::int32_t> labels = data.y.to_vector<std::int32_t>();
    const std::set<std::int32_t> present(labels.begin(), labels.end());
    for (auto it = options.class_weight.begin(); it != options.class_weight.end();) {
      if (present.count(it->first) != 0) {
        ++it;
        continue;
      }
      std::fprintf(stderr, "WARNING: class label %d specified in weight is not found\n",
                   static_cast<int>(it->first));
      it = options.class_weight.erase(it);
    }
    y = data.y.to(device);
    x = svm::with_storage(
        svm::Samples(std::make_shared<const svm::CsrMatrix>(std::move(data.x)), device),
        options.storage);
  }
  timings.mark("read");
  const std::int64_t n = x.rows();
  ProgressLine progress(stderr, progress_wanted(cmd.progress, cmd.quiet));
  if (progress.enabled())
    options.progress = [&](const svm::SolveProgress& p) {
      progress.update(p.problems_done, p.problems_total, "sub-problems", p.iterations,
                      p.elapsed_s);
    };

  if (cmd.folds > 0) {
    svm::CrossValidationOptions cv;
    cv.folds = cmd.folds;
    cv.seed = cmd.seed;
    cv.probability = cmd.svm.probability;
    if (cv.folds > n && !cmd.quiet)
      std::fprintf(stderr,
                   "WARNING: # folds > # data. Will use # folds = # data instead (i.e., "
                   "leave-one-out cross validation)\n");
    progress.stage("cross-validation");
    const int shown_folds = static_cast<int>(std::min<std::int64_t>(cv.folds, n));
    progress.update(0, shown_folds, "folds");
    cv.on_fold = [&](int done, int total) { progress.update(done, total, "folds"); };
    const svm::CrossValidationResult r = svm::cross_validate(options, x, y, cv);
    progress.finish();
    timings.mark("cross_validation");
    std::printf("Cross Validation Accuracy = %g%%\n", 100.0 * r.accuracy);
    if (cmd.timings) {
      std::fflush(stdout);
      std::fputs(timings.line().c_str(), stderr);
    }
    return 0;
  }

  svm::SVC model(options);
  progress.stage("training");
  model.fit(x, y);
  progress.finish();
  timings.mark("fit");
  if (!cmd.quiet) {
    for (const svm::BinaryResult& r : model.binary_results()) print_subproblem(r);
    std::int64_t total = 0;
    for (std::int64_t c : model.n_support()) total += c;
    std::printf("Total nSV = %lld\n", static_cast<long long>(total));
  }
  timings.skip();
  if (cmd.svm.probability) {
    svm::ProbabilityOptions po;
    po.seed = cmd.seed;
    progress.stage("probability estimates");
    if (progress.enabled())
      po.on_fit = [&](std::int64_t done, std::int64_t total) {
        progress.update(done, total, "cross-validation fits");
      };
    svm::fit_probability(model, x, y, po);
    progress.finish();
    timings.mark("probability");
  }
  svm::save_libsvm_model(cmd.model_file, model);
  timings.mark("write");
  if (cmd.timings) {
    std::fflush(stdout);
    std::fputs(timings.line().c_str(), stderr);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "minidl-svm-train: " << e.what() << "\n";
    return 1;
  }
}
