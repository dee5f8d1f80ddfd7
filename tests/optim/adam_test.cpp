#include "optim/adam.hpp"

#include <cmath>

#include "optim_test_util.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

// PyTorch's Adam / AdamW in plain double loops, written from the paper's form
// (m_hat, v_hat), independent of optim/update_math.hpp.
struct AdamReference {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  std::vector<double> w, m, v;
  int t = 0;

  void step(const std::vector<float>& grad) {
    ++t;
    m.resize(w.size(), 0.0);
    v.resize(w.size(), 0.0);
    for (std::size_t j = 0; j < w.size(); ++j) {
      double g = grad[j];
      if (decoupled) {
        w[j] *= 1.0 - lr * weight_decay;
      } else {
        g += weight_decay * w[j];
      }
      m[j] = beta1 * m[j] + (1.0 - beta1) * g;
      v[j] = beta2 * v[j] + (1.0 - beta2) * g * g;
      const double m_hat = m[j] / (1.0 - std::pow(beta1, t));
      const double v_hat = v[j] / (1.0 - std::pow(beta2, t));
      w[j] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

using test::grad_at;
using test::kW0;

void expect_matches_reference(const AdamOptions& o) {
  Parameter p = test::make_parameter("w", kW0, std::vector<float>(kW0.size(), 0.0f));
  Adam adam({&p}, o);
  AdamReference ref{o.learning_rate,
                    o.beta1,
                    o.beta2,
                    o.eps,
                    o.weight_decay,
                    o.decoupled_weight_decay,
                    std::vector<double>(kW0.begin(), kW0.end()),
                    {},
                    {}};
  for (int step = 1; step <= 3; ++step) {
    const std::vector<float> g = grad_at(step);
    p.grad.copy_from(from_vector(g));
    adam.step();
    ref.step(g);
    EXPECT_TRUE(test::all_close(p.value.to_vector<float>(),
                                std::vector<float>(ref.w.begin(), ref.w.end()), 1e-6f, 1e-5f))
        << "step " << step << ", weight_decay " << o.weight_decay << ", decoupled "
        << o.decoupled_weight_decay;
    const auto state = adam.state_tensors();
    EXPECT_TRUE(test::all_close(state[0].second.to_vector<float>(),
                                std::vector<float>(ref.m.begin(), ref.m.end()), 1e-7f, 1e-5f));
    EXPECT_TRUE(test::all_close(state[1].second.to_vector<float>(),
                                std::vector<float>(ref.v.begin(), ref.v.end()), 1e-7f, 1e-5f));
  }
}

TEST(Adam, FirstStepIsBiasCorrected) {
  // At t = 1, m_hat = g and v_hat = g^2 exactly, so every weight moves by
  // lr * g / (|g| + eps): about lr, whatever the gradient's scale. Without the
  // corrections the step would be lr * 0.1 / sqrt(0.001) = 3.16 lr.
  Parameter p = test::make_parameter("w", {1.0f, 1.0f, 1.0f}, {1e-3f, -2.0f, 50.0f});
  Adam adam({&p}, AdamOptions{0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, false});
  adam.step();
  const std::vector<float> w = p.value.to_vector<float>();
  EXPECT_NEAR(w[0], 0.9f, 1e-5f);
  EXPECT_NEAR(w[1], 1.1f, 1e-6f);
  EXPECT_NEAR(w[2], 0.9f, 1e-6f);
}

TEST(Adam, HandComputedSecondStep) {
  // w = 0, g = 1 then g = -1, lr 0.01, betas (0.5, 0.75), eps 0:
  //   t=1: m = 0.5, v = 0.25, m_hat = 1, v_hat = 1           -> w = -0.01
  //   t=2: m = -0.25, v = 0.4375, m_hat = -0.25 / 0.75 = -1/3,
  //        v_hat = 0.4375 / 0.4375 = 1                        -> w = -0.01 + 0.01/3
  Parameter p = test::make_parameter("w", {0.0f}, {1.0f});
  Adam adam({&p}, AdamOptions{0.01f, 0.5f, 0.75f, 1e-30f, 0.0f, false});
  adam.step();
  EXPECT_NEAR(p.value.item<float>(), -0.01f, 1e-8f);
  p.grad.fill_(-1.0);
  adam.step();
  EXPECT_NEAR(p.value.item<float>(), -0.01f + 0.01f / 3.0f, 1e-8f);
}

TEST(Adam, MatchesReference) {
  expect_matches_reference(AdamOptions{});
  expect_matches_reference(AdamOptions{0.05f, 0.8f, 0.99f, 1e-6f, 0.0f, false});
  expect_matches_reference(AdamOptions{0.05f, 0.9f, 0.999f, 1e-8f, 0.1f, false});  // L2
  expect_matches_reference(AdamOptions{0.05f, 0.9f, 0.999f, 1e-8f, 0.1f, true});   // AdamW
}

TEST(Adam, DecoupledDecayIsNotAdaptive) {
  // With g = 0 Adam's L2 decay goes through the moments (the first step moves w
  // by about lr, whatever wd), while AdamW shrinks w by exactly (1 - lr * wd).
  Parameter a = test::make_parameter("w", {2.0f}, {0.0f});
  Parameter b = test::make_parameter("w", {2.0f}, {0.0f});
  Adam l2({&a}, AdamOptions{0.1f, 0.9f, 0.999f, 1e-8f, 0.2f, false});
  AdamW decoupled({&b}, AdamWOptions{0.1f, 0.9f, 0.999f, 1e-8f, 0.2f});
  l2.step();
  decoupled.step();
  EXPECT_NEAR(a.value.item<float>(), 1.9f, 1e-6f);
  EXPECT_NEAR(b.value.item<float>(), 2.0f * (1.0f - 0.02f), 1e-6f);
}

TEST(Adam, AdamWDefaults) {
  Parameter p = test::make_parameter("w", {1.0f}, {1.0f});
  AdamW adamw({&p});
  EXPECT_EQ(adamw.kind(), "adamw");
  EXPECT_TRUE(adamw.options().decoupled_weight_decay);
  EXPECT_FLOAT_EQ(adamw.options().weight_decay, 1e-2f);
  EXPECT_FLOAT_EQ(adamw.learning_rate(), 1e-3f);
  Adam adam({&p});
  EXPECT_EQ(adam.kind(), "adam");
  EXPECT_FLOAT_EQ(adam.options().weight_decay, 0.0f);
  AdamOptions o;
  o.decoupled_weight_decay = true;
  EXPECT_EQ(Adam({&p}, o).kind(), "adamw");
}

TEST(Adam, ConvergesOnQuadratic) {
  for (const bool decoupled : {false, true}) {
    test::TinyModel model(Device::cpu());
    Adam adam(model.pointers(), AdamOptions{0.05f, 0.9f, 0.999f, 1e-8f, 0.0f, decoupled});
    for (int i = 0; i < 600; ++i) {
      if (i == 400) adam.set_learning_rate(0.005f);  // settle the oscillation
      model.quadratic_grads();
      adam.step();
    }
    EXPECT_LT(model.distance_to_minimum(), 1e-2f) << "decoupled " << decoupled;
  }
}

TEST(Adam, StateSlots) {
  test::TinyModel model(Device::cpu());
  Adam adam(model.pointers());
  const auto state = adam.state_tensors();
  ASSERT_EQ(state.size(), 6u);
  EXPECT_EQ(state[0].first, "dense1.weight.adam_m");
  EXPECT_EQ(state[1].first, "dense1.weight.adam_v");
  EXPECT_EQ(state[5].first, "extra.scale.adam_v");
  EXPECT_EQ(state[4].second.shape(), (Shape{7}));
  const auto meta = adam.state_metadata();
  EXPECT_EQ(meta.at("kind"), "adam");
  EXPECT_EQ(std::stof(meta.at("beta1")), 0.9f);
  EXPECT_EQ(std::stof(meta.at("beta2")), 0.999f);
  EXPECT_EQ(std::stof(meta.at("eps")), 1e-8f);
}

TEST(Adam, BadOptions) {
  Parameter p = test::make_parameter("w", {1.0f}, {1.0f});
  auto with = [](auto change) {
    AdamOptions o;
    change(o);
    return o;
  };
  MINIDL_EXPECT_THROW_WITH(Adam({&p}, with([](AdamOptions& o) { o.learning_rate = -1.0f; })),
                           ValueError, "Adam", "learning_rate");
  MINIDL_EXPECT_THROW_WITH(Adam({&p}, with([](AdamOptions& o) { o.beta1 = 1.0f; })), ValueError,
                           "beta1", "[0, 1)");
  MINIDL_EXPECT_THROW_WITH(Adam({&p}, with([](AdamOptions& o) { o.beta2 = -0.1f; })), ValueError,
                           "beta2");
  MINIDL_EXPECT_THROW_WITH(Adam({&p}, with([](AdamOptions& o) { o.eps = 0.0f; })), ValueError,
                           "eps", "> 0");
  MINIDL_EXPECT_THROW_WITH(Adam({&p}, with([](AdamOptions& o) { o.eps = INFINITY; })), ValueError,
                           "eps");
  MINIDL_EXPECT_THROW_WITH(Adam({&p}, with([](AdamOptions& o) { o.weight_decay = NAN; })),
                           ValueError, "weight_decay");
  MINIDL_EXPECT_THROW_WITH(AdamW({&p}, AdamWOptions{0.1f, 0.9f, 2.0f, 1e-8f, 0.0f}), ValueError,
                           "AdamW", "beta2");
}

TEST(Adam, LargeTensorTakesTheParallelLoop) {
  // Above the OpenMP threshold the loop is split across threads; every element
  // must still follow the reference.
  Generator gen(8);
  const std::int64_t n = 70001;
  Parameter p{"big", normal({n}, 0.0f, 1.0f, gen), normal({n}, 0.0f, 1.0f, gen)};
  const std::vector<float> w0 = p.value.to_vector<float>(), g = p.grad.to_vector<float>();
  AdamW adamw({&p}, AdamWOptions{0.01f, 0.9f, 0.999f, 1e-8f, 0.1f});
  AdamReference ref{0.01, 0.9, 0.999, 1e-8, 0.1, true, std::vector<double>(w0.begin(), w0.end()),
                    {},   {}};
  for (int step = 0; step < 2; ++step) {
    adamw.step();
    ref.step(g);
  }
  EXPECT_TRUE(test::all_close(p.value.to_vector<float>(),
                              std::vector<float>(ref.w.begin(), ref.w.end()), 1e-6f, 1e-5f));
}

}  // namespace
}  // namespace minidl
