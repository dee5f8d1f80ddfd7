#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "report.hpp"
#include "test_util.hpp"
#include "trainer.hpp"

namespace minidl::train {
namespace {

// A small synthetic problem: 12 features, label = argmax of the first 10 features.
Dataset synthetic(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  Tensor x = uniform({n, 12}, 0.0f, 1.0f, gen);
  const auto v = x.to_vector<float>();
  std::vector<std::int32_t> labels;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int32_t best = 0;
    for (std::int32_t k = 1; k < 10; ++k) {
      if (v[static_cast<std::size_t>(i * 12 + k)] > v[static_cast<std::size_t>(i * 12 + best)])
        best = k;
    }
    labels.push_back(best);
  }
  return Dataset{x, from_vector(labels, {n})};
}

TrainConfig small_config() {
  TrainConfig c;
  c.hidden = {16};
  c.dropout = 0.1f;  // exercises the generator position in checkpoints
  c.epochs = 3;
  c.batch = 32;
  c.lr = 1e-2f;
  return c;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("minidl_train_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(TrainingRun, LearnsTheSyntheticProblem) {
  TrainingRun t(small_config(), synthetic(512, 1), synthetic(128, 2));
  const auto history = t.run(nullptr, nullptr);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_LT(history.back().train_loss, history.front().train_loss);
  EXPECT_GT(history.back().val_accuracy, 0.2);  // chance is 0.1
  std::int64_t total = 0;
  for (const auto& row : t.final_evaluation().confusion) {
    for (std::int64_t c : row) total += c;
  }
  EXPECT_EQ(total, 128);
  EXPECT_EQ(t.final_evaluation().samples, 128);
}

TEST(TrainingRun, TestLimitEvaluatesTheFirstImagesOnly) {
  TrainConfig c = small_config();
  c.epochs = 1;
  c.test_limit = 50;
  TrainingRun t(c, synthetic(256, 1), synthetic(128, 2));
  t.run(nullptr, nullptr);
  EXPECT_EQ(t.final_evaluation().samples, 50);
  std::int64_t total = 0;
  for (const auto& row : t.final_evaluation().confusion) {
    for (std::int64_t v : row) total += v;
  }
  EXPECT_EQ(total, 50);
}

// Stopping after epoch 2 and resuming from its checkpoint gives the same
// parameters and metrics as training 3 epochs straight.
TEST(TrainingRun, ResumeContinuesExactly) {
  const std::string path = temp_path("resume.safetensors");
  TrainConfig straight = small_config();
  TrainingRun a(straight, synthetic(512, 1), synthetic(128, 2));
  const auto full = a.run(nullptr, nullptr);

  TrainConfig first = small_config();
  first.epochs = 2;
  first.save = path;
  TrainingRun b(first, synthetic(512, 1), synthetic(128, 2));
  b.run(nullptr, nullptr);

  TrainConfig second = small_config();
  second.resume = path;
  TrainingRun c(second, synthetic(512, 1), synthetic(128, 2));
  EXPECT_EQ(c.start_epoch(), 2);
  const auto resumed = c.run(nullptr, nullptr);
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(resumed[2].train_loss, full[2].train_loss);
  EXPECT_EQ(resumed[2].val_accuracy, full[2].val_accuracy);
  EXPECT_NEAR(resumed[0].train_loss, full[0].train_loss,
              1e-7);  // history came back from the checkpoint (CSV, 9 digits)
  const auto pa = a.model().graph().parameters();
  const auto pc = c.model().graph().parameters();
  ASSERT_EQ(pa.size(), pc.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i]->value.to_vector<float>(), pc[i]->value.to_vector<float>()) << pa[i]->name;
  }
  std::remove(path.c_str());
}

// --lr-schedule cosine anneals the rate to 0 over all epochs, and a run resumed from a
// mid-run checkpoint continues the same curve (the optimizer's step count comes back).
TEST(TrainingRun, CosineScheduleAnnealsAndResumesExactly) {
  TrainConfig c = small_config();  // 512 images, batch 32: 16 steps an epoch, 48 in all
  c.lr_schedule = "cosine";
  c.lr *= 0.5f;  // not the default: the resumed run below is given only the default
  TrainingRun a(c, synthetic(512, 1), synthetic(128, 2));
  const auto full = a.run(nullptr, nullptr);
  ASSERT_EQ(full.size(), 3u);
  // The rate of each epoch's last step, lr (1 + cos(pi s / 48)) / 2 at s = 15, 31, 47.
  const double pi = std::acos(-1.0);
  for (std::size_t e = 0; e < 3; ++e) {
    const double s = 16.0 * static_cast<double>(e + 1) - 1.0;
    EXPECT_NEAR(full[e].learning_rate, c.lr * (1.0 + std::cos(pi * s / 48.0)) / 2.0, 1e-6)
        << "epoch " << e + 1;
  }

  const std::string path = temp_path("cosine.safetensors");
  const std::string after2 = temp_path("cosine_after_2.safetensors");
  TrainConfig first = c;
  first.save = path;
  TrainingRun b(first, synthetic(512, 1), synthetic(128, 2));
  b.run(nullptr, [&](const EpochMetrics& m) {
    if (m.epoch == 2)
      std::filesystem::copy_file(path, after2, std::filesystem::copy_options::overwrite_existing);
  });
  TrainConfig second = c;
  second.resume = after2;
  second.lr = small_config().lr;  // minidl-train refuses --lr with --resume: the rate comes back
  TrainingRun d(second, synthetic(512, 1), synthetic(128, 2));
  EXPECT_EQ(d.start_epoch(), 2);
  const auto resumed = d.run(nullptr, nullptr);
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(resumed[2].train_loss, full[2].train_loss);
  EXPECT_EQ(resumed[2].learning_rate, full[2].learning_rate);
  const auto pa = a.model().graph().parameters();
  const auto pd = d.model().graph().parameters();
  ASSERT_EQ(pa.size(), pd.size());
  for (std::size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i]->value.to_vector<float>(), pd[i]->value.to_vector<float>()) << pa[i]->name;
  std::remove(path.c_str());
  std::remove(after2.c_str());

  TrainConfig constant = small_config();
  constant.epochs = 1;
  TrainingRun e(constant, synthetic(64, 1), synthetic(32, 2));
  EXPECT_EQ(e.run(nullptr, nullptr)[0].learning_rate, static_cast<double>(constant.lr));
  TrainConfig bad = small_config();
  bad.lr_schedule = "linear";
  MINIDL_EXPECT_THROW_WITH(TrainingRun(bad, synthetic(64, 1), synthetic(32, 2)), ValueError,
                           "learning-rate schedule 'linear'");
}

TEST(TrainingRun, ResumingADifferentModelIsAClearError) {
  const std::string path = temp_path("other.safetensors");
  TrainConfig first = small_config();
  first.epochs = 1;
  first.save = path;
  TrainingRun(first, synthetic(64, 1), synthetic(32, 2)).run(nullptr, nullptr);
  TrainConfig other = small_config();
  other.hidden = {8};
  other.resume = path;
  MINIDL_EXPECT_THROW_WITH(TrainingRun(other, synthetic(64, 1), synthetic(32, 2)), ShapeError,
                           "dense1.weight", "[16, 12]", "[8, 12]");
  TrainConfig sgd = small_config();
  sgd.optimizer = "sgd";
  sgd.resume = path;
  MINIDL_EXPECT_THROW_WITH(TrainingRun(sgd, synthetic(64, 1), synthetic(32, 2)), ValueError, "adam",
                           "sgd");
  std::remove(path.c_str());
}

// The CNN path of the trainer on 8 x 8 "images" (a square feature count), tiny channels.
TEST(TrainingRun, CnnTrainsAndResumes) {
  Generator gen(4);
  auto make = [&](std::int64_t n) {
    Tensor x = uniform({n, 64}, 0.0f, 1.0f, gen);
    const auto v = x.to_vector<float>();
    std::vector<std::int32_t> y;
    for (std::int64_t i = 0; i < n; ++i) y.push_back(v[static_cast<std::size_t>(i * 64 + 27)] > 0.5f ? 1 : 0);
    return Dataset{x, from_vector(y, {n})};
  };
  const Dataset train = make(128), test = make(32);
  TrainConfig c = cnn_config();
  c.conv_channels = {2, 3};
  c.hidden = {8};
  c.epochs = 3;
  c.batch = 16;
  c.lr = 1e-2f;
  TrainingRun t(c, train, test);
  const auto history = t.run(nullptr, nullptr);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_LT(history.back().train_loss, history.front().train_loss);
  EXPECT_NE(t.model().graph().summary().find("Conv2d"), std::string::npos);
}

TEST(Report, MetricsCsvRoundTrips) {
  std::vector<EpochMetrics> h(2);
  h[0] = {1, 0.5, 0.45, 0.83, 1.5, 40000.5, 0.001};
  h[1] = {2, 0.25, 0.4, 0.86, 1.25, 41000.25, 0.001};
  const auto back = parse_metrics_csv(metrics_csv(h));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 2);
  EXPECT_DOUBLE_EQ(back[1].val_accuracy, 0.86);
  EXPECT_DOUBLE_EQ(back[0].images_per_second, 40000.5);
  MINIDL_EXPECT_THROW_WITH(parse_metrics_csv("header\n1,2,x\n"), IoError, "line 2");
}

TEST(Report, SvgAndProgress) {
  std::vector<EpochMetrics> h(3);
  for (int i = 0; i < 3; ++i)
    h[static_cast<std::size_t>(i)] = {i + 1, 1.0 / (i + 1), 1.1 / (i + 1), 0.8 + 0.03 * i, 1, 1, 1};
  const std::string svg = curves_svg(h);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '<') - std::count(svg.begin(), svg.end(), '>'), 0);
  EXPECT_NE(svg.find("Test accuracy"), std::string::npos);
  const std::string line = progress_line(Progress{2, 10, 234, 469, 0.41234, 52311.4, 4.2});
  EXPECT_EQ(
      line,
      "epoch 2/10 [=============>              ] 234/469  loss 0.4123  52,311 img/s  ETA 0:04");
}

TEST(Report, FilesAreWrittenAtomically) {
  const std::string path = temp_path("metrics.csv");
  write_text_file(path, "first\n");
  write_text_file(path, "second\n");
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "second\n");
  MINIDL_EXPECT_THROW_WITH(write_text_file("/nonexistent-dir/x.csv", "x"), IoError,
                           "/nonexistent-dir/x.csv");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace minidl::train
