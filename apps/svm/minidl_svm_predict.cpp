// minidl-svm-predict: LIBSVM's svm-predict command line and files, predicted by
// minidl (the options: --help).
//
//   minidl-svm-predict test.libsvm train.libsvm.model predictions
//   minidl-svm-predict -b 1 test.libsvm model predictions   # "labels ..." + probabilities
//
// The output file is svm-predict's: one label per line ("%.17g"), or with -b 1 a
// "labels l1 l2 ..." header and per sample the label and one probability per class
// ("%g"), the label being the most probable class (as svm-predict -b 1's). stdout
// gets "Accuracy = x% (a/b) (classification)" as svm-predict prints it (not with -q).
// Test features beyond the model's width are kept (they count in the RBF
// distance, as in LIBSVM's sparse kernels). The test file is read as CSR and the
// model's support vectors as CSR too; --storage (auto: by density) keeps each
// sparse or makes it dense, so sparse high-dimensional data is never expanded.
// --timings prints the seconds of each phase on stderr at the end, -q or not:
//   timings: read_data=0.210s read_model=0.105s predict=0.800s write=0.001s total=1.120s
#include <cstdio>
#include <algorithm>
#include <iostream>
#include <memory>
#include <utility>

#include "core/device.hpp"
#include "core/info.hpp"
#include "io/atomic_file.hpp"
#include "io/text_writer.hpp"
#include "svm/libsvm_format.hpp"
#include "svm/model_file.hpp"
#include "svm/probability.hpp"
#include "svm/svc.hpp"
#include "svm_options.hpp"
#include "svm_progress.hpp"

namespace {

using namespace minidl;
using namespace minidl::train;

int run(int argc, char** argv) {
  PhaseTimings timings;
  SvmPredictCommand cmd;
  try {
    cmd = parse_svm_predict_command(argc, argv);
  } catch (const SvmHelpRequested& help) {
    std::cout << help.what();
    return 0;
  }
  if (cmd.threads > 0) set_cpu_threads(cmd.threads);
  Device device = Device::cpu();
  if (cmd.device == "auto") {
    if (cuda_available()) device = Device::cuda();
  } else {
    device = Device::parse(cmd.device);
    check_device(device);
  }
  check_writable(cmd.output_file, "output_file");
  const svm::Storage storage = svm_storage(cmd.storage);
  timings.skip();
  svm::LibsvmCsrData test = svm::read_libsvm_csr(cmd.test_file);
  timings.mark("read_data");
  const svm::SVC model =
      svm::load_libsvm_model(cmd.model_file, test.x.cols, svm::kMaxDenseBytes, storage);
  timings.mark("read_model");
  // The model uses features the test file never names: they are 0.
  test.x.cols = std::max(test.x.cols, model.n_features());
  if (cmd.probability && !model.has_probability())
    throw ValueError(cmd.model_file +
                     ": the model has no probability estimates (no probA / probB); train it with "
                     "-b 1, or predict without -b 1");
  if (!cmd.probability && model.has_probability() && !cmd.quiet)
    std::printf("Model supports probability estimates, but disabled in prediction.\n");

  const svm::Samples x = svm::with_storage(
      svm::Samples(std::make_shared<const svm::CsrMatrix>(std::move(test.x)), device), storage);
  timings.mark("read_data");
  const auto k = static_cast<int>(model.classes().size());
  std::vector<std::int32_t> predicted;
  std::vector<double> prob;
  if (cmd.probability) {
    prob = svm::predict_proba(model, x);
    for (std::int32_t c : svm::most_probable(prob, k))
      predicted.push_back(model.classes()[static_cast<std::size_t>(c)]);
  } else {
    predicted = model.predict(x).to_vector<std::int32_t>();
  }

  timings.mark("predict");

  // svm-predict's bytes ("%.17g\n" of the label, or "%g" of the label and of each
  // probability), formatted by to_chars in parallel (io/text_writer.hpp).
  AtomicFile out(cmd.output_file, "output_file");
  if (cmd.probability) {
    out.write("labels");
    for (std::int32_t l : model.classes()) out.print(" %d", l);
    out.write("\n");
  }
  const auto n_out = static_cast<std::int64_t>(predicted.size());
  text::write_rows(out, n_out, cmd.probability ? 12 * (k + 1) : 4,
                   [&](std::int64_t i, std::string& line) {
                     const auto s = static_cast<std::size_t>(i);
                     if (cmd.probability) {
                       text::put_g(line, double(predicted[s]), 6);
                       for (int c = 0; c < k; ++c) {
                         line += ' ';
                         text::put_g(line, prob[s * static_cast<std::size_t>(k) + c], 6);
                       }
                     } else {
                       text::put_int(line, predicted[s]);  // "%.17g" of an int32: its digits
                     }
                     line += '\n';
                   });
  out.commit();
  timings.mark("write");
  const std::vector<std::int32_t> truth = test.y.to_vector<std::int32_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == truth[i];
  if (!cmd.quiet) {
    const auto total = static_cast<long long>(predicted.size());
    std::printf("Accuracy = %g%% (%lld/%lld) (classification)\n",
                100.0 * static_cast<double>(correct) / static_cast<double>(total),
                static_cast<long long>(correct), total);
  }
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
    std::cerr << "minidl-svm-predict: " << e.what() << "\n";
    return 1;
  }
}
