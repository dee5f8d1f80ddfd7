// minidl-train run as a program on a tiny Fashion-MNIST-shaped data folder: what
// a user sees for bad data, bad options and unusual runs (exit status, stdout,
// stderr). Each case crashed, misled or failed late before.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/conv2d.hpp"
#include "test_util.hpp"

namespace minidl::train {
namespace {

namespace fs = std::filesystem;

class Folder {
 public:
  Folder() {
    std::string pattern = (fs::temp_directory_path() / "minidl-cli-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
    fs::permissions(path_, fs::perms::all);  // the "nobody" runs write their output here
  }
  ~Folder() {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(path_, ec))
      fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  Folder(const Folder&) = delete;
  Folder& operator=(const Folder&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// Plain (not gzip) IDX files: n 28x28 images whose mean brightness follows the
// label, and n labels cycling through `classes`.
void write_fashion_split(const std::string& dir, const std::string& prefix, std::uint32_t n,
                         std::uint32_t classes = 10) {
  std::vector<std::uint8_t> images{0, 0, 8, 3}, labels{0, 0, 8, 1};
  put_be32(images, n);
  put_be32(images, 28);
  put_be32(images, 28);
  put_be32(labels, n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t label = i % classes;
    labels.push_back(static_cast<std::uint8_t>(label));
    for (std::uint32_t p = 0; p < 28 * 28; ++p)
      images.push_back(static_cast<std::uint8_t>((label * 25 + (p * 7 + i * 13) % 17) % 256));
  }
  std::ofstream(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary)
      .write(reinterpret_cast<const char*>(images.data()), static_cast<std::streamsize>(images.size()));
  std::ofstream(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary)
      .write(reinterpret_cast<const char*>(labels.data()), static_cast<std::streamsize>(labels.size()));
}

std::string data_folder(const Folder& f, std::uint32_t train = 60, std::uint32_t test = 20) {
  const std::string dir = f.file("data");
  fs::create_directories(dir);
  write_fashion_split(dir, "train", train);
  write_fashion_split(dir, "t10k", test);
  return dir;
}

struct Result {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs minidl-train with `args` (as the user "nobody" when as_nobody and this
// process is root), stdout and stderr captured in files of `f`.
Result run(const Folder& f, std::vector<std::string> args, bool as_nobody = false) {
  static int counter = 0;
  const std::string out = f.file("stdout" + std::to_string(counter)),
                    err = f.file("stderr" + std::to_string(counter));
  ++counter;
  args.insert(args.begin(), MINIDL_TRAIN_EXE);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::setenv("MINIDL_DISABLE_CUDA", "1", 1);
    if (as_nobody && ::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
      ::_exit(125);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  Result r;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid)
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_all(out);
  r.err = read_all(err);
  return r;
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "lacks \"" << (needle) << "\" in:\n" << (haystack)

std::vector<std::string> small(const std::string& data, const Folder& f,
                               std::vector<std::string> more = {}) {
  std::vector<std::string> a{"--data", data, "--out", f.file("out"), "--no-progress",
                             "--device", "cpu"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

const std::vector<std::string> kTinyMlp{"--hidden", "8", "--epochs", "1", "--batch", "16"};

std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A valid IDX training split of 0 images: SIGFPE (mlp, cnn) and SIGSEGV (svm) before.
TEST(MinidlTrain, ZeroImagesIsAnError) {
  Folder f;
  const std::string data = data_folder(f, 0, 10);
  for (const char* model : {"mlp", "cnn", "svm"}) {
    SCOPED_TRACE(model);
    const Result r = run(f, small(data, f, {"--model", model}));
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_CONTAINS(r.err, "training split");
    EXPECT_CONTAINS(r.err, "holds 0 images");
  }
}

// A folder this user cannot read was reported as missing files.
TEST(MinidlTrain, UnreadableDataFolderIsReportedAsUnreadable) {
  Folder f;
  const std::string data = data_folder(f);
  fs::permissions(data, fs::perms::none);
  const Result r = run(f, small(data, f, kTinyMlp), /*as_nobody=*/true);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_CONTAINS(r.err, "is not readable");
  EXPECT_CONTAINS(r.err, "Permission denied");
}

TEST(MinidlTrain, EveryHelpValueRuns) {
  Folder f;
  const std::string data = data_folder(f);
  std::vector<std::vector<std::string>> runs = {
      join(kTinyMlp, {"--optimizer", "sgd"}),
      join(kTinyMlp, {"--optimizer", "adam", "--lr-schedule", "cosine"}),
      join(kTinyMlp, {"--optimizer", "adamw", "--lr-schedule", "constant"}),
      {"--model", "cnn", "--channels", "2", "--hidden", "8", "--epochs", "1", "--conv-backend",
       "cpu"},
      {"--model", "cnn", "--channels", "2", "--hidden", "8", "--epochs", "1", "--conv-backend",
       "auto"},
      {"--model", "svm", "--svm-kernel", "linear"},
      {"--model", "svm", "--svm-kernel", "poly"},
      {"--model", "svm", "--svm-kernel", "polynomial", "--svm-gamma", "scale"},
      {"--model", "svm", "--svm-kernel", "rbf", "--svm-gamma", "0.01", "--svm-multi-class", "ovr"},
      {"--model", "svm", "--svm-kernel", "sigmoid", "--svm-gamma", "auto",
       "--svm-multi-class", "ovo", "--svm-save", f.file("model.txt")},
  };
  if (cpu::onednn_available()) {
    runs.push_back({"--model", "cnn", "--channels", "2", "--hidden", "8", "--epochs", "1",
                    "--conv-backend", "onednn"});
  }
  for (const auto& extra : runs) {
    std::string label;
    for (const std::string& a : extra) label += a + " ";
    SCOPED_TRACE(label);
    const Result r = run(f, small(data, f, extra));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_CONTAINS(r.out, "test accuracy");
  }
  EXPECT_TRUE(fs::is_regular_file(f.file("model.txt")));
  // The GPU-only backends say so on a machine without one (CUDA is disabled here).
  for (const char* backend : {"cudnn", "own"}) {
    SCOPED_TRACE(backend);
    const Result r = run(f, small(data, f, {"--model", "cnn", "--channels", "2", "--hidden", "8",
                                            "--epochs", "1", "--conv-backend", backend}));
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_FALSE(r.err.empty());
  }
}

// Output paths and incompatible options fail before any training, with one prefix.
TEST(MinidlTrain, OutputsAreCheckedBeforeTheFirstEpoch) {
  Folder f;
  const std::string data = data_folder(f);
  const Result save = run(f, small(data, f, join(kTinyMlp, {"--save", f.file("no/ckpt")})));
  EXPECT_EQ(save.status, 1);
  EXPECT_CONTAINS(save.err, "--save");
  EXPECT_EQ(save.out.find("epoch 1"), std::string::npos) << save.out;
  const Result ovr = run(f, small(data, f, {"--model", "svm", "--svm-multi-class", "ovr",
                                            "--svm-save", f.file("m.txt")}));
  EXPECT_EQ(ovr.status, 1);
  EXPECT_CONTAINS(ovr.err, "one-vs-one");
  EXPECT_EQ(ovr.out.find("fit "), std::string::npos) << ovr.out;
  std::ofstream(f.file("file")) << "x";
  const Result out = run(f, {"--data", data, "--out", f.file("file/sub"), "--no-progress"});
  EXPECT_EQ(out.status, 1);
  EXPECT_CONTAINS(out.err, "--out");
  for (const Result& r : {save, ovr, out}) {
    EXPECT_EQ(r.err.rfind("minidl-train: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find("minidl-train: minidl-train:"), std::string::npos) << r.err;
  }
}

TEST(MinidlTrain, ResumingACompleteRunSaysSo) {
  Folder f;
  const std::string data = data_folder(f);
  const std::string ckpt = f.file("ckpt.safetensors");
  ASSERT_EQ(run(f, small(data, f, join(kTinyMlp, {"--save", ckpt}))).status, 0);
  const Result again = run(f, small(data, f, {"--hidden", "8", "--epochs", "1", "--batch", "16",
                                              "--resume", ckpt}));
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_CONTAINS(again.out, "weights, the optimizer's state and its learning rate come from "
                             "the checkpoint");
  EXPECT_CONTAINS(again.out, "already done 1 epochs and --epochs is 1: nothing to train");
  const Result lr = run(f, small(data, f, {"--hidden", "8", "--resume", ckpt, "--lr", "0.5"}));
  EXPECT_EQ(lr.status, 1);
  EXPECT_CONTAINS(lr.err, "--lr cannot change a resumed run");
}

// A learning rate that makes the loss overflow stops the run with the epoch and
// step instead of finishing with NaN and exit status 0.
TEST(MinidlTrain, DivergenceStopsWithTheEpochAndStep) {
  Folder f;
  const std::string data = data_folder(f);
  const Result r = run(f, small(data, f, {"--hidden", "64,64", "--epochs", "3", "--batch", "4",
                                          "--optimizer", "sgd", "--lr", "1000000"}));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_CONTAINS(r.err, "diverged");
  EXPECT_CONTAINS(r.err, "epoch");
  EXPECT_CONTAINS(r.err, "step");
}

TEST(MinidlTrain, LongTokensAreNotEchoedWhole) {
  Folder f;
  const std::string huge(100000, 'z');  // under Linux's 128 KiB per argument
  for (const char* option : {"--model", "--device", "--data"}) {
    SCOPED_TRACE(option);
    const Result r = run(f, {option, huge, "--no-progress", "--out", f.file("out")});
    EXPECT_EQ(r.status, 1);
    EXPECT_LT(r.err.size(), 1000u);
  }
}

}  // namespace
}  // namespace minidl::train
