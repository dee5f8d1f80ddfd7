// The SVM's command-line options (apps/train/svm_options.hpp): svm-train's and
// svm-predict's options with LIBSVM's meanings, checked strictly, and one parser
// behind minidl-train --model svm and minidl-svm-train.
#include "svm_options.hpp"

#include <initializer_list>
#include <regex>
#include <string>
#include <vector>

#include "options.hpp"
#include "svm_progress.hpp"
#include "test_util.hpp"

namespace minidl::train {
namespace {

SvmTrainCommand train(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"minidl-svm-train"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_svm_train_command(static_cast<int>(argv.size()), argv.data());
}

SvmPredictCommand predict(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"minidl-svm-predict"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_svm_predict_command(static_cast<int>(argv.size()), argv.data());
}

TEST(SvmTrainCommand, LibsvmDefaults) {
  const SvmTrainCommand c = train({"data/heart_scale"});
  EXPECT_EQ(c.training_file, "data/heart_scale");
  EXPECT_EQ(c.model_file, "heart_scale.model");  // svm-train: in ".", folders dropped
  EXPECT_EQ(c.svm.C, 1.0);
  EXPECT_EQ(c.svm.kernel, "rbf");
  EXPECT_EQ(c.svm.gamma, "auto");  // 1 / num_features
  EXPECT_EQ(c.svm.tol, 1e-3);
  EXPECT_EQ(c.svm.degree, 3);
  EXPECT_EQ(c.svm.coef0, 0.0);
  EXPECT_FALSE(c.svm.probability);
  EXPECT_EQ(c.folds, 0);
  EXPECT_FALSE(c.quiet);
  EXPECT_EQ(c.device, "auto");
  const svm::SvcOptions o = svc_options(c.svm);
  EXPECT_EQ(o.gamma_mode, svm::GammaMode::Auto);
  EXPECT_EQ(o.memory_budget, 0u);
  EXPECT_EQ(o.multi_class, svm::MultiClass::OneVsOne);
}

TEST(SvmTrainCommand, EveryOptionWithLibsvmMeaning) {
  const SvmTrainCommand c =
      train({"-s", "0", "-t", "1", "-d", "4", "-g", "0.25", "-r", "-1.5", "-c", "100", "-e",
             "1e-5", "-m", "200", "-h", "0", "-b", "1", "-w1", "2", "-w-1", "0.5", "-q",
             "--device", "cpu", "--threads=3", "--seed", "9", "--progress", "train.txt",
             "out/model"});
  EXPECT_EQ(c.svm.kernel, "polynomial");
  EXPECT_EQ(c.svm.degree, 4);
  EXPECT_EQ(c.svm.gamma, "0.25");
  EXPECT_EQ(c.svm.coef0, -1.5);
  EXPECT_EQ(c.svm.C, 100.0);
  EXPECT_EQ(c.svm.tol, 1e-5);
  EXPECT_EQ(c.svm.cache_mb, 200.0);
  EXPECT_FALSE(c.svm.shrinking);
  EXPECT_TRUE(c.svm.probability);
  EXPECT_TRUE(c.quiet);
  EXPECT_TRUE(c.progress);
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.threads, 3);
  EXPECT_EQ(c.seed, 9u);
  EXPECT_EQ(c.model_file, "out/model");
  const svm::SvcOptions o = svc_options(c.svm);
  EXPECT_EQ(o.kernel, svm::KernelType::Polynomial);
  EXPECT_EQ(o.gamma_mode, svm::GammaMode::Value);
  EXPECT_EQ(o.gamma, 0.25);
  EXPECT_EQ(o.memory_budget, std::size_t{200} << 20);
  EXPECT_EQ(o.class_weight, (std::map<std::int32_t, double>{{1, 2.0}, {-1, 0.5}}));
  for (const auto& [t, name] : std::vector<std::pair<const char*, const char*>>{
           {"0", "linear"}, {"1", "polynomial"}, {"2", "rbf"}, {"3", "sigmoid"}})
    EXPECT_EQ(train({"-t", t, "f"}).svm.kernel, name);
  EXPECT_EQ(train({"-v", "5", "f"}).folds, 5);
  EXPECT_EQ(train({"-v", "3", "--multi-class", "ovr", "f"}).svm.multi_class, "ovr");
  EXPECT_EQ(train({"-g", "scale", "f"}).svm.gamma, "scale");
}

TEST(SvmTrainCommand, RefusesWhatMinidlDoesNotDo) {
  MINIDL_EXPECT_THROW_WITH(train({"-s", "1", "f"}), ValueError, "-s 1 (nu-SVC) is not supported",
                           "C-SVC (-s 0) only");
  MINIDL_EXPECT_THROW_WITH(train({"-s", "2", "f"}), ValueError, "one-class SVM");
  MINIDL_EXPECT_THROW_WITH(train({"-s", "3", "f"}), ValueError, "epsilon-SVR");
  MINIDL_EXPECT_THROW_WITH(train({"-s", "4", "f"}), ValueError, "nu-SVR");
  MINIDL_EXPECT_THROW_WITH(train({"-s", "5", "f"}), ValueError, "-s", "[0, 4]");
  MINIDL_EXPECT_THROW_WITH(train({"-t", "4", "f"}), ValueError, "-t", "precomputed",
                           "not supported");
  MINIDL_EXPECT_THROW_WITH(train({"-n", "0.5", "f"}), ValueError, "-n (nu)");
  MINIDL_EXPECT_THROW_WITH(train({"-p", "0.1", "f"}), ValueError, "-p", "epsilon-SVR");
  MINIDL_EXPECT_THROW_WITH(train({"-b", "1", "--multi-class", "ovr", "f"}), ValueError,
                           "-b 1 with --multi-class ovr");
  MINIDL_EXPECT_THROW_WITH(train({"--multi-class", "ovr", "f"}), ValueError,
                           "one-vs-one models only");
}

TEST(SvmTrainCommand, BadValuesNameTheOption) {
  // svm-train reads these with atof / atoi: "-c abc" is C = 0, "-v 1x" is 1.
  MINIDL_EXPECT_THROW_WITH(train({"-c", "0", "f"}), ValueError, "-c: \"0\"", "(0, ");
  MINIDL_EXPECT_THROW_WITH(train({"-c", "abc", "f"}), ValueError, "-c: \"abc\"");
  MINIDL_EXPECT_THROW_WITH(train({"-c", "nan", "f"}), ValueError, "-c");
  MINIDL_EXPECT_THROW_WITH(train({"-g", "-1", "f"}), ValueError, "-g", "scale, auto or");
  EXPECT_EQ(train({"-g", "0", "f"}).svm.gamma, "auto");  // svm-train: 0 is the default
  EXPECT_EQ(train({"-g", "0.0", "f"}).svm.gamma, "auto");
  MINIDL_EXPECT_THROW_WITH(train({"-e", "0", "f"}), ValueError, "-e");
  MINIDL_EXPECT_THROW_WITH(train({"-m", "-5", "f"}), ValueError, "-m");
  MINIDL_EXPECT_THROW_WITH(train({"-d", "-1", "f"}), ValueError, "-d", "[0, 1000]");
  MINIDL_EXPECT_THROW_WITH(train({"-d", "2.5", "f"}), ValueError, "-d");
  MINIDL_EXPECT_THROW_WITH(train({"-r", "inf", "f"}), ValueError, "-r");
  MINIDL_EXPECT_THROW_WITH(train({"-h", "2", "f"}), ValueError, "-h", "[0, 1]");
  MINIDL_EXPECT_THROW_WITH(train({"-b", "yes", "f"}), ValueError, "-b");
  MINIDL_EXPECT_THROW_WITH(train({"-v", "1", "f"}), ValueError, "-v", "[2, ");
  MINIDL_EXPECT_THROW_WITH(train({"-v", "1x", "f"}), ValueError, "-v");
  MINIDL_EXPECT_THROW_WITH(train({"-t", "rbff", "f"}), ValueError, "-t", "is not one of");
  MINIDL_EXPECT_THROW_WITH(train({"-w", "2", "f"}), ValueError, "-w needs a class label");
  MINIDL_EXPECT_THROW_WITH(train({"-wx", "2", "f"}), ValueError, "-wx", "\"x\"");
  MINIDL_EXPECT_THROW_WITH(train({"-w1", "0", "f"}), ValueError, "-w1", "\"0\"");
  MINIDL_EXPECT_THROW_WITH(train({"-w1", "2", "-w1", "3", "f"}), ValueError,
                           "second weight for label 1");
  // A long label: the option, which carries it, is quoted in part too (fuzz target
  // command_line found a 209-byte label echoed whole).
  const std::string long_label = "-w-3" + std::string(300, '7');
  for (const char* weight : {"2", "x"}) {
    try {
      train({long_label.c_str(), weight, "f"});
      ADD_FAILURE() << "no ValueError";
    } catch (const ValueError& e) {
      EXPECT_LT(std::string(e.what()).size(), 300u) << e.what();
    }
  }
  MINIDL_EXPECT_THROW_WITH(train({"-x", "1", "f"}), ValueError, "unknown option \"-x\"");
  MINIDL_EXPECT_THROW_WITH(train({"-cc", "1", "f"}), ValueError, "unknown option \"-cc\"");
  MINIDL_EXPECT_THROW_WITH(train({"--bogus", "f"}), ValueError, "unknown option \"--bogus\"");
  MINIDL_EXPECT_THROW_WITH(train({"--device", "gpu7", "f"}), ValueError, "--device");
  MINIDL_EXPECT_THROW_WITH(train({"--threads", "-1", "f"}), ValueError, "--threads");
  MINIDL_EXPECT_THROW_WITH(train({"--progress=1", "f"}), ValueError, "--progress takes no value");
  MINIDL_EXPECT_THROW_WITH(train({"-c"}), ValueError, "-c needs a value");
  MINIDL_EXPECT_THROW_WITH(train({}), ValueError, "missing training_set_file");
  MINIDL_EXPECT_THROW_WITH(train({"-q"}), ValueError, "missing training_set_file");
  MINIDL_EXPECT_THROW_WITH(train({"a", "b", "-c"}), ValueError, "unexpected argument \"-c\"");
  // An empty argument is no file (found by the command_line fuzz target; it failed only
  // after training, when the model could not be written).
  MINIDL_EXPECT_THROW_WITH(train({""}), ValueError, "empty file name", "training_set_file");
  MINIDL_EXPECT_THROW_WITH(train({"f", ""}), ValueError, "empty file name", "model_file");
  // --device's value is quoted in part (Device::parse), not echoed whole.
  const std::string long_device = "--device=cuda:" + std::string(5000, '1');
  try {
    train({long_device.c_str(), "f"});
    FAIL() << "no ValueError";
  } catch (const ValueError& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u);
  }
  MINIDL_EXPECT_THROW_WITH(train({"--help"}), SvmHelpRequested, "Usage: minidl-svm-train",
                           "-wi weight", "--multi-class");
}

TEST(SvmPredictCommand, LibsvmOptions) {
  const SvmPredictCommand c = predict({"-b", "1", "-q", "--device=cpu", "t", "m", "o"});
  EXPECT_TRUE(c.probability);
  EXPECT_TRUE(c.quiet);
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.test_file, "t");
  EXPECT_EQ(c.model_file, "m");
  EXPECT_EQ(c.output_file, "o");
  EXPECT_FALSE(predict({"t", "m", "o"}).probability);
  MINIDL_EXPECT_THROW_WITH(predict({"t", "m"}), ValueError, "missing output_file");
  MINIDL_EXPECT_THROW_WITH(predict({}), ValueError, "missing test_file, model_file and output_file");
  MINIDL_EXPECT_THROW_WITH(predict({"t", "m", "o", "x"}), ValueError, "too many arguments");
  MINIDL_EXPECT_THROW_WITH(predict({"t", "", "o"}), ValueError, "empty file name", "model_file");
  MINIDL_EXPECT_THROW_WITH(predict({"t", "m", ""}), ValueError, "empty file name", "output_file");
  MINIDL_EXPECT_THROW_WITH(predict({"-b", "2", "t", "m", "o"}), ValueError, "-b", "[0, 1]");
  MINIDL_EXPECT_THROW_WITH(predict({"-c", "1", "t", "m", "o"}), ValueError, "unknown option \"-c\"");
  MINIDL_EXPECT_THROW_WITH(predict({"--help"}), SvmHelpRequested, "Usage: minidl-svm-predict");
  EXPECT_EQ(predict({"t", "m", "o"}).storage, "auto");
  EXPECT_EQ(predict({"--storage", "sparse", "t", "m", "o"}).storage, "sparse");
  MINIDL_EXPECT_THROW_WITH(predict({"--storage=csr", "t", "m", "o"}), ValueError, "--storage",
                           "csr");
}

// --storage: how the data file is kept (svm::Storage), for both tools.
TEST(SvmTrainCommand, Storage) {
  EXPECT_EQ(svc_options(train({"f"}).svm).storage, svm::Storage::Auto);
  EXPECT_EQ(svc_options(train({"--storage", "dense", "f"}).svm).storage, svm::Storage::Dense);
  EXPECT_EQ(svc_options(train({"--storage=sparse", "f"}).svm).storage, svm::Storage::Sparse);
  MINIDL_EXPECT_THROW_WITH(train({"--storage", "csr", "f"}), ValueError, "--storage", "csr");
  EXPECT_EQ(svm_storage("auto"), svm::Storage::Auto);
  MINIDL_EXPECT_THROW_WITH(svm_storage("x"), ValueError, "--storage");
}

// minidl-train --model svm and minidl-svm-train parse a value with one function:
// the same value is refused the same way whatever the option's spelling.
TEST(SvmOptions, OneParserForBothCommandLines) {
  const auto minidl_train = [](std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"minidl-train", "--model", "svm"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_options(static_cast<int>(argv.size()), argv.data());
  };
  MINIDL_EXPECT_THROW_WITH(minidl_train({"--svm-c", "-3"}), ValueError,
                           "--svm-c: \"-3\" is not a finite number in (0, 1e+12]");
  MINIDL_EXPECT_THROW_WITH(train({"-c", "-3", "f"}), ValueError,
                           "-c: \"-3\" is not a finite number in (0, 1e+12]");
  MINIDL_EXPECT_THROW_WITH(minidl_train({"--svm-kernel", "4"}), ValueError, "--svm-kernel",
                           "precomputed");
  EXPECT_EQ(minidl_train({"--svm-kernel", "3"}).svm.kernel, "sigmoid");
  SvmConfig c;
  set_svm_option(c, SvmSetting::Kernel, "--svm-kernel", "poly");
  EXPECT_EQ(c.kernel, "polynomial");
}

// --timings: a flag of both tools (no value), independent of -q.
TEST(SvmOptions, Timings) {
  EXPECT_FALSE(train({"f"}).timings);
  EXPECT_TRUE(train({"--timings", "-q", "f"}).timings);
  EXPECT_TRUE(train({"--timings", "-q", "f"}).quiet);
  MINIDL_EXPECT_THROW_WITH(train({"--timings=1", "f"}), ValueError, "--timings takes no value");
  EXPECT_FALSE(predict({"t", "m", "o"}).timings);
  EXPECT_TRUE(predict({"-q", "--timings", "t", "m", "o"}).timings);
  MINIDL_EXPECT_THROW_WITH(predict({"--timings=yes", "t", "m", "o"}), ValueError,
                           "--timings takes no value");
  EXPECT_NE(svm_train_usage().find("--timings"), std::string::npos);
  EXPECT_NE(svm_predict_usage().find("--timings"), std::string::npos);
}

// One line: the phases in the order of their first mark (a phase marked twice adds
// up), 3 decimals, then total. Only the format is checked, never a time.
TEST(SvmProgress, PhaseTimingsLine) {
  PhaseTimings t;
  t.mark("read");
  t.mark("fit");
  t.skip();
  t.mark("read");
  t.mark("write");
  ASSERT_EQ(t.phases().size(), 3u);
  EXPECT_EQ(t.phases()[0].first, "read");
  EXPECT_EQ(t.phases()[1].first, "fit");
  EXPECT_EQ(t.phases()[2].first, "write");
  const std::string line = t.line();
  EXPECT_TRUE(std::regex_match(
      line, std::regex(R"(timings: read=[0-9]+\.[0-9]{3}s fit=[0-9]+\.[0-9]{3}s )"
                       R"(write=[0-9]+\.[0-9]{3}s total=[0-9]+\.[0-9]{3}s\n)")))
      << line;
  EXPECT_EQ(PhaseTimings().line().substr(0, 15), "timings: total=");
}

TEST(SvmProgress, LineNamesDoneTotalIterationsTimeAndEstimate) {
  EXPECT_EQ(clock_text(0), "0:00");
  EXPECT_EQ(clock_text(75.4), "1:15");
  EXPECT_EQ(clock_text(3725), "1:02:05");
  EXPECT_EQ(progress_text("training", 3, 45, "sub-problems", 120000, 12.0),
            "training: 3/45 sub-problems, 120000 iterations, 0:12 elapsed, about 2:48 left");
  EXPECT_EQ(progress_text("cross-validation", 0, 5, "folds", -1, 1.0),
            "cross-validation: 0/5 folds, 0:01 elapsed");
  EXPECT_EQ(progress_text("training", 45, 45, "sub-problems", 7, 30.0),
            "training: 45/45 sub-problems, 7 iterations, 0:30 elapsed");
}

}  // namespace
}  // namespace minidl::train
