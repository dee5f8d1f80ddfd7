// minidl-train run as a program on a tiny Fashion-MNIST-shaped data folder: what
// a user sees for bad data, bad options and unusual runs (exit status, stdout,
// stderr). Each case crashed, misled or failed late before.
#include "cli_test_util.hpp"
#include "kernels/conv2d.hpp"

namespace minidl::train {
namespace {

namespace fs = std::filesystem;

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
