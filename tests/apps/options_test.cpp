// minidl-train's command line (apps/train/options.hpp): every bad value is a
// clear error naming the option, before any data is loaded. Each case here was
// silently accepted (or used a default, or wrapped) before.
#include "options.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace minidl::train {
namespace {

Options parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"minidl-train"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

TEST(Options, DefaultsPerModel) {
  const Options mlp = parse({});
  EXPECT_EQ(mlp.train.model, "mlp");
  EXPECT_EQ(mlp.train.hidden, (std::vector<std::int64_t>{256, 128}));
  EXPECT_FLOAT_EQ(mlp.train.lr, 1e-3f);
  EXPECT_EQ(mlp.train.epochs, 10);
  const Options cnn = parse({"--model", "cnn"});
  EXPECT_EQ(cnn.train.hidden, (std::vector<std::int64_t>{1024}));
  EXPECT_FLOAT_EQ(cnn.train.dropout, 0.4f);
  EXPECT_EQ(cnn.train.lr_schedule, "cosine");
  EXPECT_EQ(cnn.train.epochs, 15);
  EXPECT_FLOAT_EQ(parse({"--optimizer", "sgd"}).train.lr, 0.05f);
  const Options given = parse({"--lr", "0.02", "--seed", "18446744073709551615", "--hidden",
                               "64,32", "--dropout", "0.5", "--threads", "3"});
  EXPECT_FLOAT_EQ(given.train.lr, 0.02f);
  EXPECT_EQ(given.train.seed, 18446744073709551615ULL);
  EXPECT_EQ(given.train.hidden, (std::vector<std::int64_t>{64, 32}));
  EXPECT_EQ(given.threads, 3);
}

TEST(Options, BadNumbersAreErrorsNamingTheOption) {
  for (const char* lr : {"nan", "-1", "0", "inf", "1e30", "abc", "0.1x", ""}) {
    SCOPED_TRACE(lr);
    MINIDL_EXPECT_THROW_WITH(parse({"--lr", lr}), ValueError, "--lr");
  }
  MINIDL_EXPECT_THROW_WITH(parse({"--dropout", "nan"}), ValueError, "--dropout", "\"nan\"");
  MINIDL_EXPECT_THROW_WITH(parse({"--dropout", "0.99"}), ValueError, "--dropout", "[0, 0.95]");
  MINIDL_EXPECT_THROW_WITH(parse({"--threads", "-4"}), ValueError, "--threads", "\"-4\"");
  MINIDL_EXPECT_THROW_WITH(parse({"--train-limit", "-5"}), ValueError, "--train-limit", "\"-5\"");
  MINIDL_EXPECT_THROW_WITH(parse({"--test-limit", "-1"}), ValueError, "--test-limit");
  MINIDL_EXPECT_THROW_WITH(parse({"--seed", "-1"}), ValueError, "--seed", "\"-1\"");
  MINIDL_EXPECT_THROW_WITH(parse({"--seed", "18446744073709551616"}), ValueError, "--seed");
  MINIDL_EXPECT_THROW_WITH(parse({"--epochs", "-1"}), ValueError, "--epochs");
  MINIDL_EXPECT_THROW_WITH(parse({"--momentum", "1", "--optimizer", "sgd"}), ValueError,
                           "--momentum");
  MINIDL_EXPECT_THROW_WITH(parse({"--weight-decay", "-0.1"}), ValueError, "--weight-decay");
  // --batch 0 printed a 300-digit range.
  try {
    parse({"--batch", "0"});
    ADD_FAILURE() << "expected ValueError";
  } catch (const ValueError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--batch: \"0\" is not an integer in [1, 1048576]"), std::string::npos) << m;
    EXPECT_LT(m.size(), 120u) << m;
  }
  MINIDL_EXPECT_THROW_WITH(parse({"--svm-c", "0", "--model", "svm"}), ValueError, "--svm-c");
  MINIDL_EXPECT_THROW_WITH(parse({"--svm-tol", "nan", "--model", "svm"}), ValueError, "--svm-tol");
  MINIDL_EXPECT_THROW_WITH(parse({"--svm-gamma", "-2", "--model", "svm"}), ValueError,
                           "--svm-gamma");
}

TEST(Options, LayerSizes) {
  for (const char* bad : {"64,", ",64", "64,,32", "", "0", "-3", "64;32", "99999999999"}) {
    SCOPED_TRACE(bad);
    MINIDL_EXPECT_THROW_WITH(parse({"--hidden", bad}), ValueError, "--hidden");
  }
  MINIDL_EXPECT_THROW_WITH(parse({"--model", "cnn", "--channels", "32,"}), ValueError,
                           "--channels", "empty item");
}

TEST(Options, EveryHelpValueIsAccepted) {
  for (const char* m : {"mlp", "cnn", "svm"}) EXPECT_EQ(parse({"--model", m}).train.model, m);
  for (const char* b : {"auto", "cpu", "onednn", "cudnn", "own"})
    EXPECT_EQ(parse({"--model", "cnn", "--conv-backend", b}).train.conv_backend, b);
  for (const char* o : {"sgd", "adam", "adamw"})
    EXPECT_EQ(parse({"--optimizer", o}).train.optimizer, o);
  for (const char* s : {"constant", "cosine"})
    EXPECT_EQ(parse({"--lr-schedule", s}).train.lr_schedule, s);
  for (const char* d : {"auto", "cpu", "cuda", "cuda:0"}) EXPECT_EQ(parse({"--device", d}).device, d);
  // --help says poly; the library's name is polynomial; both work.
  EXPECT_EQ(parse({"--model", "svm", "--svm-kernel", "poly"}).svm.kernel, "polynomial");
  for (const char* k : {"linear", "polynomial", "rbf", "sigmoid"})
    EXPECT_EQ(parse({"--model", "svm", "--svm-kernel", k}).svm.kernel, k);
  for (const char* g : {"scale", "auto", "0.01"})
    EXPECT_EQ(parse({"--model", "svm", "--svm-gamma", g}).svm.gamma, g);
  for (const char* mc : {"ovo", "ovr"})
    EXPECT_EQ(parse({"--model", "svm", "--svm-multi-class", mc}).svm.multi_class, mc);
  MINIDL_EXPECT_THROW_WITH(parse({"--model", "rnn"}), ValueError, "--model", "mlp, cnn, svm");
  MINIDL_EXPECT_THROW_WITH(parse({"--device", "tpu"}), ValueError, "--device");
  MINIDL_EXPECT_THROW_WITH(parse({"--help"}), HelpRequested, "--svm-kernel", "poly");
}

TEST(Options, IncompatibleCombinations) {
  MINIDL_EXPECT_THROW_WITH(
      parse({"--model", "svm", "--svm-multi-class", "ovr", "--svm-save", "m.txt"}), ValueError,
      "--svm-save", "one-vs-one");
  MINIDL_EXPECT_THROW_WITH(parse({"--svm-save", "m.txt"}), ValueError, "--svm-save",
                           "--model svm only");
  MINIDL_EXPECT_THROW_WITH(parse({"--model", "svm", "--save", "c.st"}), ValueError, "--save",
                           "--model mlp and cnn only");
  MINIDL_EXPECT_THROW_WITH(parse({"--model", "svm", "--resume", "c.st"}), ValueError, "--resume");
  MINIDL_EXPECT_THROW_WITH(parse({"--model", "svm", "--export-onnx", "m.onnx"}), ValueError,
                           "--export-onnx", "SVM has no ONNX export");
  MINIDL_EXPECT_THROW_WITH(parse({"--channels", "8"}), ValueError, "--channels", "--model cnn");
  MINIDL_EXPECT_THROW_WITH(parse({"--momentum", "0.5"}), ValueError, "--momentum",
                           "--optimizer sgd");
  // A resumed run keeps the checkpoint's rate: asking for another is an error.
  MINIDL_EXPECT_THROW_WITH(parse({"--resume", "c.st", "--lr", "0.5"}), ValueError, "--lr",
                           "resumed run");
  EXPECT_EQ(parse({"--resume", "c.st", "--epochs", "20"}).train.epochs, 20);
}

// CLI11's own messages echo the value: a 5 MB token is cut short.
TEST(Options, LongTokensAreCutShort) {
  const std::string huge(5000000, 'x');
  for (const char* option : {"--model", "--lr", "--hidden", "--nonsense"}) {
    SCOPED_TRACE(option);
    try {
      parse({option, huge.c_str()});
      ADD_FAILURE() << "expected ValueError";
    } catch (const ValueError& e) {
      EXPECT_LT(std::string(e.what()).size(), 400u);
    }
  }
  EXPECT_EQ(shorten_tokens("a " + std::string(70, 'b') + " c", 64),
            "a " + std::string(64, 'b') + "...(70 bytes) c");
}

class TempFolder {
 public:
  TempFolder() {
    path_ = std::filesystem::temp_directory_path() /
            ("minidl-options-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Checked before the data is loaded; they failed only after training before.
TEST(Options, OutputPathsAreCheckedUpFront) {
  TempFolder dir;
  Options o = parse({});
  o.out_dir = dir.file("out/nested");
  check_paths(o);  // a folder that can be created
  std::ofstream(dir.file("plain")) << "x";
  o.out_dir = dir.file("plain/sub");
  MINIDL_EXPECT_THROW_WITH(check_paths(o), IoError, "--out", "is not a folder");
  o.out_dir = dir.file("out");
  o.train.save = dir.file("missing/ckpt.safetensors");
  MINIDL_EXPECT_THROW_WITH(check_paths(o), IoError, "--save", "No such file or directory");
  o.train.save = "/dev/null";
  MINIDL_EXPECT_THROW_WITH(check_paths(o), IoError, "--save", "a character device");
  o.train.save.clear();
  o.svm.save_model = dir.file("missing/model.txt");
  MINIDL_EXPECT_THROW_WITH(check_paths(o), IoError, "--svm-save", "No such file or directory");
  o.svm.save_model.clear();
  o.train.resume = dir.file("none.safetensors");
  MINIDL_EXPECT_THROW_WITH(check_paths(o), IoError, "--resume", "No such file or directory");
  o.train.resume = dir.file("out");
  std::filesystem::create_directories(dir.file("out"));
  MINIDL_EXPECT_THROW_WITH(check_paths(o), IoError, "--resume", "not a regular file");
}

}  // namespace
}  // namespace minidl::train
