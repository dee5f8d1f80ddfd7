#include "optim/sgd.hpp"

#include "optim_test_util.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

// PyTorch's SGD in plain double loops, independent of optim/update_math.hpp.
struct SgdReference {
  double lr, momentum, weight_decay;
  bool nesterov;
  std::vector<double> w, buf;
  int t = 0;

  void step(const std::vector<float>& grad) {
    ++t;
    buf.resize(w.size());
    for (std::size_t j = 0; j < w.size(); ++j) {
      const double g = grad[j] + weight_decay * w[j];
      double update = g;
      if (momentum != 0.0) {
        buf[j] = t == 1 ? g : momentum * buf[j] + g;
        update = nesterov ? g + momentum * buf[j] : buf[j];
      }
      w[j] -= lr * update;
    }
  }
};

using test::grad_at;
using test::kW0;

std::vector<float> as_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

void expect_matches_reference(const SgdOptions& o) {
  Parameter p = test::make_parameter("w", kW0, std::vector<float>(kW0.size(), 0.0f));
  Sgd sgd({&p}, o);
  SgdReference ref{o.learning_rate,
                   o.momentum,
                   o.weight_decay,
                   o.nesterov,
                   std::vector<double>(kW0.begin(), kW0.end()),
                   {}};
  for (int step = 1; step <= 3; ++step) {
    const std::vector<float> g = grad_at(step);
    p.grad.copy_from(from_vector(g));
    sgd.step();
    ref.step(g);
    EXPECT_TRUE(test::all_close(p.value.to_vector<float>(), as_float(ref.w), 1e-6f, 1e-5f))
        << "step " << step << ", momentum " << o.momentum << ", nesterov " << o.nesterov
        << ", weight_decay " << o.weight_decay;
  }
  EXPECT_EQ(sgd.steps(), 3);
}

TEST(Sgd, HandComputedMomentumAndNesterov) {
  // w = 1, g = 1 at every step, lr 0.1, momentum 0.9, by hand:
  //   heavy ball: buf 1, 1.9, 2.71          -> w 0.9, 0.71, 0.439
  //   nesterov:   update 1.9, 2.71, 3.439   -> w 0.81, 0.539, 0.1951
  for (const bool nesterov : {false, true}) {
    Parameter p = test::make_parameter("w", {1.0f}, {1.0f});
    Sgd sgd({&p}, SgdOptions{0.1f, 0.9f, nesterov, 0.0f});
    const std::vector<float> expected = nesterov ? std::vector<float>{0.81f, 0.539f, 0.1951f}
                                                 : std::vector<float>{0.9f, 0.71f, 0.439f};
    for (float e : expected) {
      sgd.step();
      EXPECT_NEAR(p.value.item<float>(), e, 1e-6f) << "nesterov " << nesterov;
    }
  }
}

TEST(Sgd, HandComputedWeightDecay) {
  // w = 2, g = 0.5, weight decay 0.1, lr 0.5, no momentum: g' = 0.5 + 0.2 = 0.7,
  // w = 2 - 0.35 = 1.65; then g' = 0.5 + 0.165 = 0.665, w = 1.65 - 0.3325 = 1.3175.
  Parameter p = test::make_parameter("w", {2.0f}, {0.5f});
  Sgd sgd({&p}, SgdOptions{0.5f, 0.0f, false, 0.1f});
  sgd.step();
  EXPECT_NEAR(p.value.item<float>(), 1.65f, 1e-6f);
  sgd.step();
  EXPECT_NEAR(p.value.item<float>(), 1.3175f, 1e-6f);
  EXPECT_EQ(p.grad.item<float>(), 0.5f);  // grads are read, never written
}

TEST(Sgd, MatchesReference) {
  expect_matches_reference(SgdOptions{0.1f, 0.0f, false, 0.0f});
  expect_matches_reference(SgdOptions{0.05f, 0.9f, false, 0.0f});
  expect_matches_reference(SgdOptions{0.05f, 0.8f, true, 0.0f});
  expect_matches_reference(SgdOptions{0.1f, 0.0f, false, 0.01f});
  expect_matches_reference(SgdOptions{0.05f, 0.9f, true, 0.05f});
}

TEST(Sgd, LearningRateChangeScalesWholeStep) {
  // PyTorch's momentum buffer does not include lr: halving lr halves the next step.
  Parameter a = test::make_parameter("w", {0.0f}, {1.0f});
  Sgd sgd({&a}, SgdOptions{0.2f, 0.5f, false, 0.0f});
  sgd.step();  // buf 1, w -0.2
  sgd.set_learning_rate(0.1f);
  sgd.step();  // buf 1.5, w -0.2 - 0.15
  EXPECT_NEAR(a.value.item<float>(), -0.35f, 1e-7f);
  EXPECT_FLOAT_EQ(sgd.learning_rate(), 0.1f);
}

TEST(Sgd, ConvergesOnQuadratic) {
  for (const SgdOptions& o :
       {SgdOptions{0.1f, 0.0f, false, 0.0f}, SgdOptions{0.05f, 0.9f, false, 0.0f},
        SgdOptions{0.05f, 0.9f, true, 0.0f}}) {
    test::TinyModel model(Device::cpu());
    Sgd sgd(model.pointers(), o);
    for (int i = 0; i < 300; ++i) {
      model.quadratic_grads();
      sgd.step();
    }
    EXPECT_LT(model.distance_to_minimum(), 1e-4f)
        << "momentum " << o.momentum << ", nesterov " << o.nesterov;
  }
}

TEST(Sgd, StateSlots) {
  test::TinyModel model(Device::cpu());
  EXPECT_TRUE(Sgd(model.pointers(), SgdOptions{0.1f, 0.0f, false, 0.0f}).state_tensors().empty());
  Sgd sgd(model.pointers(), SgdOptions{0.1f, 0.9f, true, 1e-4f});
  const auto state = sgd.state_tensors();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state[0].first, "dense1.weight.momentum");
  EXPECT_EQ(state[1].first, "dense1.bias.momentum");
  EXPECT_EQ(state[0].second.shape(), (Shape{3, 4}));
  const auto meta = sgd.state_metadata();
  EXPECT_EQ(meta.at("kind"), "sgd");
  EXPECT_EQ(meta.at("nesterov"), "true");
  EXPECT_EQ(meta.at("steps"), "0");
  EXPECT_EQ(std::stof(meta.at("momentum")), 0.9f);
  EXPECT_EQ(std::stof(meta.at("weight_decay")), 1e-4f);
  EXPECT_EQ(std::stof(meta.at("learning_rate")), 0.1f);
}

TEST(Sgd, BadOptions) {
  Parameter p = test::make_parameter("w", {1.0f}, {1.0f});
  MINIDL_EXPECT_THROW_WITH(Sgd({&p}, SgdOptions{0.1f, 0.0f, true, 0.0f}), ValueError, "Sgd",
                           "nesterov requires momentum > 0");
  MINIDL_EXPECT_THROW_WITH(Sgd({&p}, SgdOptions{-0.1f, 0.0f, false, 0.0f}), ValueError, "Sgd",
                           "learning_rate", "-0.1");
  MINIDL_EXPECT_THROW_WITH(Sgd({&p}, SgdOptions{NAN, 0.0f, false, 0.0f}), ValueError,
                           "learning_rate");
  MINIDL_EXPECT_THROW_WITH(Sgd({&p}, SgdOptions{0.1f, 1.0f, false, 0.0f}), ValueError, "momentum",
                           "[0, 1)");
  MINIDL_EXPECT_THROW_WITH(Sgd({&p}, SgdOptions{0.1f, -0.5f, false, 0.0f}), ValueError, "momentum");
  MINIDL_EXPECT_THROW_WITH(Sgd({&p}, SgdOptions{0.1f, 0.0f, false, -1.0f}), ValueError,
                           "weight_decay");
}

}  // namespace
}  // namespace minidl
