// dist/data_parallel.hpp and the Trainer's data_parallel option. Every process
// also trains the same model ALONE on the whole global batch (no DataParallel):
// that is "one process with global batch B", and the data-parallel run on
// batches of B / world must match it.
//
// Tolerances. The two runs compute the same sums in a different order (a mean
// over B samples, against means over B / 2 samples, weighted and summed across
// processes), so they differ by float32 rounding: a few units in the last place
// per gradient element (relative ~1e-7), compounded over a handful of steps. The
// weights are compared with |a - b| <= 2e-6 + 1e-4 |b| and the losses with a
// relative 1e-5: two orders of magnitude above the differences measured (printed
// by the tests: max weight difference ~1e-7 for these runs), and orders below
// what a real mistake gives (a gradient summed instead of averaged, a missing or
// doubled share, a stale bucket: differences of 1e-3 and more after one step).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "data/fashion_mnist.hpp"
#include "data/loader.hpp"
#include "dist/collectives.hpp"
#include "dist/data_parallel.hpp"
#include "dist/process.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/loss.hpp"
#include "layers/pool.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/sgd.hpp"
#include "test_util.hpp"
#include "training/trainer.hpp"

namespace minidl::dist {
namespace {

#define REQUIRE_TWO_PROCESSES()                                                       \
  do {                                                                                \
    if (world_size() < 2) GTEST_SKIP() << "needs >= 2 processes (run under mpirun)"; \
  } while (0)

enum class Arch { Mlp, Cnn };

// A small model of each kind (no BatchNorm: see data_parallel.hpp).
std::unique_ptr<Sequential> make_model(Arch arch, std::int64_t batch, std::uint64_t seed = 7) {
  auto net = std::make_unique<Sequential>(Shape{64}, Device::cpu(), seed);
  if (arch == Arch::Mlp) {
    net->add<Dense>(32).add(relu_layer()).add<Dense>(16).add(relu_layer()).add<Dense>(10);
  } else {
    net->add<Reshape>(Shape{1, 8, 8})
        .add<Conv2d>(4, 3, Conv2dOptions::same())
        .add(relu_layer())
        .add<MaxPool2d>(2)
        .add<Flatten>()
        .add<Dense>(10);
  }
  net->loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net->build(batch);
  return net;
}

struct Data {
  Tensor x, y;
};
Data make_data(std::int64_t n) {
  Generator gen(2024);
  Data d;
  d.x = normal({n, 64}, 0.0f, 1.0f, gen);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  const std::vector<float> x = d.x.to_vector<float>();
  // Labels that depend on the inputs, so there is something to learn.
  for (std::int64_t i = 0; i < n; ++i) {
    float s = 0;
    for (int k = 0; k < 8; ++k) s += x[static_cast<std::size_t>(i * 64 + k * 8)];
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(std::fabs(s) * 3) % 10;
  }
  d.y = from_vector(labels);
  return d;
}

std::unique_ptr<Optimizer> make_optimizer(bool adam, Sequential& net) {
  if (adam) return std::make_unique<Adam>(net.graph().parameters(), AdamOptions{1e-2f});
  return std::make_unique<Sgd>(net.graph().parameters(), SgdOptions{0.1f, 0.9f});
}

// The losses of `steps` steps over the loader (the loss of the global batch:
// each process's mean weighted by its share), and the final weights.
struct Run {
  std::vector<double> losses;
  std::vector<std::vector<float>> weights;
};

Run train_steps(Sequential& net, Optimizer& opt, DataLoader& loader, int steps, bool parallel) {
  Run run;
  Batch b;
  loader.start_epoch(0);
  for (int s = 0; s < steps; ++s) {
    if (!loader.next(b)) {
      loader.start_epoch(loader.epoch() + 1);
      EXPECT_TRUE(loader.next(b));
    }
    opt.zero_grad();
    double weighted = 0;
    if (b.size > 0) {
      weighted = static_cast<double>(net.train_step(b.x, b.y)) * static_cast<double>(b.size);
    }
    opt.step();
    if (parallel) {
      std::vector<double> v{weighted};
      all_reduce(v);
      weighted = v[0];
    }
    run.losses.push_back(weighted / static_cast<double>(b.global_size));
  }
  for (Parameter* p : net.graph().parameters()) run.weights.push_back(p->value.to_vector<float>());
  return run;
}

void expect_same_run(const Run& parallel, const Run& alone, const std::string& what) {
  ASSERT_EQ(parallel.losses.size(), alone.losses.size());
  for (std::size_t s = 0; s < alone.losses.size(); ++s)
    EXPECT_NEAR(parallel.losses[s], alone.losses[s], 1e-5 * std::fabs(alone.losses[s]))
        << what << " step " << s;
  ASSERT_EQ(parallel.weights.size(), alone.weights.size());
  double worst = 0;
  for (std::size_t i = 0; i < alone.weights.size(); ++i) {
    EXPECT_TRUE(test::all_close(parallel.weights[i], alone.weights[i], 2e-6f, 1e-4f))
        << what << " parameter " << i;
    for (std::size_t k = 0; k < alone.weights[i].size(); ++k)
      worst = std::max(worst, static_cast<double>(std::fabs(parallel.weights[i][k] - alone.weights[i][k])));
  }
  // The weights are identical on every process (each took the same averaged step).
  for (std::size_t i = 0; i < parallel.weights.size(); ++i) {
    Tensor mine = from_vector(parallel.weights[i]);
    Tensor root = mine.clone();
    broadcast(root, 0);
    EXPECT_EQ(mine.to_vector<float>(), root.to_vector<float>()) << what << " parameter " << i;
  }
  if (rank() == 0)
    std::cout << "[ measured ] " << what << ": max |w_parallel - w_alone| = " << worst << "\n";
}

void compare_with_one_process(Arch arch, bool adam, std::int64_t n, std::int64_t global_batch,
                              int steps, const std::string& what) {
  const Data d = make_data(n);
  // One process, the global batch.
  auto alone = make_model(arch, global_batch);
  auto alone_opt = make_optimizer(adam, *alone);
  DataLoader whole(d.x, d.y, LoaderOptions{global_batch, true, /*seed=*/5});
  const Run reference = train_steps(*alone, *alone_opt, whole, steps, false);

  // Data parallel: this process's share. Another seed: the broadcast from rank 0
  // must make the starting weights equal.
  LoaderOptions mine = sharded(LoaderOptions{global_batch, true, /*seed=*/5});
  DataLoader shard(d.x, d.y, mine);
  auto net = make_model(arch, shard.local_batch_size(), rank() == 0 ? 7 : 100 + rank());
  auto opt = make_optimizer(adam, *net);
  DataParallel ddp(*net, *opt, DataParallelOptions{/*bucket_bytes=*/2048});
  EXPECT_EQ(ddp.active(), world_size() > 1);
  const Run parallel = train_steps(*net, *opt, shard, steps, true);
  expect_same_run(parallel, reference, what);
}

TEST(DataParallel, MlpSgdMatchesOneProcessWithTheGlobalBatch) {
  compare_with_one_process(Arch::Mlp, false, 96, 32, 4, "MLP, SGD");
}
TEST(DataParallel, MlpAdamMatchesOneProcessWithTheGlobalBatch) {
  compare_with_one_process(Arch::Mlp, true, 96, 32, 4, "MLP, Adam");
}
TEST(DataParallel, CnnSgdMatchesOneProcessWithTheGlobalBatch) {
  compare_with_one_process(Arch::Cnn, false, 96, 32, 4, "CNN, SGD");
}
TEST(DataParallel, CnnAdamMatchesOneProcessWithTheGlobalBatch) {
  compare_with_one_process(Arch::Cnn, true, 96, 32, 4, "CNN, Adam");
}

// 33 samples, global batch 16: the third batch has one sample, which only rank 0
// gets; the others run no forward and contribute no samples to that step.
TEST(DataParallel, ShortLastBatchAndEmptySharesMatchOneProcess) {
  compare_with_one_process(Arch::Mlp, false, 33, 16, 3, "MLP, SGD, short last batch");
  compare_with_one_process(Arch::Mlp, true, 33, 16, 6, "MLP, Adam, short last batch, 2 epochs");
}

TEST(DataParallel, BucketsAreLaunchedDuringBackward) {
  REQUIRE_TWO_PROCESSES();
  const Data d = make_data(32);
  auto net = make_model(Arch::Mlp, 16);
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  DataParallelOptions o;
  o.bucket_bytes = 256;  // 64 floats: dense3 (16x10 + 10), dense2 (32x16 + 16), dense1: 3 buckets
  o.record_events = true;
  DataParallel ddp(*net, sgd, o);
  ASSERT_EQ(ddp.bucket_count(), 3u);
  // The last layer's gradients come first.
  EXPECT_EQ(ddp.bucket_parameters(0).front().rfind("dense3.", 0), 0u) << ddp.bucket_parameters(0).front();
  const std::vector<std::string> last = ddp.bucket_parameters(ddp.bucket_count() - 1);
  EXPECT_EQ(last.back().rfind("dense1.", 0), 0u) << last.back();

  Batch b;
  DataLoader loader(d.x, d.y, sharded(LoaderOptions{32, false}));
  ASSERT_TRUE(loader.next(b));
  sgd.zero_grad();
  ddp.clear_events();
  net->step(b.x, b.y);  // forward + backward
  const std::vector<DataParallelEvent> during = ddp.events();
  sgd.step();
  const std::vector<DataParallelEvent>& all = ddp.events();

  using K = DataParallelEvent::Kind;
  auto count = [](const std::vector<DataParallelEvent>& ev, K k) {
    return std::count_if(ev.begin(), ev.end(), [k](const DataParallelEvent& e) { return e.kind == k; });
  };
  // Every bucket was launched before backward returned, none waited for yet.
  EXPECT_EQ(count(during, K::BucketLaunched), static_cast<long>(ddp.bucket_count()));
  EXPECT_EQ(count(during, K::BucketDone), 0);
  // And bucket 0 before the first layer's gradients were final: while backward
  // still had layers to run.
  const auto first_launch = std::find_if(during.begin(), during.end(), [](const DataParallelEvent& e) {
    return e.kind == K::BucketLaunched;
  });
  const auto dense1_ready = std::find_if(during.begin(), during.end(), [](const DataParallelEvent& e) {
    return e.kind == K::GradientReady && e.parameter.rfind("dense1.", 0) == 0;
  });
  ASSERT_NE(first_launch, during.end());
  ASSERT_NE(dense1_ready, during.end());
  EXPECT_LT(first_launch - during.begin(), dense1_ready - during.begin());
  EXPECT_EQ(first_launch->bucket, 0);
  // Launches in bucket order, each right after its last gradient.
  int expected = 0;
  for (std::size_t i = 0; i < during.size(); ++i) {
    if (during[i].kind != K::BucketLaunched) continue;
    EXPECT_EQ(during[i].bucket, expected++);
    ASSERT_GT(i, 0u);
    EXPECT_EQ(during[i - 1].kind == K::GradientReady || during[i - 1].kind == K::BucketLaunched,
              true);
  }
  // step() waited for each, in order.
  EXPECT_EQ(count(all, K::BucketDone), static_cast<long>(ddp.bucket_count()));
}

TEST(DataParallel, OneProcessIsANoOp) {
  if (world_size() != 1) GTEST_SKIP() << "a world of one only";
  const Data d = make_data(16);
  auto net = make_model(Arch::Mlp, 16);
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  DataParallel ddp(*net, sgd, DataParallelOptions{1024, 0, true});
  EXPECT_FALSE(ddp.active());
  EXPECT_FALSE(net->graph().has_grad_ready_hook());
  EXPECT_FALSE(sgd.has_before_step_hook());
  net->step(d.x, d.y);
  const std::vector<float> grad = net->graph().parameters()[0]->grad.to_vector<float>();
  ddp.synchronize();
  EXPECT_EQ(net->graph().parameters()[0]->grad.to_vector<float>(), grad);
  EXPECT_TRUE(ddp.events().empty());
}

TEST(DataParallel, StartsFromRootsWeightsAndBuffers) {
  auto net = std::make_unique<Sequential>(Shape{16}, Device::cpu(), 11 + rank());
  net->add<Reshape>(Shape{1, 4, 4}).add<Conv2d>(2, 3, Conv2dOptions::same()).add<BatchNorm2d>();
  net->add<Flatten>().add<Dense>(3);
  net->loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net->build(4);
  for (auto& [name, t] : net->graph().buffers()) {
    (void)name;
    t->fill_(rank() + 0.5);
  }
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  const int root = world_size() - 1;
  DataParallel ddp(*net, sgd, DataParallelOptions{1 << 20, root});
  for (Parameter* p : net->graph().parameters()) {
    Tensor from_root = p->value.clone();
    broadcast(from_root, root);
    EXPECT_EQ(p->value.to_vector<float>(), from_root.to_vector<float>()) << p->name;
  }
  for (auto& [name, t] : net->graph().buffers())
    for (float v : t->to_vector<float>()) EXPECT_EQ(v, static_cast<float>(root) + 0.5f) << name;
}

TEST(DataParallel, BatchNormKeepsPerProcessStatistics) {
  REQUIRE_TWO_PROCESSES();
  auto net = std::make_unique<Sequential>(Shape{16}, Device::cpu(), 3);
  net->add<Reshape>(Shape{1, 4, 4}).add<Conv2d>(2, 3, Conv2dOptions::same()).add<BatchNorm2d>();
  net->add<Flatten>().add<Dense>(3);
  net->loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net->build(8);
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  DataParallel ddp(*net, sgd);
  Generator gen(static_cast<std::uint64_t>(rank()) + 1);  // different data per process
  Tensor x = normal({8, 16}, static_cast<float>(rank()), 1.0f, gen);
  Tensor y = zeros({8}, Device::cpu(), DType::Int32);
  sgd.zero_grad();
  net->step(x, y);
  sgd.step();
  // Parameters: equal everywhere. Running statistics: each process's own.
  for (Parameter* p : net->graph().parameters()) {
    Tensor r0 = p->value.clone();
    broadcast(r0, 0);
    EXPECT_EQ(p->value.to_vector<float>(), r0.to_vector<float>()) << p->name;
  }
  bool any_differs = false;
  for (auto& [name, t] : net->graph().buffers()) {
    Tensor r0 = t->clone();
    broadcast(r0, 0);
    any_differs = any_differs || t->to_vector<float>() != r0.to_vector<float>();
  }
  if (rank() != 0) {
    EXPECT_TRUE(any_differs) << "the running statistics were synchronised";
  }
}

TEST(DataParallel, Errors) {
  auto net = make_model(Arch::Mlp, 8);
  auto other = make_model(Arch::Mlp, 8);
  Sgd wrong(other->graph().parameters(), SgdOptions{0.1f});
  MINIDL_EXPECT_THROW_WITH(DataParallel(*net, wrong), ValueError, "optimizer", "graph");
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  MINIDL_EXPECT_THROW_WITH(DataParallel(*net, sgd, DataParallelOptions{0}), ValueError,
                           "bucket_bytes");
  MINIDL_EXPECT_THROW_WITH(DataParallel(*net, sgd, DataParallelOptions{64, world_size()}),
                           ValueError, "root");
  Sequential unbuilt({4});
  unbuilt.add<Dense>(2);
  Sgd none(net->graph().parameters());
  MINIDL_EXPECT_THROW_WITH(DataParallel(unbuilt.graph(), none), ValueError, "build");
  if (world_size() < 2) return;

  {
    DataParallel ddp(*net, sgd);
    MINIDL_EXPECT_THROW_WITH(DataParallel(*net, sgd), ValueError, "already has");
    // Two backward passes before a step.
    const Data d = make_data(8);
    net->step(d.x, d.y);
    MINIDL_EXPECT_THROW_WITH(net->step(d.x, d.y), Error, "reported twice", "larger batch");
    MINIDL_EXPECT_THROW_WITH(ddp.broadcast_state(), ValueError, "between steps");
    sgd.step();  // the round completes on every process
  }
  EXPECT_FALSE(net->graph().has_grad_ready_hook());
  EXPECT_FALSE(sgd.has_before_step_hook());

  // A model that differs on one process: the same error everywhere.
  auto mine = make_model(rank() == 1 ? Arch::Cnn : Arch::Mlp, 8);
  Sgd s2(mine->graph().parameters());
  MINIDL_EXPECT_THROW_WITH(DataParallel(*mine, s2), ValueError, "the models differ",
                           "on rank 1", "on rank 0");
}

// The Trainer with data_parallel: one epoch over a slice of Fashion-MNIST, the
// MLP, against the same Trainer alone with the global batch: the same training
// loss and the same test accuracy (within 0.1 points). 2,048 training and 1,000
// test images keep it to about a second per run on two loaded cores; the whole
// 60,000-image epoch would take a minute here and shows nothing more.
TEST(DataParallel, TrainerOneEpochGivesTheSameAccuracyAsOneProcess) {
  Dataset train, test;
  try {
    train = first_samples(load_fashion_mnist(FashionMnistSplit::Train), 2048);
    test = first_samples(load_fashion_mnist(FashionMnistSplit::Test), 1000);
  } catch (const IoError& e) {
    GTEST_SKIP() << "Fashion-MNIST is not installed: " << e.what();
  }
  auto run = [&](bool parallel) {
    Sequential net({784}, Device::cpu(), /*seed=*/1);
    net.add<Dense>(64).add(relu_layer()).add<Dense>(10);
    net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
    LoaderOptions o{64, true, /*seed=*/3};
    o.mean = kFashionMnistTrainMean;
    o.stddev = kFashionMnistTrainStd;
    LoaderOptions t = o;
    t.shuffle = false;
    if (parallel) {
      o = sharded(o);
      t = sharded(t);
    }
    DataLoader train_loader(train.images, train.labels, o);
    DataLoader test_loader(test.images, test.labels, t);
    net.build(train_loader.local_batch_size());
    Adam adam(net.graph().parameters(), AdamOptions{1e-3f});
    TrainerOptions options;
    options.epochs = 1;
    options.data_parallel = parallel;
    Trainer trainer(net, adam, options);
    const std::vector<EpochMetrics> history = trainer.fit(train_loader, &test_loader);
    EXPECT_EQ(trainer.last_evaluation().samples, 1000);
    return history.at(0);
  };
  const EpochMetrics alone = run(false);
  const EpochMetrics parallel = run(true);
  EXPECT_NEAR(parallel.train_loss, alone.train_loss, 1e-4 * alone.train_loss);
  EXPECT_NEAR(parallel.val_loss, alone.val_loss, 1e-4 * alone.val_loss);
  EXPECT_LE(std::fabs(parallel.val_accuracy - alone.val_accuracy) * 100, 0.1)
      << parallel.val_accuracy << " vs " << alone.val_accuracy;
  EXPECT_GT(alone.val_accuracy, 0.6);  // it learned something
  if (rank() == 0)
    std::cout << "[ measured ] one epoch: test accuracy " << alone.val_accuracy * 100
              << "% alone, " << parallel.val_accuracy * 100 << "% with " << world_size()
              << " processes; train loss " << alone.train_loss << " vs " << parallel.train_loss
              << "\n";
}

// synchronize() by hand, then a change to the averaged grads, then step(): the step uses
// them as they are. It averaged again (zeros, the round having been reset), and a
// clip_grad_norm between backward and step was overwritten by the bucket copies made
// during backward (found in review).
TEST(DataParallel, UserSynchronizeThenClipThenStep) {
  REQUIRE_TWO_PROCESSES();
  const Data d = make_data(16);
  auto net = make_model(Arch::Mlp, 8);
  Sgd sgd(net->graph().parameters(), SgdOptions{1.0f});
  DataParallel ddp(*net, sgd);
  DataLoader loader(d.x, d.y, sharded(LoaderOptions{16, false}));
  Batch batch;
  std::vector<Parameter*> params = net->graph().parameters();
  auto weights = [&] {
    std::vector<std::vector<float>> w;
    for (Parameter* p : params) w.push_back(p->value.to_vector<float>());
    return w;
  };
  ASSERT_TRUE(loader.next(batch));
  // 1. Read the average, step: the update is -lr * that average.
  sgd.zero_grad();
  net->step(batch.x, batch.y);
  ddp.synchronize();
  ddp.synchronize();  // a second call changes nothing
  std::vector<std::vector<float>> expected = weights();
  for (std::size_t k = 0; k < params.size(); ++k) {
    const std::vector<float> g = params[k]->grad.to_vector<float>();
    for (std::size_t i = 0; i < g.size(); ++i) expected[k][i] -= g[i];
  }
  bool any_gradient = false;
  for (Parameter* p : params)
    for (float v : p->grad.to_vector<float>()) any_gradient = any_gradient || v != 0.0f;
  ASSERT_TRUE(any_gradient);
  sgd.step();
  EXPECT_EQ(weights(), expected);
  // 2. Clip the average to a norm of 1e-3: the step moves the weights by that much.
  const std::vector<std::vector<float>> before = weights();
  sgd.zero_grad();
  net->step(batch.x, batch.y);
  ddp.synchronize();
  clip_grad_norm(params, 1e-3f);
  sgd.step();
  double moved = 0;
  const std::vector<std::vector<float>> after = weights();
  for (std::size_t k = 0; k < params.size(); ++k)
    for (std::size_t i = 0; i < after[k].size(); ++i)
      moved += std::pow(static_cast<double>(after[k][i]) - before[k][i], 2);
  EXPECT_LE(std::sqrt(moved), 1.001e-3);
  // 3. A backward after synchronize() and before the step is an error, on every process.
  sgd.zero_grad();
  net->step(batch.x, batch.y);
  ddp.synchronize();
  MINIDL_EXPECT_THROW_WITH(net->step(batch.x, batch.y), Error, "after synchronize()");
  sgd.step();
}

// Processes with different DataParallelOptions would run all-reduces of different lengths:
// refused on every process at construction (found in review).
TEST(DataParallel, OptionsMustAgreeAcrossProcesses) {
  REQUIRE_TWO_PROCESSES();
  auto net = make_model(Arch::Mlp, 8);
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  const std::size_t bucket = rank() == 0 ? 1024 : (4u << 20);
  MINIDL_EXPECT_THROW_WITH(DataParallel(*net, sgd, DataParallelOptions{bucket}), ValueError,
                           "the options differ", "bucket_bytes 1024");
}

// The Trainer refuses data parallel training with a sum-reduced loss, whose averaged
// gradients would be 1/W of the global batch's (found in review).
TEST(DataParallel, TrainerRefusesASumReducedLoss) {
  REQUIRE_TWO_PROCESSES();
  const Data d = make_data(32);
  Sequential net({64}, Device::cpu(), 7);
  net.add<Dense>(10);
  LossOptions summed;
  summed.reduction = Reduction::Sum;
  net.loss(softmax_cross_entropy_loss(summed), {}, DType::Int32);
  net.build(8);
  Sgd sgd(net.graph().parameters(), SgdOptions{0.1f});
  TrainerOptions options;
  options.epochs = 1;
  options.data_parallel = true;
  Trainer trainer(net, sgd, options);
  DataLoader train(d.x, d.y, sharded(LoaderOptions{16}));
  MINIDL_EXPECT_THROW_WITH(trainer.fit(train), ValueError, "Reduction::Sum");
}

// With BatchNorm the processes' running statistics drift apart; the epoch's validation
// (sharded here) measures rank 0's model, the one the checkpoint records: the same loss
// and accuracy as rank 0's model evaluated on the whole set alone (it combined W models;
// found in review).
TEST(DataParallel, TrainerValidatesRankZerosModel) {
  REQUIRE_TWO_PROCESSES();
  const Data d = make_data(64);
  auto net = std::make_unique<Sequential>(Shape{64}, Device::cpu(), 3);
  net->add<Reshape>(Shape{1, 8, 8}).add<Conv2d>(2, 3, Conv2dOptions::same()).add<BatchNorm2d>();
  net->add<Flatten>().add<Dense>(10);
  net->loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net->build(8);
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  TrainerOptions options;
  options.epochs = 1;
  options.data_parallel = true;
  Trainer trainer(*net, sgd, options);
  // Different data per process (a shard of shuffled rows), so the statistics differ.
  DataLoader train(d.x, d.y, sharded(LoaderOptions{16, true, 5}));
  DataLoader validation(d.x, d.y, sharded(LoaderOptions{16, false}));
  const std::vector<EpochMetrics> h = trainer.fit(train, &validation);
  // Rank 0's model alone on the whole set (buffers as rank 0 had them at validation).
  DataLoader whole(d.x, d.y, LoaderOptions{8, false});
  std::vector<double> mine{0.0, 0.0};
  if (rank() == 0) {
    const Evaluation e = evaluate(*net, whole);
    mine = {e.loss, e.accuracy};
  }
  all_reduce(mine);  // rank 0's values everywhere (the others add zeros)
  EXPECT_NEAR(h.at(0).val_loss, mine[0], 1e-6);
  EXPECT_NEAR(h.at(0).val_accuracy, mine[1], 1e-12);
}

TEST(DataParallel, TrainerRefusesAnUnshardedLoader) {
  REQUIRE_TWO_PROCESSES();
  const Data d = make_data(32);
  auto net = make_model(Arch::Mlp, 16);
  Sgd sgd(net->graph().parameters(), SgdOptions{0.1f});
  TrainerOptions options;
  options.epochs = 1;
  options.data_parallel = true;
  Trainer trainer(*net, sgd, options);
  DataLoader whole(d.x, d.y, LoaderOptions{16});
  MINIDL_EXPECT_THROW_WITH(trainer.fit(whole), ValueError, "dist::sharded", "shard 0 of 1");
}

// Checkpoints with data_parallel: only rank 0 writes (each rank is given its own
// path here, so the files show who wrote), a mid-epoch checkpoint records the
// running loss of all processes, and every process resumes from rank 0's file to
// the same weights and the same epoch losses as a run that was not interrupted.
TEST(DataParallel, TrainerCheckpointsOnRankZeroAndResumesExactly) {
  const Data d = make_data(80);
  std::string dir;
  if (rank() == 0) {
    std::string pattern = "/tmp/minidl-dist-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir = pattern;
  }
  dir = broadcast(dir, 0);
  const std::string mine = dir + "/rank" + std::to_string(rank()) + ".safetensors";
  const std::string root_file = dir + "/rank0.safetensors";
  auto make = [&](std::uint64_t seed) {
    auto net = make_model(Arch::Mlp, 16, seed);
    auto opt = std::make_unique<Adam>(net->graph().parameters(), AdamOptions{1e-2f});
    return std::make_pair(std::move(net), std::move(opt));
  };
  const LoaderOptions lo = sharded(LoaderOptions{16, true, /*seed=*/4});
  TrainerOptions options;
  options.epochs = 2;
  options.data_parallel = true;

  // Uninterrupted.
  auto [net_u, opt_u] = make(7);
  DataLoader train_u(d.x, d.y, lo);
  const std::vector<EpochMetrics> uninterrupted = Trainer(*net_u, *opt_u, options).fit(train_u);

  // Stopped at step 4 of epoch 1 (of 5 steps), with a checkpoint after step 3.
  {
    auto [net, opt] = make(7);
    DataLoader train(d.x, d.y, lo);
    TrainerOptions o = options;
    o.checkpoint = mine;
    o.checkpoint_every_steps = 3;
    o.report_every = 1;
    o.on_progress = [](const Progress& p) {
      if (p.epoch == 1 && p.step == 4) throw ValueError("stop here");
    };
    Trainer trainer(*net, *opt, o);
    EXPECT_THROW(trainer.fit(train), ValueError);
  }
  barrier();
  EXPECT_EQ(std::ifstream(mine).good(), rank() == 0) << "only rank 0 writes checkpoints";
  // Resumed by every process from rank 0's file, into a model made with another seed.
  auto [net_r, opt_r] = make(99 + static_cast<std::uint64_t>(rank()));
  DataLoader train_r(d.x, d.y, lo);
  TrainerOptions o = options;
  o.resume = root_file;
  const std::vector<EpochMetrics> resumed = Trainer(*net_r, *opt_r, o).fit(train_r);
  ASSERT_EQ(resumed.size(), 2u);
  for (std::size_t e = 0; e < 2; ++e)
    EXPECT_NEAR(resumed[e].train_loss, uninterrupted[e].train_loss,
                1e-6 * uninterrupted[e].train_loss)
        << "epoch " << e + 1;
  const std::vector<Parameter*> pu = net_u->graph().parameters();
  const std::vector<Parameter*> pr = net_r->graph().parameters();
  for (std::size_t i = 0; i < pu.size(); ++i)
    EXPECT_EQ(pr[i]->value.to_vector<float>(), pu[i]->value.to_vector<float>()) << pu[i]->name;
  barrier();
  if (rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace minidl::dist
