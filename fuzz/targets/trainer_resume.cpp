// Fuzz target "trainer_resume": a Trainer resumed from the bytes (TrainerOptions::resume:
// load_checkpoint, then the trainer's own entries: epochs done, the position inside an
// epoch, the running loss, the learning-rate factor, the plateau and early-stopping
// counters, the history as CSV), then trained for one more epoch with reduce-on-plateau
// and early stopping on, so that every restored counter is used.
//
// Checks, beyond "no crash, only minidl::Error": the restored learning-rate factor is
// finite and > 0; what fit() returns is the restored history plus the epochs it ran; the
// checkpoint it writes resumes again.
#include <climits>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../data/loader.hpp"
#include "../../layers/activation.hpp"
#include "../../layers/dense.hpp"
#include "../../layers/loss.hpp"
#include "../../layers/sequential.hpp"
#include "../../optim/adam.hpp"
#include "../../training/trainer.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

namespace {

// The checkpoint target's model (fuzz/targets/checkpoint.cpp): 4 -> Dense(3) -> ReLU ->
// Dense(2), cross-entropy. The seeds are this trainer's own checkpoints.
Sequential small_model() {
  Sequential net({4}, Device::cpu(), 1);
  net.add(std::make_shared<Dense>(3)).add(relu_layer()).add(std::make_shared<Dense>(2));
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(4);
  return net;
}

TrainerOptions resume_options(const std::string& resume, const std::string& checkpoint) {
  TrainerOptions o;
  o.resume = resume;
  o.checkpoint = checkpoint;
  o.checkpoint_every_steps = checkpoint.empty() ? 0 : 1;
  o.reduce_on_plateau.enabled = true;
  o.reduce_on_plateau.patience = 0;
  o.early_stopping.enabled = true;
  o.early_stopping.patience = 1;
  return o;
}

}  // namespace

int trainer_resume(const std::uint8_t* data, std::size_t size) {
  static ScratchFile in("trainer-in");
  static ScratchFile out("trainer-out");
  // 8 samples in batches of 4 (two steps an epoch), 4 for validation.
  static const std::vector<float> pixels = {0.5f,  -1.0f, 2.0f,  0.0f,  1.0f,  1.0f,  -0.5f, 0.25f,
                                            0.0f,  0.5f,  -2.0f, 1.0f,  1.5f,  0.0f,  0.5f,  -1.0f,
                                            -1.0f, 2.0f,  0.0f,  0.5f,  0.25f, -0.5f, 1.0f,  1.0f,
                                            2.0f,  0.0f,  0.5f,  -1.0f, 0.0f,  0.0f,  1.0f,  -0.5f};
  static const std::vector<std::int32_t> classes = {0, 1, 1, 0, 1, 0, 0, 1};
  static const Tensor x = from_vector(pixels, {8, 4});
  static const Tensor y = from_vector(classes, {8});
  static const Tensor val_x =
      from_vector(std::vector<float>(pixels.begin(), pixels.begin() + 16), {4, 4});
  static const Tensor val_y =
      from_vector(std::vector<std::int32_t>(classes.begin(), classes.begin() + 4), {4});
  LoaderOptions lo;
  lo.batch_size = 4;
  lo.seed = 3;
  DataLoader train(x, y, lo);
  lo.shuffle = false;
  DataLoader validation(val_x, val_y, lo);

  Sequential net = small_model();
  Adam adam(net.graph().parameters());
  std::unique_ptr<Trainer> trainer;
  try {
    trainer =
        std::make_unique<Trainer>(net, adam, resume_options(in.write(data, size), out.path()));
  } catch (const Error&) {
    return 0;
  }
  const double factor = trainer->lr_factor();
  if (!std::isfinite(factor) || factor <= 0) violated("a learning-rate factor that is not > 0");
  const int done = trainer->epochs_done();
  const std::size_t restored = trainer->history().size();
  if (done == INT_MAX) return 0;  // nothing left to train
  trainer->options().epochs = done + 1;
  std::vector<EpochMetrics> history;
  try {
    history = trainer->fit(train, &validation);
  } catch (const Error&) {
    return 0;  // a position the data cannot continue from, a diverged run: errors, not crashes
  }
  if (history.size() != restored && history.size() != restored + 1)
    violated("fit() returned " + std::to_string(history.size()) + " epochs after " +
             std::to_string(restored) + " restored and at most one trained");
  if (history.size() == restored + 1) {
    // The checkpoint the epoch ended with resumes, at the epoch that follows.
    Sequential again = small_model();
    Adam adam2(again.graph().parameters());
    try {
      Trainer resumed(again, adam2, resume_options(out.path(), ""));
      if (resumed.epochs_done() != done + 1)
        violated("the trainer's own checkpoint resumed at the wrong epoch");
    } catch (const Error& e) {
      violated(std::string("the trainer's own checkpoint does not resume: ") + e.what());
    }
  }
  return 0;
}

}  // namespace minidl::fuzz
