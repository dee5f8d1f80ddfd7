#include "training/trainer.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "io/safetensors.hpp"
#include "layers/activation.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "optim/adam.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

// 12 features, label = argmax of the first 4 (4 classes).
struct Data {
  Tensor x, y;
};
Data synthetic(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  Tensor x = uniform({n, 12}, 0.0f, 1.0f, gen);
  const auto v = x.to_vector<float>();
  std::vector<std::int32_t> labels;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int32_t best = 0;
    for (std::int32_t k = 1; k < 4; ++k)
      if (v[static_cast<std::size_t>(i * 12 + k)] > v[static_cast<std::size_t>(i * 12 + best)])
        best = k;
    labels.push_back(best);
  }
  return {x, from_vector(labels, {n})};
}

Sequential make_model(float dropout = 0.0f, Reduction reduction = Reduction::Mean) {
  Sequential net({12}, Device::cpu(), 7);
  net.add<Dense>(16).add(relu_layer());
  if (dropout > 0.0f) net.add<Dropout>(dropout);
  net.add(Dense(4), "logits");
  LossOptions loss;
  loss.reduction = reduction;
  net.loss(softmax_cross_entropy_loss(loss), {}, DType::Int32);
  net.build(32);
  return net;
}

LoaderOptions loader(bool shuffle) {
  LoaderOptions o;
  o.batch_size = 32;
  o.shuffle = shuffle;
  o.seed = 3;
  return o;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("minidl_trainer_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::vector<std::vector<float>> parameters_of(Sequential& net) {
  std::vector<std::vector<float>> out;
  for (Parameter* p : net.graph().parameters()) out.push_back(p->value.to_vector<float>());
  return out;
}

TEST(Trainer, FitLearnsAndEvaluateCountsEverySample) {
  const Data train = synthetic(512, 1), test = synthetic(200, 2);
  Sequential net = make_model();
  Adam adam(net.graph().parameters(), AdamOptions{1e-2f});
  DataLoader tl(train.x, train.y, loader(true)), vl(test.x, test.y, loader(false));
  TrainerOptions o;
  o.epochs = 4;
  std::vector<int> epochs_seen;
  o.on_epoch = [&](const EpochMetrics& m) { epochs_seen.push_back(m.epoch); };
  Trainer trainer(net, adam, o);
  const auto history = trainer.fit(tl, &vl);
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(epochs_seen, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_LT(history.back().train_loss, 0.7 * history.front().train_loss);
  EXPECT_GT(history.back().val_accuracy, 0.6);  // chance is 0.25
  EXPECT_GT(history.back().images_per_second, 0.0);
  EXPECT_FLOAT_EQ(static_cast<float>(history.back().learning_rate), 1e-2f);

  // evaluate(): the confusion matrix counts every sample once, its diagonal is the accuracy,
  // and the loss is the mean of the per-sample losses.
  const Evaluation e = evaluate(net, vl);
  EXPECT_EQ(e.samples, 200);
  ASSERT_EQ(e.confusion.size(), 4u);
  std::int64_t total = 0, diagonal = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(e.confusion[i].size(), 4u);
    for (std::size_t j = 0; j < 4; ++j) total += e.confusion[i][j];
    diagonal += e.confusion[i][i];
  }
  EXPECT_EQ(total, 200);
  EXPECT_DOUBLE_EQ(e.accuracy, static_cast<double>(diagonal) / 200.0);
  EXPECT_EQ(e.accuracy, trainer.last_evaluation().accuracy);
  // The oracle: every sample on its own, loss -log softmax(z)_y, prediction argmax z.
  const std::vector<float> xs = test.x.to_vector<float>();
  double loss = 0;
  std::int64_t correct = 0;
  const auto labels = test.y.to_vector<std::int32_t>();
  for (std::int64_t start = 0; start < 200; start += 32) {
    const std::int64_t n = std::min<std::int64_t>(32, 200 - start);
    const Tensor xb =
        from_vector(std::vector<float>(xs.begin() + start * 12, xs.begin() + (start + n) * 12),
                    {n, 12});
    const auto z = net.predict(xb).to_vector<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      const float* zi = z.data() + i * 4;
      double mx = zi[0];
      int arg = 0;
      for (int k = 1; k < 4; ++k)
        if (zi[k] > mx) mx = zi[k], arg = k;
      double s = 0;
      for (int k = 0; k < 4; ++k) s += std::exp(static_cast<double>(zi[k]) - mx);
      const int y = labels[static_cast<std::size_t>(start + i)];
      loss += std::log(s) + mx - static_cast<double>(zi[y]);
      correct += arg == y;
    }
  }
  EXPECT_NEAR(e.loss, loss / 200.0, 1e-5);
  EXPECT_EQ(static_cast<std::int64_t>(std::lround(e.accuracy * 200)), correct);
}

TEST(Trainer, ProgressReportsTheRunningMeanEveryInterval) {
  const Data train = synthetic(512, 1);  // 16 steps of 32
  Sequential net = make_model();
  Sgd sgd(net.graph().parameters(), SgdOptions{0.05f});
  DataLoader tl(train.x, train.y, loader(true));
  TrainerOptions o;
  o.epochs = 1;
  o.report_every = 5;
  std::vector<std::int64_t> steps;
  double last_loss = 0;
  o.on_progress = [&](const Progress& p) {
    steps.push_back(p.step);
    EXPECT_EQ(p.steps, 16);
    EXPECT_EQ(p.epoch, 1);
    EXPECT_TRUE(std::isfinite(p.loss));
    last_loss = p.loss;
  };
  const auto history = Trainer(net, sgd, o).fit(tl);
  EXPECT_EQ(steps, (std::vector<std::int64_t>{5, 10, 15, 16}));
  EXPECT_DOUBLE_EQ(last_loss, history[0].train_loss);  // the last report is the whole epoch
  EXPECT_EQ(history[0].val_loss, 0.0);                 // no validation loader
}

// A checkpoint taken in the middle of an epoch (checkpoint_every_steps) resumes to
// the same parameters and metrics as the uninterrupted run, dropout included.
TEST(Trainer, MidEpochCheckpointResumesExactly) {
  const Data train = synthetic(512, 1), test = synthetic(64, 2);
  const std::string path = temp_path("mid.safetensors");
  const std::string copy = temp_path("mid_copy.safetensors");
  auto options = [&] {
    TrainerOptions o;
    o.epochs = 3;
    o.checkpoint = path;
    o.checkpoint_every_steps = 4;
    return o;
  };
  Sequential a = make_model(0.2f);
  Adam adam_a(a.graph().parameters(), AdamOptions{1e-2f});
  DataLoader tla(train.x, train.y, loader(true)), vla(test.x, test.y, loader(false));
  TrainerOptions oa = options();
  oa.report_every = 6;
  // At the report after step 6 of epoch 2 the file holds the checkpoint of step 4.
  oa.on_progress = [&](const Progress& p) {
    if (p.epoch == 2 && p.step == 6)
      std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
  };
  const auto full = Trainer(a, adam_a, oa).fit(tla, &vla);

  Sequential b = make_model(0.2f);
  Adam adam_b(b.graph().parameters(), AdamOptions{1e-2f});
  DataLoader tlb(train.x, train.y, loader(true)), vlb(test.x, test.y, loader(false));
  TrainerOptions ob = options();
  ob.resume = copy;
  Trainer tb(b, adam_b, ob);
  EXPECT_EQ(tb.epochs_done(), 1);
  const auto resumed = tb.fit(tlb, &vlb);
  ASSERT_EQ(resumed.size(), 3u);
  for (std::size_t e = 1; e < 3; ++e) {
    EXPECT_EQ(resumed[e].train_loss, full[e].train_loss) << "epoch " << e + 1;
    EXPECT_EQ(resumed[e].val_loss, full[e].val_loss) << "epoch " << e + 1;
    EXPECT_EQ(resumed[e].val_accuracy, full[e].val_accuracy);
  }
  EXPECT_NEAR(resumed[0].train_loss, full[0].train_loss, 1e-8);  // from the checkpoint's CSV
  EXPECT_EQ(parameters_of(a), parameters_of(b));
  EXPECT_EQ(adam_a.steps(), adam_b.steps());
  std::remove(path.c_str());
  std::remove(copy.c_str());
}

// The trainer's position in a checkpoint is parsed strictly: "abc" gave
// "stoi", "1.9" became 1, "99999999999" overflowed an int, "-5" failed late.
TEST(Trainer, MalformedCheckpointPositionsAreClearErrors) {
  const Data train = synthetic(64, 1);
  const std::string path = temp_path("pos.safetensors");
  const std::string edited = temp_path("pos_edited.safetensors");
  {
    Sequential a = make_model();
    Adam adam(a.graph().parameters());
    DataLoader tl(train.x, train.y, loader(true));
    TrainerOptions o;
    o.epochs = 1;
    o.checkpoint = path;
    Trainer(a, adam, o).fit(tl);
  }
  const SafetensorsFile good = load_safetensors(path);
  const auto resume_with = [&](const std::string& key, const std::string& value) {
    SafetensorsFile f = good;
    f.metadata["user." + key] = value;
    save_safetensors(edited, f.tensors, f.metadata);
    Sequential b = make_model();
    Adam adam(b.graph().parameters());
    TrainerOptions o;
    o.resume = edited;
    Trainer t(b, adam, o);
    return t.epochs_done();
  };
  EXPECT_EQ(resume_with("trainer.epochs_done", "1"), 1);
  for (const char* bad : {"abc", "99999999999", "1.9", "-5", "", " 1", "nan"}) {
    SCOPED_TRACE(bad);
    MINIDL_EXPECT_THROW_WITH(resume_with("trainer.epochs_done", bad), IoError,
                             "trainer.epochs_done", "not a whole number");
  }
  MINIDL_EXPECT_THROW_WITH(resume_with("trainer.step", "-1"), IoError, "trainer.step");
  MINIDL_EXPECT_THROW_WITH(resume_with("trainer.running_loss", "inf"), IoError,
                           "trainer.running_loss", "not finite");
  MINIDL_EXPECT_THROW_WITH(resume_with("trainer.lr_factor", "0"), IoError, "trainer.lr_factor");
  // Found by the trainer_resume fuzz target: 19 digits overflowed the int64 the count was
  // read into; a float beyond float's range became inf (and the next checkpoint did not
  // load); reduce-on-plateau only lowers the rate, so a factor above 1 is not its state.
  MINIDL_EXPECT_THROW_WITH(resume_with("trainer.step", "9999999999999999999"), IoError,
                           "trainer.step", "not a whole number");
  MINIDL_EXPECT_THROW_WITH(resume_with("trainer.running_loss", "1e300"), IoError,
                           "trainer.running_loss", "float");
  MINIDL_EXPECT_THROW_WITH(resume_with("trainer.base_lr", "-1e39"), IoError, "trainer.base_lr",
                           "float");
  MINIDL_EXPECT_THROW_WITH(resume_with("trainer.lr_factor", "1.5"), IoError, "trainer.lr_factor",
                           "(0, 1]");
  EXPECT_EQ(resume_with("trainer.lr_factor", "1"), 1);
  {
    const std::string long_text(100000, '9');
    try {
      resume_with("trainer.best", long_text + "x");
      FAIL() << "no IoError";
    } catch (const IoError& e) {
      EXPECT_LT(std::string(e.what()).size(), 600u);  // quoted in part, not echoed whole
    }
  }
  // A plateau count at INT_MAX (any count a checkpoint may hold) still counts one more
  // epoch without improvement: the rate is reduced. It wrapped to INT_MIN before, and the
  // rate was never reduced again.
  {
    SafetensorsFile f = good;
    f.metadata["user.trainer.plateau_epochs"] = "2147483647";
    f.metadata["user.trainer.best"] = "-1e300";  // nothing improves on it
    save_safetensors(edited, f.tensors, f.metadata);
    Sequential b = make_model();
    Adam adam(b.graph().parameters());
    DataLoader tl(train.x, train.y, loader(true));
    TrainerOptions o;
    o.epochs = 2;
    o.resume = edited;
    o.reduce_on_plateau.enabled = true;
    o.reduce_on_plateau.factor = 0.5f;
    o.reduce_on_plateau.patience = 1;
    Trainer t(b, adam, o);
    t.fit(tl);
    EXPECT_DOUBLE_EQ(t.lr_factor(), 0.5);
  }
  // A step past the end of an epoch (another batch size) is caught when training resumes.
  {
    SafetensorsFile f = good;
    f.metadata["user.trainer.step"] = "1000";
    f.metadata["user.trainer.epochs_done"] = "0";
    save_safetensors(edited, f.tensors, f.metadata);
    Sequential b = make_model();
    Adam adam(b.graph().parameters());
    DataLoader tl(train.x, train.y, loader(true));
    TrainerOptions o;
    o.epochs = 1;
    o.resume = edited;
    Trainer t(b, adam, o);
    MINIDL_EXPECT_THROW_WITH(t.fit(tl), IoError, "step 1000", "2 steps");
  }
  std::remove(path.c_str());
  std::remove(edited.c_str());
}

TEST(Trainer, NonFiniteLossThrowsDivergedErrorNamingEpochAndStep) {
  Data train = synthetic(512, 1);
  std::vector<float> x = train.x.to_vector<float>();
  x[70 * 12 + 3] = std::numeric_limits<float>::quiet_NaN();  // sample 70: step 3 of 32-batches
  train.x = from_vector(x, {512, 12});
  const std::string checkpoint = temp_path("diverged.safetensors");
  for (const int mode : {0, 1, 2}) {
    // 0: reports every step; 1: no reports; 2: no reports, a checkpoint every step (its
    // save found NaN weights and threw ValueError before the step was checked; review).
    const bool with_progress = mode == 0;
    Sequential net = make_model();
    Sgd sgd(net.graph().parameters(), SgdOptions{0.05f});
    DataLoader tl(train.x, train.y, loader(false));
    TrainerOptions o;
    o.epochs = 2;
    o.report_every = 1;
    if (with_progress) o.on_progress = [](const Progress&) {};
    if (mode == 2) {
      o.checkpoint = checkpoint;
      o.checkpoint_every_steps = 1;
    }
    Trainer t(net, sgd, o);
    try {
      t.fit(tl);
      ADD_FAILURE() << "expected DivergedError";
    } catch (const DivergedError& e) {
      // Without reports: at the epoch's end, or at the first checkpoint after the NaN.
      const std::int64_t step = mode == 1 ? 16 : 3;
      EXPECT_EQ(e.epoch(), 1);
      EXPECT_EQ(e.step(), step);
      EXPECT_NE(std::string(e.what()).find("epoch 1, step " + std::to_string(step)),
                std::string::npos)
          << e.what();
      const Error& base = e;  // a minidl::Error
      EXPECT_NE(std::string(base.what()).find("nan"), std::string::npos) << e.what();
    }
  }
  std::remove(checkpoint.c_str());
}

// Each feature keeps its own best, moved only by an improvement larger than its min_delta
// (PyTorch's ReduceLROnPlateau, Keras's EarlyStopping). The one best moved on any decrease,
// so a loss falling by less than min_delta every epoch could stop a run that improved by
// more than min_delta over `patience` epochs (found in review). Checked on the state a
// checkpoint records: a best 0.03 above the loss, with min_delta 0.05, stays.
TEST(Trainer, EachFeatureMovesItsBestOnlyByMoreThanItsMinDelta) {
  const Data train = synthetic(64, 1);
  const std::string path = temp_path("best.safetensors");
  const std::string edited = temp_path("best_edited.safetensors");
  {
    Sequential a = make_model();
    Sgd sgd(a.graph().parameters(), SgdOptions{1e-12f});  // the loss stays where it is
    DataLoader tl(train.x, train.y, loader(false));
    TrainerOptions o;
    o.epochs = 1;
    o.checkpoint = path;
    Trainer(a, sgd, o).fit(tl);
  }
  SafetensorsFile f = load_safetensors(path);
  const double loss = std::stod(f.metadata.at("user.trainer.best"));
  EXPECT_EQ(f.metadata.at("user.trainer.stop_best"), f.metadata.at("user.trainer.best"));
  f.metadata["user.trainer.best"] = std::to_string(loss + 0.03);
  f.metadata["user.trainer.stop_best"] = std::to_string(loss + 0.03);
  save_safetensors(edited, f.tensors, f.metadata);
  Sequential b = make_model();
  Sgd sgd(b.graph().parameters(), SgdOptions{1e-12f});
  DataLoader tl(train.x, train.y, loader(false));
  TrainerOptions o;
  o.epochs = 2;
  o.resume = edited;
  o.checkpoint = path;
  o.reduce_on_plateau.enabled = true;
  o.reduce_on_plateau.min_delta = 0.05;
  o.reduce_on_plateau.patience = 5;
  o.early_stopping.enabled = true;
  o.early_stopping.min_delta = 0.05;
  o.early_stopping.patience = 5;
  Trainer(b, sgd, o).fit(tl);
  const SafetensorsFile after = load_safetensors(path);
  EXPECT_NEAR(std::stod(after.metadata.at("user.trainer.best")), loss + 0.03, 1e-6);
  EXPECT_NEAR(std::stod(after.metadata.at("user.trainer.stop_best")), loss + 0.03, 1e-6);
  EXPECT_EQ(after.metadata.at("user.trainer.plateau_epochs"), "1");
  EXPECT_EQ(after.metadata.at("user.trainer.stale_epochs"), "1");
  std::remove(path.c_str());
  std::remove(edited.c_str());
}

// min_lr bounds the rate in use: with a schedule, the schedule's rate times the factor,
// not the optimizer's starting rate (with which a 1e-12 schedule was halved below a 1e-12
// min_lr; found in review).
TEST(Trainer, ReduceOnPlateauNeverGoesBelowMinLrWithASchedule) {
  const Data train = synthetic(64, 1), test = synthetic(32, 2);
  Sequential net = make_model();
  Sgd sgd(net.graph().parameters(), SgdOptions{1e-10f});
  DataLoader tl(train.x, train.y, loader(true)), vl(test.x, test.y, loader(false));
  TrainerOptions o;
  o.epochs = 4;
  o.schedule = std::make_shared<ConstantLr>(1e-12f);
  o.reduce_on_plateau.enabled = true;
  o.reduce_on_plateau.factor = 0.5f;
  o.reduce_on_plateau.patience = 0;
  o.reduce_on_plateau.min_lr = 1e-12f;
  Trainer t(net, sgd, o);
  for (const EpochMetrics& m : t.fit(tl, &vl)) EXPECT_GE(m.learning_rate, 1e-12f) << m.epoch;
  EXPECT_EQ(t.lr_factor(), 1.0);
  // Above min_lr the reduction starts from the schedule's rate: 4e-12 halves to 2e-12.
  Sequential net2 = make_model();
  Sgd sgd2(net2.graph().parameters(), SgdOptions{1e-10f});
  o.schedule = std::make_shared<ConstantLr>(4e-12f);
  o.epochs = 2;
  Trainer t2(net2, sgd2, o);
  const auto h = t2.fit(tl, &vl);
  EXPECT_NEAR(t2.lr_factor(), 0.5, 1e-6);
}

// A NaN validation loss is recorded as such, improves nothing, and the checkpoint written
// after it resumes (its history held "nan", which the reader could not parse, and the best
// could become NaN; found in review).
TEST(Trainer, NanValidationLossStillResumes) {
  const Data train = synthetic(64, 1);
  Data val = synthetic(32, 2);
  std::vector<float> x = val.x.to_vector<float>();
  x[5] = std::numeric_limits<float>::quiet_NaN();
  val.x = from_vector(x, {32, 12});
  const std::string path = temp_path("nan_val.safetensors");
  {
    Sequential a = make_model();
    Adam adam(a.graph().parameters());
    DataLoader tl(train.x, train.y, loader(true)), vl(val.x, val.y, loader(false));
    TrainerOptions o;
    o.epochs = 1;
    o.checkpoint = path;
    o.reduce_on_plateau.enabled = true;
    o.early_stopping.enabled = true;
    const auto h = Trainer(a, adam, o).fit(tl, &vl);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_TRUE(std::isnan(h[0].val_loss));
  }
  Sequential b = make_model();
  Adam adam(b.graph().parameters());
  TrainerOptions o;
  o.resume = path;
  Trainer t(b, adam, o);
  ASSERT_EQ(t.history().size(), 1u);
  EXPECT_TRUE(std::isnan(t.history()[0].val_loss));
  EXPECT_EQ(load_safetensors(path).metadata.at("user.trainer.has_best"), "0");
  std::remove(path.c_str());
}

// The reported losses are means per sample whatever the loss's reduction: a sum-reduced
// loss was weighted by the batch size like a mean, so its losses came out batch-size times
// too large (found in review). A 1e-12 rate keeps the two models' weights alike.
TEST(Trainer, LossesAreMeansPerSampleForASumReducedLossToo) {
  const Data train = synthetic(80, 1), test = synthetic(40, 2);  // partial last batches
  std::vector<EpochMetrics> runs[2];
  Evaluation evals[2];
  for (const Reduction r : {Reduction::Mean, Reduction::Sum}) {
    Sequential net = make_model(0.0f, r);
    Sgd sgd(net.graph().parameters(), SgdOptions{1e-12f});
    DataLoader tl(train.x, train.y, loader(false)), vl(test.x, test.y, loader(false));
    TrainerOptions o;
    o.epochs = 1;
    const int k = r == Reduction::Sum;
    runs[k] = Trainer(net, sgd, o).fit(tl, &vl);
    evals[k] = evaluate(net, vl);
  }
  EXPECT_NEAR(runs[1][0].train_loss, runs[0][0].train_loss, 1e-5);
  EXPECT_NEAR(runs[1][0].val_loss, runs[0][0].val_loss, 1e-5);
  EXPECT_NEAR(evals[1].loss, evals[0].loss, 1e-5);
  EXPECT_GT(evals[0].loss, 0.5);  // the untrained model's cross-entropy (4 classes: ~1.4)
}

// A loss that cannot improve (learning rate 1e-12): reduce-on-plateau halves the rate
// after `patience` epochs without improvement, early stopping ends the run.
TEST(Trainer, ReduceOnPlateauAndEarlyStopping) {
  const Data train = synthetic(256, 1), test = synthetic(64, 2);
  Sequential net = make_model();
  Sgd sgd(net.graph().parameters(), SgdOptions{1e-12f});
  DataLoader tl(train.x, train.y, loader(true)), vl(test.x, test.y, loader(false));
  TrainerOptions o;
  o.epochs = 10;
  o.reduce_on_plateau.enabled = true;
  o.reduce_on_plateau.factor = 0.5f;
  o.reduce_on_plateau.patience = 1;
  o.early_stopping.enabled = true;
  o.early_stopping.patience = 4;
  o.early_stopping.min_delta = 1e-4;
  Trainer t(net, sgd, o);
  const auto h = t.fit(tl, &vl);
  // Epoch 1 sets the best; epochs 2, 3, 4, 5 do not improve: the second stale epoch
  // (epoch 3) and the fourth (epoch 5) exceed patience 1 and halve the rate; the
  // fourth stale epoch stops the run.
  ASSERT_EQ(h.size(), 5u);
  EXPECT_TRUE(t.stopped_early());
  EXPECT_FLOAT_EQ(static_cast<float>(h[0].learning_rate), 1e-12f);
  EXPECT_FLOAT_EQ(static_cast<float>(h[2].learning_rate), 1e-12f);
  EXPECT_FLOAT_EQ(static_cast<float>(h[3].learning_rate), 0.5e-12f);
  EXPECT_FLOAT_EQ(static_cast<float>(h[4].learning_rate), 0.5e-12f);
  EXPECT_DOUBLE_EQ(t.lr_factor(), 0.25);

  // With a schedule the rate is the schedule's times the plateau factor.
  Sequential net2 = make_model();
  Sgd sgd2(net2.graph().parameters(), SgdOptions{1e-12f});
  DataLoader tl2(train.x, train.y, loader(true)), vl2(test.x, test.y, loader(false));
  TrainerOptions o2 = o;
  o2.early_stopping.enabled = false;
  o2.epochs = 4;
  o2.schedule = std::make_shared<StepLr>(2e-12f, 8, 0.5f);  // 8 steps an epoch
  const auto h2 = Trainer(net2, sgd2, o2).fit(tl2, &vl2);
  ASSERT_EQ(h2.size(), 4u);
  // Epoch 4's last step is step 31: schedule 2e-12 * 0.5^3, times the factor 0.5.
  EXPECT_FLOAT_EQ(static_cast<float>(h2[3].learning_rate), 2e-12f * 0.125f * 0.5f);
}

TEST(Trainer, BadOptionsAndModelsAreClearErrors) {
  Sequential net = make_model();
  Sgd sgd(net.graph().parameters(), SgdOptions{0.1f});
  TrainerOptions o;
  o.report_every = 0;
  MINIDL_EXPECT_THROW_WITH(Trainer(net, sgd, o), ValueError, "report_every");
  o = {};
  o.epochs = -1;
  MINIDL_EXPECT_THROW_WITH(Trainer(net, sgd, o), ValueError, "epochs");
  o = {};
  o.checkpoint_every_steps = 5;
  MINIDL_EXPECT_THROW_WITH(Trainer(net, sgd, o), ValueError, "checkpoint path");
  o = {};
  o.reduce_on_plateau.enabled = true;
  o.reduce_on_plateau.factor = 1.5f;
  MINIDL_EXPECT_THROW_WITH(Trainer(net, sgd, o), ValueError, "reduce_on_plateau.factor");
  o = {};
  o.early_stopping.enabled = true;
  o.early_stopping.patience = 0;
  MINIDL_EXPECT_THROW_WITH(Trainer(net, sgd, o), ValueError, "early_stopping.patience");
  Sequential no_loss({12});
  no_loss.add<Dense>(4);
  MINIDL_EXPECT_THROW_WITH(Trainer(no_loss, sgd), ValueError, "no loss");
  o = {};
  o.resume = temp_path("does_not_exist.safetensors");
  MINIDL_EXPECT_THROW_WITH(Trainer(net, sgd, o), IoError, "does_not_exist");

  // A label outside [0, classes) in evaluation is an error (the loss layer reports it first).
  const Data d = synthetic(40, 1);
  std::vector<std::int32_t> y = d.y.to_vector<std::int32_t>();
  y[35] = 9;
  DataLoader bad(d.x, from_vector(y, {40}), loader(false));
  MINIDL_EXPECT_THROW_WITH(evaluate(net, bad), ValueError, "label 9", "outside [0, 4)");
}

TEST(Trainer, MetricsCsvRoundTrips) {
  std::vector<EpochMetrics> h(2);
  h[0] = {1, 0.5, 0.45, 0.83, 1.5, 40000.5, 0.001};
  h[1] = {2, 0.25, 0.4, 0.86, 1.25, 41000.25, 0.001};
  const std::string csv = metrics_csv(h, "test");
  EXPECT_EQ(csv.rfind("epoch,train_loss,test_loss,test_accuracy,", 0), 0u);
  const auto back = parse_metrics_csv(csv);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 2);
  EXPECT_DOUBLE_EQ(back[1].val_accuracy, 0.86);
  EXPECT_DOUBLE_EQ(back[0].images_per_second, 40000.5);
  MINIDL_EXPECT_THROW_WITH(parse_metrics_csv("header\n1;2;3;4;5;6;7\n"), IoError, "line 2");
}

}  // namespace
}  // namespace minidl
