#include "optim/schedule.hpp"

#include <cmath>
#include <memory>

#include "optim/sgd.hpp"
#include "optim_test_util.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Schedule, Constant) {
  const ConstantLr s(0.3f);
  EXPECT_EQ(s.learning_rate(0), 0.3f);
  EXPECT_EQ(s.learning_rate(1000000), 0.3f);
}

TEST(Schedule, StepDecay) {
  const StepLr s(0.1f, 10, 0.5f);
  EXPECT_FLOAT_EQ(s.learning_rate(0), 0.1f);
  EXPECT_FLOAT_EQ(s.learning_rate(9), 0.1f);
  EXPECT_FLOAT_EQ(s.learning_rate(10), 0.05f);
  EXPECT_FLOAT_EQ(s.learning_rate(29), 0.025f);
  EXPECT_FLOAT_EQ(s.learning_rate(30), 0.0125f);
}

TEST(Schedule, Cosine) {
  const CosineLr s(1.0f, 100, 0.1f);
  EXPECT_FLOAT_EQ(s.learning_rate(0), 1.0f);
  EXPECT_FLOAT_EQ(s.learning_rate(50), 0.55f);  // halfway: the mean of the two
  // A quarter of the way: 0.1 + 0.9 * (1 + cos(pi / 4)) / 2.
  EXPECT_FLOAT_EQ(s.learning_rate(25), static_cast<float>(0.1 + 0.45 * (1.0 + std::sqrt(0.5))));
  EXPECT_FLOAT_EQ(s.learning_rate(100), 0.1f);
  EXPECT_FLOAT_EQ(s.learning_rate(250), 0.1f);  // stays at min_lr after the end
  const CosineLr to_zero(0.2f, 4);
  EXPECT_NEAR(to_zero.learning_rate(4), 0.0f, 1e-9f);
  EXPECT_FLOAT_EQ(to_zero.learning_rate(2), 0.1f);
}

TEST(Schedule, Warmup) {
  const WarmupLr s(std::make_shared<StepLr>(0.4f, 5, 0.1f), 4);
  EXPECT_FLOAT_EQ(s.learning_rate(0), 0.1f);  // 0.4 * 1/4
  EXPECT_FLOAT_EQ(s.learning_rate(1), 0.2f);
  EXPECT_FLOAT_EQ(s.learning_rate(3), 0.4f);
  EXPECT_FLOAT_EQ(s.learning_rate(4), 0.4f);   // the step schedule's own step 0
  EXPECT_FLOAT_EQ(s.learning_rate(8), 0.4f);   // its step 4
  EXPECT_FLOAT_EQ(s.learning_rate(9), 0.04f);  // its step 5: first decay
  const WarmupLr none(std::make_shared<ConstantLr>(0.7f), 0);
  EXPECT_EQ(none.learning_rate(0), 0.7f);
  // Warm-up into a cosine: the cosine's clock starts when the warm-up ends.
  const WarmupLr wc(std::make_shared<CosineLr>(1.0f, 10), 5);
  EXPECT_FLOAT_EQ(wc.learning_rate(4), 1.0f);
  EXPECT_FLOAT_EQ(wc.learning_rate(10), 0.5f);
  EXPECT_NEAR(wc.learning_rate(15), 0.0f, 1e-9f);
}

TEST(Schedule, AppliedToOptimizer) {
  Parameter p = test::make_parameter("w", {0.0f}, {1.0f});
  Sgd sgd({&p}, SgdOptions{1.0f, 0.0f, false, 0.0f});
  const StepLr s(0.5f, 2, 0.1f);
  // Steps 0, 1 use 0.5; steps 2, 3 use 0.05: w = -(0.5 + 0.5 + 0.05 + 0.05).
  std::vector<float> used;
  for (int i = 0; i < 4; ++i) {
    used.push_back(apply_schedule(s, sgd));
    sgd.step();
  }
  EXPECT_TRUE(test::all_close(used, {0.5f, 0.5f, 0.05f, 0.05f}, 0.0f, 1e-6f));
  EXPECT_NEAR(p.value.item<float>(), -1.1f, 1e-6f);
  EXPECT_FLOAT_EQ(sgd.learning_rate(), 0.05f);
}

TEST(Schedule, BadArguments) {
  MINIDL_EXPECT_THROW_WITH(ConstantLr(-1.0f), ValueError, "ConstantLr", "lr");
  MINIDL_EXPECT_THROW_WITH(StepLr(0.1f, 0, 0.5f), ValueError, "StepLr", "step_size", "0");
  MINIDL_EXPECT_THROW_WITH(StepLr(0.1f, 10, 0.0f), ValueError, "StepLr", "gamma");
  MINIDL_EXPECT_THROW_WITH(StepLr(NAN, 10, 0.5f), ValueError, "StepLr", "base_lr");
  MINIDL_EXPECT_THROW_WITH(CosineLr(0.1f, 0), ValueError, "CosineLr", "total_steps");
  MINIDL_EXPECT_THROW_WITH(CosineLr(0.1f, 10, -0.1f), ValueError, "CosineLr", "min_lr");
  MINIDL_EXPECT_THROW_WITH(WarmupLr(nullptr, 3), ValueError, "WarmupLr", "null");
  MINIDL_EXPECT_THROW_WITH(WarmupLr(std::make_shared<ConstantLr>(0.1f), -1), ValueError, "WarmupLr",
                           "warmup_steps");
  MINIDL_EXPECT_THROW_WITH(ConstantLr(0.1f).learning_rate(-1), ValueError, "step", "-1");
}

}  // namespace
}  // namespace minidl
