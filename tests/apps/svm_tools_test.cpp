// minidl-svm-train and minidl-svm-predict run as programs, against LIBSVM's own
// svm-train and svm-predict (Debian's libsvm-tools; those cases skip without them):
// the model files, prediction files and printed lines are interchangeable, and
// every bad input is a clear error with its file, line and column.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "cli_test_util.hpp"
#include "svm/svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::train {
namespace {

// Runs `program` with `args` (in the folder `cwd` when given), two OpenMP threads.
Result run_tool(const Folder& dir, const std::string& program, std::vector<std::string> args,
                const std::string& cwd = "") {
  args.insert(args.begin(), program);
  return run_program(dir, std::move(args), false, {{"OMP_NUM_THREADS", "2"}}, cwd);
}

const std::string kTrain = MINIDL_SVM_TRAIN_EXE;
const std::string kPredict = MINIDL_SVM_PREDICT_EXE;
const std::string kLibsvmTrain = "/usr/bin/svm-train";
const std::string kLibsvmPredict = "/usr/bin/svm-predict";

// A 3-class training and test set in LIBSVM format (sparse: small values left out).
void write_sets(const Folder& dir, std::int64_t n_train = 400,
                const std::vector<std::int32_t>& labels = {3, 1, 2}) {
  svm::write_libsvm(dir.file("train"), svm_test::make_blobs(n_train, 6, labels, 0.9f, 5).x,
                    svm_test::make_blobs(n_train, 6, labels, 0.9f, 5).y);
  const svm::LibsvmData test = svm_test::make_blobs(300, 6, labels, 0.9f, 6);
  svm::write_libsvm(dir.file("test"), test.x, test.y);
}

TEST(SvmTools, LibsvmAndMinidlModelsPredictTheSameEitherWay) {
  MINIDL_REQUIRE_LIBSVM();
  Folder dir;
  write_sets(dir);
  for (const char* kernel : {"0", "1", "2", "3"}) {
    SCOPED_TRACE(std::string("-t ") + kernel);
    const std::vector<std::string> opts{"-t", kernel, "-c", "2", "-g", "0.1", "-r", "0.5"};
    std::vector<std::string> a = opts;
    a.insert(a.end(), {dir.file("train"), dir.file("minidl.model")});
    const Result ours = run_tool(dir, kTrain, a);
    ASSERT_EQ(ours.status, 0) << ours.err;
    EXPECT_CONTAINS(ours.out, "optimization finished, #iter = ");
    EXPECT_CONTAINS(ours.out, "Total nSV = ");
    a = opts;
    a.insert(a.end(), {"-q", dir.file("train"), dir.file("libsvm.model")});
    ASSERT_EQ(run_tool(dir, kLibsvmTrain, a).status, 0);
    for (const char* model : {"minidl.model", "libsvm.model"}) {
      SCOPED_TRACE(model);
      const Result p1 =
          run_tool(dir, kPredict, {dir.file("test"), dir.file(model), dir.file("minidl.out")});
      const Result p2 =
          run_tool(dir, kLibsvmPredict, {dir.file("test"), dir.file(model), dir.file("libsvm.out")});
      ASSERT_EQ(p1.status, 0) << p1.err;
      ASSERT_EQ(p2.status, 0) << p2.err;
      // The same labels in the same format, and the same accuracy line.
      EXPECT_EQ(read_all(dir.file("minidl.out")), read_all(dir.file("libsvm.out")));
      EXPECT_EQ(p1.out, p2.out);
      EXPECT_TRUE(std::regex_search(
          p1.out, std::regex(R"(^Accuracy = [0-9.]+% \([0-9]+/300\) \(classification\)\n$)")))
          << p1.out;
    }
  }
}

double log_loss(const svm_test::LibsvmProbabilities& p, const std::vector<std::int32_t>& truth) {
  double loss = 0;
  const std::size_t k = p.labels.size();
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto c = static_cast<std::size_t>(
        std::find(p.labels.begin(), p.labels.end(), truth[i]) - p.labels.begin());
    loss -= std::log(std::max(p.probability[i * k + c], 1e-15));
  }
  return loss / static_cast<double>(truth.size());
}

TEST(SvmTools, ProbabilityOutputsAgreeWithLibsvm) {
  MINIDL_REQUIRE_LIBSVM();
  Folder dir;
  write_sets(dir, 1000);
  const std::vector<std::int32_t> truth =
      svm::read_libsvm(dir.file("test")).y.to_vector<std::int32_t>();
  ASSERT_EQ(run_tool(dir, kTrain, {"-b", "1", "-c", "1", "-g", "0.15", "-q", dir.file("train"),
                              dir.file("minidl.model")})
                .status,
            0);
  ASSERT_EQ(run_tool(dir, kLibsvmTrain, {"-b", "1", "-c", "1", "-g", "0.15", "-q", dir.file("train"),
                                    dir.file("libsvm.model")})
                .status,
            0);
  EXPECT_CONTAINS(read_all(dir.file("minidl.model")), "\nprobA ");
  const Result ours = run_tool(dir, kPredict, {"-b", "1", dir.file("test"), dir.file("minidl.model"),
                                          dir.file("minidl.out")});
  ASSERT_EQ(ours.status, 0) << ours.err;
  ASSERT_EQ(run_tool(dir, kLibsvmPredict, {"-b", "1", dir.file("test"), dir.file("libsvm.model"),
                                      dir.file("libsvm.out")})
                .status,
            0);
  const svm_test::LibsvmProbabilities mine = svm_test::read_probability_output(dir.file("minidl.out"));
  const svm_test::LibsvmProbabilities ref = svm_test::read_probability_output(dir.file("libsvm.out"));
  EXPECT_TRUE(std::regex_search(read_all(dir.file("minidl.out")),
                                std::regex(R"(^labels( [123]){3}\n[123]( [0-9.e-]+){3}\n)")));
  ASSERT_EQ(mine.labels, ref.labels);
  ASSERT_EQ(mine.predicted.size(), truth.size());
  ASSERT_EQ(ref.predicted.size(), truth.size());
  std::size_t agree = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) agree += mine.predicted[i] == ref.predicted[i];
  std::printf("tools: log-loss minidl %.5f, LIBSVM %.5f; labels agree on %zu / %zu\n",
              log_loss(mine, truth), log_loss(ref, truth), agree, truth.size());
  EXPECT_NEAR(log_loss(mine, truth), log_loss(ref, truth), 0.01);
  EXPECT_GE(double(agree), 0.98 * double(truth.size()));
  // svm-predict -b 1 reads minidl's probA / probB.
  ASSERT_EQ(run_tool(dir, kLibsvmPredict, {"-b", "1", dir.file("test"), dir.file("minidl.model"),
                                      dir.file("cross.out")})
                .status,
            0);
  const svm_test::LibsvmProbabilities cross = svm_test::read_probability_output(dir.file("cross.out"));
  ASSERT_EQ(cross.probability.size(), mine.probability.size());
  for (std::size_t i = 0; i < mine.probability.size(); ++i)
    ASSERT_NEAR(cross.probability[i], mine.probability[i], 5e-3) << i;
  // A model without probabilities cannot give them; svm-predict says so too.
  ASSERT_EQ(run_tool(dir, kTrain, {"-q", dir.file("train"), dir.file("plain.model")}).status, 0);
  const Result none = run_tool(dir, kPredict, {"-b", "1", dir.file("test"), dir.file("plain.model"),
                                          dir.file("x.out")});
  EXPECT_EQ(none.status, 1);
  EXPECT_CONTAINS(none.err, "no probability estimates");
  const Result disabled =
      run_tool(dir, kPredict, {dir.file("test"), dir.file("minidl.model"), dir.file("x.out")});
  EXPECT_EQ(disabled.status, 0);
  EXPECT_CONTAINS(disabled.out, "Model supports probability estimates, but disabled in prediction.");
}

TEST(SvmTools, CrossValidationLine) {
  MINIDL_REQUIRE_LIBSVM();
  Folder dir;
  write_sets(dir, 500);
  const Result ours = run_tool(dir, kTrain, {"-v", "5", "-q", "-c", "2", "-g", "0.2", dir.file("train")});
  ASSERT_EQ(ours.status, 0) << ours.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(ours.out, m,
                               std::regex(R"(Cross Validation Accuracy = ([0-9.]+)%\n)")))
      << ours.out;
  const Result ref =
      run_tool(dir, kLibsvmTrain, {"-v", "5", "-q", "-c", "2", "-g", "0.2", dir.file("train")});
  std::smatch r;
  ASSERT_TRUE(std::regex_search(ref.out, r, std::regex(R"(Cross Validation Accuracy = ([0-9.]+)%)")));
  std::printf("5-fold accuracy: minidl %s%%, LIBSVM %s%%\n", m[1].str().c_str(), r[1].str().c_str());
  EXPECT_NEAR(std::stod(m[1].str()), std::stod(r[1].str()), 3.0);  // different random folds
  EXPECT_TRUE(ours.err.empty()) << ours.err;  // no model written, nothing else said
}

TEST(SvmTools, QuietProgressAndDefaultModelName) {
  Folder dir;
  write_sets(dir, 150);
  // svm-train's default model file: the training file's name + ".model", in ".".
  const Result quiet = run_tool(dir, kTrain, {"-q", dir.file("train")}, dir.file(""));
  ASSERT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
  EXPECT_CONTAINS(read_all(dir.file("train.model")), "svm_type c_svc\nkernel_type rbf\n");
  const Result pq = run_tool(dir, kPredict, {"-q", dir.file("test"), dir.file("train.model"), dir.file("o")});
  EXPECT_EQ(pq.status, 0);
  EXPECT_EQ(pq.out, "");
  // Progress on stderr: only when forced here (stderr is a file, not a terminal).
  const Result forced = run_tool(dir, kTrain, {"--progress", "-v", "3", dir.file("train")});
  ASSERT_EQ(forced.status, 0) << forced.err;
  EXPECT_CONTAINS(forced.err, "cross-validation: 3/3 folds");
  EXPECT_CONTAINS(forced.err, " elapsed");
  EXPECT_CONTAINS(forced.out, "Cross Validation Accuracy = ");
  const Result fit = run_tool(dir, kTrain, {"--progress", "-b", "1", dir.file("train"), dir.file("pm")});
  ASSERT_EQ(fit.status, 0) << fit.err;
  EXPECT_CONTAINS(fit.err, "training: 3/3 sub-problems, ");
  EXPECT_CONTAINS(fit.err, " iterations, ");
  EXPECT_CONTAINS(fit.err, "probability estimates: 15/15 cross-validation fits");
  EXPECT_EQ(fit.err.substr(fit.err.size() - 4), "\r\x1b[K");  // the line is cleared at the end
  const Result plain = run_tool(dir, kTrain, {"-v", "3", dir.file("train")});
  EXPECT_EQ(plain.err, "");
  const Result silenced = run_tool(dir, kTrain, {"--progress", "-q", "-v", "3", dir.file("train")});
  EXPECT_EQ(silenced.err, "");
}

TEST(SvmTools, BadInputIsAClearErrorWithFileLineAndColumn) {
  Folder dir;
  write_sets(dir, 60);
  const auto put = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.file(name)) << text;
    return dir.file(name);
  };
  // Options.
  Result r = run_tool(dir, kTrain, {"-s", "1", dir.file("train")});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, "minidl-svm-train: -s 1 (nu-SVC) is not supported");
  r = run_tool(dir, kTrain, {});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, "missing training_set_file");
  r = run_tool(dir, kTrain, {"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_CONTAINS(r.out, "Usage: minidl-svm-train [options] training_set_file [model_file]");
  r = run_tool(dir, kPredict, {"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_CONTAINS(r.out, "Usage: minidl-svm-predict");
  // Files.
  r = run_tool(dir, kTrain, {dir.file("absent")});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, dir.file("absent") + ": cannot open for reading");
  r = run_tool(dir, kTrain, {dir.file("train"), dir.file("no/such/folder/model")});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, "model_file");
  r = run_tool(dir, kTrain, {"-q", put("one_class", "1 1:0.5\n1 2:1\n")});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, "single class");
  // Data: svm-train rejects the first (without a column) and accepts the others,
  // then crashes or reads garbage; minidl names the file, line and column, for
  // the training file and for the test file alike.
  const std::vector<std::pair<std::string, std::string>> bad_data{
      {"1 1:0.5\n-1 1:0.25 2:abc\n", ":2:13: feature value \"abc\" is not a number"},
      {"1 1:0.5\n-1 3:0.25 2:1\n", ":2:11: feature index 2 does not increase (after 3)"},
      {"1 0:0.5\n-1 1:1\n", ":1:3: feature index \"0\" is not an integer >= 1"},
      {"1 1:0.5\n-1 1:nan\n", ":2:6: feature value \"nan\" is not finite in float32"},
      {"1 1:0.5\nx 1:1\n", ":2:1: label \"x\" is not a number"},
      {"1 1:0.5 3000000000:1\n-1 1:1\n", ":1:9: feature index 3000000000 "},
  };
  ASSERT_EQ(run_tool(dir, kTrain, {"-q", dir.file("train"), dir.file("t.model")}).status, 0);
  for (std::size_t i = 0; i < bad_data.size(); ++i) {
    SCOPED_TRACE(bad_data[i].first);
    const std::string file = put("bad_data" + std::to_string(i), bad_data[i].first);
    r = run_tool(dir, kTrain, {"-q", file, dir.file("o.model")});
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.err, "minidl-svm-train: " + file + bad_data[i].second);
    r = run_tool(dir, kPredict, {file, dir.file("t.model"), dir.file("o")});
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.err, "minidl-svm-predict: " + file + bad_data[i].second);
  }
  // Models: svm-predict crashes on some of these (nr_sv missing, too few SV lines).
  ASSERT_EQ(run_tool(dir, kTrain, {"-q", dir.file("train"), dir.file("good.model")}).status, 0);
  std::string good = read_all(dir.file("good.model"));
  std::string broken = good;
  broken.replace(broken.find("nr_class 3"), 10, "nr_class x");
  r = run_tool(dir, kPredict, {dir.file("test"), put("m1", broken), dir.file("o")});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, dir.file("m1") + ":4:10: nr_class \"x\" is not an integer");
  broken = good.substr(0, good.rfind('\n', good.size() - 2) + 1);  // last SV line gone
  r = run_tool(dir, kPredict, {dir.file("test"), put("m2", broken), dir.file("o")});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, "support vectors, found");
  broken = good;
  broken.insert(broken.find("SV\n") + 3, "0.5 0.25 7:x\n");
  r = run_tool(dir, kPredict, {dir.file("test"), put("m3", broken), dir.file("o")});
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.err, ":10:12: \"x\" is not a finite number");
  EXPECT_FALSE(std::ifstream(dir.file("o")).good());  // nothing written on an error
}

// Model files on which svm-predict 3.24 dies of SIGSEGV (no nr_sv, no rho, fewer
// support-vector lines than total_sv, a total_sv of 10^8) or reads garbage
// (coefficients that are not numbers): minidl names the file, line and column.
TEST(SvmTools, ModelsSvmPredictCrashesOnAreClearErrors) {
  Folder dir;
  write_sets(dir, 60);
  ASSERT_EQ(run_tool(dir, kTrain, {"-q", dir.file("train"), dir.file("good.model")}).status, 0);
  const std::string good = read_all(dir.file("good.model"));
  const auto without_line = [&](const std::string& key) {
    const std::size_t at = good.find("\n" + key + " ") + 1;
    return good.substr(0, at) + good.substr(good.find('\n', at) + 1);
  };
  std::string huge = good;
  huge.replace(huge.find("total_sv "), huge.find('\n', huge.find("total_sv ")) - huge.find("total_sv "),
               "total_sv 100000000");
  std::string garbage = good;
  const std::size_t first_sv = garbage.find("SV\n") + 3;
  garbage.replace(first_sv, garbage.find(' ', first_sv) - first_sv, "x");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {without_line("nr_sv"), {":8:1: the header before \"SV\" lacks nr_sv"}},
      {without_line("rho"), {":8:1: the header before \"SV\" lacks rho"}},
      {good.substr(0, good.find("SV\n") + 3) + "0.5 0.5 1:1\n", {":9:1: total_sv ", "bytes follow the SV line"}},
      {good.substr(0, good.rfind('\n', good.size() - 2) + 1), {" support vectors, found "}},
      {huge, {":5:10: total_sv \"100000000\" is not an integer in [0, "}},
      {garbage, {":10:1: \"x\" is not a finite number"}},
      {"svm_type c_svc\nkernel_type rbf\n", {":3:1: the file ends before the \"SV\" line"}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string model = dir.file("bad" + std::to_string(i) + ".model");
    std::ofstream(model) << cases[i].first;
    const Result r = run_tool(dir, kPredict, {dir.file("test"), model, dir.file("o")});
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.err, "minidl-svm-predict: " + model);
    for (const std::string& fragment : cases[i].second) EXPECT_CONTAINS(r.err, fragment);
  }
}

}  // namespace
}  // namespace minidl::train
