// minidl-train killed while it writes a checkpoint, and minidl-train under
// `mpirun -np 2` (data-parallel training, the distributed SVM) against one process.
#include <csignal>
#include <map>

#include "cli_test_util.hpp"
#include "io/safetensors.hpp"

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

}  // namespace
}  // namespace minidl::train
