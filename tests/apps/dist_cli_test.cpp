// minidl-train killed while it writes a checkpoint, and minidl-train under
// `mpirun -np 2` (data-parallel training, the distributed SVM) against one process.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <map>

#include "cli_test_util.hpp"
#include "io/safetensors.hpp"
#include "training/trainer.hpp"

namespace minidl::train {
namespace {

namespace fs = std::filesystem;

// The checkpoint's tensors by name, as float vectors (every minidl checkpoint
// tensor is float32), and its metadata.
struct Checkpoint {
  std::map<std::string, std::vector<float>> tensors;
  std::map<std::string, std::string> metadata;
};

Checkpoint read_checkpoint(const std::string& path) {
  const SafetensorsFile file = load_safetensors(path);
  Checkpoint c;
  for (const NamedTensor& t : file.tensors) c.tensors[t.name] = t.tensor.to_vector<float>();
  c.metadata = file.metadata;
  return c;
}

std::string epochs_done(const std::string& path) {
  const auto meta = read_checkpoint(path).metadata;
  const auto it = meta.find("user.trainer.epochs_done");
  return it == meta.end() ? std::string("(none)") : it->second;
}

// Every tensor of a and b bit for bit (the weights, the optimizer's slots).
void expect_same_tensors(const Checkpoint& a, const Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, values] : a.tensors) {
    const auto it = b.tensors.find(name);
    ASSERT_NE(it, b.tensors.end()) << name;
    EXPECT_EQ(values, it->second) << name;
  }
}

const std::vector<std::string> kThreeEpochs{"--hidden", "8", "--epochs", "3", "--batch", "16",
                                            "--optimizer", "sgd", "--lr", "0.05"};

// Killed (SIGKILL) in its second checkpoint's commit, before the rename: the file
// is the first epoch's complete checkpoint, and a run resumed from it ends with
// the weights of a run that was never interrupted. Killed just after the rename:
// the file is the second epoch's.
TEST(MinidlTrainCrash, KilledWhileSavingLeavesAResumableCheckpoint) {
  Folder f;
  const std::string data = data_folder(f);
  const std::string whole = f.file("whole.safetensors");
  ASSERT_EQ(run(f, small(data, f, join(kThreeEpochs, {"--save", whole}))).status, 0);

  const std::string ckpt = f.file("ckpt.safetensors");
  const Result killed = run(f, small(data, f, join(kThreeEpochs, {"--save", ckpt})), false,
                            {{"MINIDL_TEST_KILL_IN_COMMIT", "before:2"}});
  EXPECT_EQ(killed.status, 128 + SIGKILL) << killed.err;
  EXPECT_EQ(epochs_done(ckpt), "1");
  const Result resumed = run(
      f, small(data, f, {"--hidden", "8", "--epochs", "3", "--batch", "16", "--optimizer", "sgd", "--resume", ckpt,
                         "--save", ckpt}));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_CONTAINS(resumed.out, "after epoch 1 of 3");
  expect_same_tensors(read_checkpoint(ckpt), read_checkpoint(whole));

  const std::string after = f.file("after.safetensors");
  const Result killed_after = run(f, small(data, f, join(kThreeEpochs, {"--save", after})), false,
                                  {{"MINIDL_TEST_KILL_IN_COMMIT", "after:2"}});
  EXPECT_EQ(killed_after.status, 128 + SIGKILL) << killed_after.err;
  EXPECT_EQ(epochs_done(after), "2");
}

// ---- under mpirun -np 2 ------------------------------------------------------

// The largest |a - b| - (atol + rtol |b|) over every tensor; <= 0 when all are within.
double worst_excess(const Checkpoint& a, const Checkpoint& b, double atol, double rtol,
                    std::string* where) {
  double worst = -1e300;
  for (const auto& [name, values] : a.tensors) {
    const auto it = b.tensors.find(name);
    if (it == b.tensors.end() || it->second.size() != values.size()) {
      *where = name + " (missing or another size)";
      return 1e300;
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double ref = it->second[i];
      const double excess = std::fabs(double(values[i]) - ref) - (atol + rtol * std::fabs(ref));
      if (excess > worst) {
        worst = excess;
        *where = name + "[" + std::to_string(i) + "] " + std::to_string(values[i]) + " vs " +
                 std::to_string(ref);
      }
    }
  }
  return worst;
}

// The last line of `text` that starts with `start` (the final summary, after the
// per-epoch lines).
std::string last_line(const std::string& text, const std::string& start) {
  const std::size_t at = text.rfind("\n" + start);
  if (at == std::string::npos) return "(no line '" + start + "')";
  return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// `args` with `option`'s value set to `value` (replaced where present, else appended).
std::vector<std::string> with(std::vector<std::string> args, const std::string& option,
                              const std::string& value) {
  const auto it = std::find(args.begin(), args.end(), option);
  if (it != args.end() && it + 1 != args.end()) {
    *(it + 1) = value;
  } else {
    args.insert(args.end(), {option, value});
  }
  return args;
}

// 64 training images (4 global batches of 16), 40 test images: a few seconds.
struct Runs {
  Folder f;
  std::string data = data_folder(f, 64, 40);
  // --epochs 2 --batch 16 unless `more` says otherwise.
  std::vector<std::string> args(const std::vector<std::string>& more, const std::string& out) {
    std::vector<std::string> a{"--data", data, "--out", f.file(out), "--no-progress",
                               "--device", "cpu", "--epochs", "2", "--batch", "16"};
    for (std::size_t i = 0; i + 1 < more.size(); i += 2) a = with(a, more[i], more[i + 1]);
    if (more.size() % 2 == 1) a.push_back(more.back());
    return a;
  }
};

// One process with --batch 16 and two with 8 each take the same steps: same
// losses, same test accuracy, weights equal up to rounding. Tolerance: the two
// runs add the same float32 terms in another order (each rank's gradient is a mean
// over 8 samples, then the ranks' sums are combined, instead of one mean over 16),
// about 1e-7 relative per gradient element, and 8 steps carry that forward without
// much growth on these small models: measured, the largest difference of any
// weight or optimizer slot is 6e-7 relative (SGD's momentum of the last layer,
// 8.156135 vs 8.156130) and 6e-8 absolute with Adam and on the CNN. The bound,
// 1e-5 + 1e-4 |w|, is 100x that, and still far below what one wrong step (a lost
// or doubled gradient, a misplaced shard) would change. The values are printed.
TEST(MinidlTrainMpi, TwoRanksTrainLikeOneProcessWithTheGlobalBatch) {
  MINIDL_SKIP_WITHOUT_MPI();
  Runs r;
  const std::vector<std::vector<std::string>> models = {
      {"--hidden", "16", "--optimizer", "sgd", "--lr", "0.05"},
      {"--hidden", "16", "--optimizer", "adam"},
      {"--model", "cnn", "--channels", "2,4", "--hidden", "8", "--dropout", "0", "--conv-backend",
       "cpu"},
  };
  int k = 0;
  for (const auto& model : models) {
    std::string label;
    for (const std::string& a : model) label += a + " ";
    SCOPED_TRACE(label);
    const std::string one_ckpt = r.f.file("one" + std::to_string(k) + ".safetensors");
    const std::string two_ckpt = r.f.file("two" + std::to_string(k) + ".safetensors");
    const Result one = run(r.f, r.args(join(model, {"--save", one_ckpt}), "out1"));
    ASSERT_EQ(one.status, 0) << one.err;
    const Result two = run_mpi(r.f, 2, r.args(join(model, {"--save", two_ckpt}), "out2"));
    ASSERT_EQ(two.status, 0) << two.err << two.out;
    EXPECT_CONTAINS(two.out, "x 2 processes");
    EXPECT_EQ(last_line(two.out, "test accuracy"), last_line(one.out, "test accuracy"));
    const Checkpoint a = read_checkpoint(two_ckpt), b = read_checkpoint(one_ckpt);
    std::string where;
    const double excess = worst_excess(a, b, 1e-5, 1e-4, &where);
    EXPECT_LE(excess, 0.0) << "worst: " << where;
    std::string where_abs;
    const double largest = worst_excess(a, b, 0.0, 0.0, &where_abs);
    std::printf("[ info ] %s: largest |w2 - w1| %.3g at %s\n", label.c_str(), largest,
                where_abs.c_str());
    // The per-epoch training loss (all-reduced) agrees to float32 rounding.
    const auto history = [](const Checkpoint& c) {
      return parse_metrics_csv(c.metadata.at("user.trainer.history"));
    };
    const auto ha = history(a), hb = history(b);
    ASSERT_EQ(ha.size(), 2u);
    ASSERT_EQ(hb.size(), 2u);
    for (std::size_t e = 0; e < 2; ++e) {
      EXPECT_NEAR(ha[e].train_loss, hb[e].train_loss, 1e-5 * std::fabs(hb[e].train_loss));
      EXPECT_NEAR(ha[e].val_loss, hb[e].val_loss, 1e-5 * std::fabs(hb[e].val_loss));
      EXPECT_EQ(ha[e].val_accuracy, hb[e].val_accuracy);
    }
    ++k;
  }
}

// Rank 1 runs in its own folder: relative --out and --save paths would land there
// if it wrote anything. Only rank 0's folder gets files, and only rank 0 prints.
TEST(MinidlTrainMpi, OnlyRankZeroWritesAndPrints) {
  MINIDL_SKIP_WITHOUT_MPI();
  Runs r;
  const std::string a = r.f.file("rank0"), b = r.f.file("rank1");
  fs::create_directories(a);
  fs::create_directories(b);
  const Result two =
      run_mpi(r.f, 2,
              {"--data", r.data, "--out", "out", "--no-progress", "--device", "cpu", "--epochs",
               "2", "--batch", "16", "--hidden", "8", "--save", "ckpt.safetensors"},
              {}, {a, b});
  ASSERT_EQ(two.status, 0) << two.err << two.out;
  for (const char* file : {"out/metrics.csv", "out/curves.svg", "out/confusion.csv",
                           "ckpt.safetensors"})
    EXPECT_TRUE(fs::is_regular_file(a + "/" + file)) << file;
  EXPECT_TRUE(fs::is_empty(b)) << "rank 1 wrote into its folder";
  EXPECT_EQ(occurrences(two.out, "confusion matrix:"), 1u) << two.out;
  EXPECT_EQ(occurrences(two.out, "minidl "), 1u) << two.out;  // the banner
}

// A 2-rank checkpoint after epoch 1 resumed on 2 ranks ends bit for bit where an
// uninterrupted 2-rank run ends (the same operations in the same order), and on
// one process within the tolerance above.
TEST(MinidlTrainMpi, TwoRanksResumeFromACheckpoint) {
  MINIDL_SKIP_WITHOUT_MPI();
  Runs r;
  const std::vector<std::string> model{"--hidden", "16", "--optimizer", "sgd"};
  const std::string whole = r.f.file("whole.safetensors"), half = r.f.file("half.safetensors");
  ASSERT_EQ(run_mpi(r.f, 2, r.args(join(model, {"--lr", "0.05", "--save", whole}), "o1")).status,
            0);
  ASSERT_EQ(run_mpi(r.f, 2, with(r.args(join(model, {"--lr", "0.05", "--save", half}), "o2"),
                                "--epochs", "1"))
                .status,
            0);
  const std::string resumed2 = r.f.file("resumed2.safetensors");
  fs::copy_file(half, resumed2);
  const Result two = run_mpi(r.f, 2, r.args(join(model, {"--resume", resumed2, "--save",
                                                         resumed2}), "o3"));
  ASSERT_EQ(two.status, 0) << two.err << two.out;
  EXPECT_CONTAINS(two.out, "after epoch 1 of 2");
  expect_same_tensors(read_checkpoint(resumed2), read_checkpoint(whole));
  const std::string resumed1 = r.f.file("resumed1.safetensors");
  fs::copy_file(half, resumed1);
  const Result one = run(r.f, r.args(join(model, {"--resume", resumed1, "--save", resumed1}),
                                     "o4"));
  ASSERT_EQ(one.status, 0) << one.err;
  std::string where;
  EXPECT_LE(worst_excess(read_checkpoint(resumed1), read_checkpoint(whole), 1e-5, 1e-4, &where),
            0.0)
      << where;
}

// Rank 0 killed (SIGKILL) in its second checkpoint's commit: mpirun ends the job
// with a non-zero status, the checkpoint is epoch 1's complete file, and 2 ranks
// resumed from it end where an uninterrupted run does. Killed just after the
// rename, the checkpoint is epoch 2's.
TEST(MinidlTrainMpi, RankZeroKilledWhileSavingLeavesAResumableCheckpoint) {
  MINIDL_SKIP_WITHOUT_MPI();
  Runs r;
  const std::vector<std::string> model{"--hidden", "16", "--optimizer", "sgd"};
  const std::string whole = r.f.file("whole.safetensors"), ckpt = r.f.file("ckpt.safetensors");
  ASSERT_EQ(run_mpi(r.f, 2, with(r.args(join(model, {"--lr", "0.05", "--save", whole}), "o1"),
                                      "--epochs", "3"))
                .status,
            0);
  const Result killed =
      run_mpi(r.f, 2, with(r.args(join(model, {"--lr", "0.05", "--save", ckpt}), "o2"), "--epochs", "3"),
              {{"MINIDL_TEST_KILL_IN_COMMIT", "before:2"}});
  EXPECT_NE(killed.status, 0) << killed.out;
  EXPECT_EQ(epochs_done(ckpt), "1");
  const Result resumed = run_mpi(
      r.f, 2, with(r.args(join(model, {"--resume", ckpt, "--save", ckpt}), "o3"), "--epochs", "3"));
  ASSERT_EQ(resumed.status, 0) << resumed.err << resumed.out;
  expect_same_tensors(read_checkpoint(ckpt), read_checkpoint(whole));

  const std::string after = r.f.file("after.safetensors");
  const Result killed_after =
      run_mpi(r.f, 2, with(r.args(join(model, {"--lr", "0.05", "--save", after}), "o4"), "--epochs", "3"),
              {{"MINIDL_TEST_KILL_IN_COMMIT", "after:2"}});
  EXPECT_NE(killed_after.status, 0);
  EXPECT_EQ(epochs_done(after), "2");
}

TEST(MinidlTrainMpi, GlobalBatchNotDivisibleByTheRanksIsRefused) {
  MINIDL_SKIP_WITHOUT_MPI();
  Runs r;
  const Result two = run_mpi(r.f, 2, r.args({"--hidden", "8", "--batch", "15"}, "o"));
  EXPECT_NE(two.status, 0);
  EXPECT_CONTAINS(two.err, "--batch 15 is the global batch");
  EXPECT_CONTAINS(two.err, "multiple of 2");
  EXPECT_EQ(two.out.find("epoch 1"), std::string::npos) << two.out;
}

// The one-vs-one pairs shared by 2 ranks (svm/distributed_fit.hpp) give the LIBSVM
// model file one process writes, byte for byte (both with one OpenMP thread per
// process: the kernel matrix's GEMM rounds differently with another thread count,
// distributed or not), and the same sharded prediction.
TEST(MinidlTrainMpi, SvmAcrossTwoRanksWritesTheSameModelFile) {
  MINIDL_SKIP_WITHOUT_MPI();
  Folder f;
  const std::string data = data_folder(f, 150, 40);
  for (const char* kernel : {"rbf", "linear"}) {
    SCOPED_TRACE(kernel);
    const std::string one_model = f.file(std::string("one-") + kernel),
                      two_model = f.file(std::string("two-") + kernel);
    const Result one = run(f, small(data, f, {"--model", "svm", "--svm-kernel", kernel,
                                              "--svm-save", one_model}));
    ASSERT_EQ(one.status, 0) << one.err;
    const Result two = run_mpi(f, 2, small(data, f, {"--model", "svm", "--svm-kernel", kernel,
                                                     "--svm-save", two_model}));
    ASSERT_EQ(two.status, 0) << two.err << two.out;
    const std::string a = read_all(one_model), b = read_all(two_model);
    EXPECT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << "the model files differ";
    EXPECT_EQ(last_line(two.out, "test accuracy"), last_line(one.out, "test accuracy"));
  }
}

}  // namespace
}  // namespace minidl::train
