#include "kernels/loss.hpp"

#include <cmath>

#include "gradcheck.hpp"
#include "kernels/softmax.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

const LossOptions kSum{Reduction::Sum, true};

TEST(CrossEntropy, ClosedForm) {
  const Tensor z = from_vector({0.0f, 0.0f, 0.0f, std::log(3.0f)}, {2, 2});
  const Tensor y = from_vector({0, 1}, {2});
  const LossResult r = softmax_cross_entropy(z, y, kSum);
  EXPECT_NEAR(r.loss.item<float>(), std::log(2.0) + std::log(4.0 / 3.0), 1e-6);
  EXPECT_TRUE(
      test::all_close(r.grad.to_vector<float>(), {-0.5f, 0.5f, 0.25f, -0.25f}, 1e-7f, 1e-6f));
  const LossResult m = softmax_cross_entropy(z, y);  // Mean by default
  EXPECT_NEAR(m.loss.item<float>(), (std::log(2.0) + std::log(4.0 / 3.0)) / 2, 1e-6);
  EXPECT_TRUE(
      test::all_close(m.grad.to_vector<float>(), {-0.25f, 0.25f, 0.125f, -0.125f}, 1e-7f, 1e-6f));
  EXPECT_EQ(m.loss.shape(), Shape{});
}

TEST(CrossEntropy, SoftTargetsEqualLabelsWhenOneHot) {
  Generator gen(7);
  const Tensor z = normal({5, 4}, 0.0f, 3.0f, gen);
  const Tensor labels = from_vector({3, 0, 1, 1, 2}, {5});
  std::vector<float> onehot(20, 0.0f);
  for (int i = 0; i < 5; ++i)
    onehot[static_cast<std::size_t>(i * 4 + labels.to_vector<std::int32_t>()[i])] = 1.0f;
  const LossResult hard = softmax_cross_entropy(z, labels);
  const LossResult soft = softmax_cross_entropy(z, from_vector(onehot, {5, 4}));
  EXPECT_NEAR(hard.loss.item<float>(), soft.loss.item<float>(), 1e-6);
  EXPECT_TRUE(
      test::all_close(soft.grad.to_vector<float>(), hard.grad.to_vector<float>(), 1e-7f, 1e-6f));
}

TEST(CrossEntropy, GradientIsSoftmaxMinusTargets) {
  Generator gen(8);
  const Tensor z = normal({3, 5}, 0.0f, 1.0f, gen);
  const Tensor t = softmax(normal({3, 5}, 0.0f, 1.0f, gen));  // rows sum to 1
  const auto g = softmax_cross_entropy(z, t, kSum).grad.to_vector<float>();
  const auto p = softmax(z).to_vector<float>();
  const auto tv = t.to_vector<float>();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], p[i] - tv[i], 1e-6);
}

TEST(CrossEntropy, ExtremeLogitsStayFinite) {
  const Tensor z = from_vector({1e4f, -1e4f, 0.0f, -1e4f, 1e4f, 0.0f, 88.0f, -88.0f, 0.0f}, {3, 3});
  const LossResult r = softmax_cross_entropy(z, from_vector({0, 0, 1}, {3}), kSum);
  const float loss = r.loss.item<float>();
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, 2e4 + 176.0, 1e-1);  // 0 + 2e4 + 176 (ln-sum-exp is dominated by the max)
  for (float g : r.grad.to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(CrossEntropy, NanLogitGivesNanLoss) {
  const LossResult r =
      softmax_cross_entropy(from_vector({NAN, 1.0f}, {1, 2}), from_vector({1}, {1}));
  EXPECT_TRUE(std::isnan(r.loss.item<float>()));
}

TEST(CrossEntropy, BadInput) {
  const Tensor z = zeros({3, 4});
  MINIDL_EXPECT_THROW_WITH(softmax_cross_entropy(z, from_vector({0, 4, 1}, {3})), ValueError,
                           "label 4 of sample 1", "[0, 4)", "[3, 4]");
  MINIDL_EXPECT_THROW_WITH(softmax_cross_entropy(z, from_vector({0, -1, 1}, {3})), ValueError,
                           "label -1");
  MINIDL_EXPECT_THROW_WITH(softmax_cross_entropy(z, from_vector({0, 1}, {2})), ShapeError, "[3]",
                           "[2]");
  MINIDL_EXPECT_THROW_WITH(softmax_cross_entropy(zeros({4}), from_vector({0}, {1})), ShapeError,
                           "[N, K]");
  MINIDL_EXPECT_THROW_WITH(softmax_cross_entropy(z, zeros({3, 5})), ShapeError, "[3, 4]", "[3, 5]");
}

TEST(ElementwiseLosses, ClosedForms) {
  const Tensor z = from_vector({0.0f, 2.0f, -1.0f, 0.5f}, {2, 2});
  const Tensor y01 = from_vector({1.0f, 0.0f, 1.0f, 1.0f}, {2, 2});
  const double bce = std::log(2.0) + std::log1p(std::exp(2.0)) + std::log1p(std::exp(1.0)) +
                     std::log1p(std::exp(-0.5));
  EXPECT_NEAR(bce_with_logits(z, y01, kSum).loss.item<float>(), bce, 1e-5);
  EXPECT_NEAR(bce_with_logits(z, y01).loss.item<float>(), bce / 2, 1e-5);  // two samples
  const LossResult se = squared_error(z, y01, kSum);
  EXPECT_NEAR(se.loss.item<float>(), 1 + 4 + 4 + 0.25, 1e-6);
  EXPECT_EQ(se.grad.to_vector<float>(), (std::vector<float>{-2, 4, -4, -1}));
  const Tensor pm = from_vector({1.0f, -1.0f, 1.0f, -1.0f}, {2, 2});
  const LossResult h = hinge(z, pm, kSum);
  EXPECT_NEAR(h.loss.item<float>(), 1 + 3 + 2 + 1.5, 1e-6);
  EXPECT_EQ(h.grad.to_vector<float>(), (std::vector<float>{-1, 1, -1, 1}));
  // On the margin (y z = 1) and beyond it the hinge is flat.
  const LossResult flat =
      hinge(from_vector({1.0f, -3.0f}, {2}), from_vector({1.0f, -1.0f}, {2}), kSum);
  EXPECT_EQ(flat.loss.item<float>(), 0.0f);
  EXPECT_EQ(flat.grad.to_vector<float>(), (std::vector<float>{0, 0}));
}

TEST(ElementwiseLosses, ExtremesStayFinite) {
  const Tensor z = from_vector({1e4f, -1e4f, 88.0f, -88.0f}, {4});
  const Tensor y = from_vector({0.0f, 1.0f, 0.0f, 1.0f}, {4});
  const LossResult r = bce_with_logits(z, y, kSum);
  EXPECT_NEAR(r.loss.item<float>(), 2e4 + 176.0, 1e-1);
  for (float g : r.grad.to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
  EXPECT_TRUE(std::isnan(
      bce_with_logits(from_vector({NAN}, {1}), from_vector({1.0f}, {1})).loss.item<float>()));
}

TEST(ElementwiseLosses, BadInput) {
  MINIDL_EXPECT_THROW_WITH(hinge(zeros({2, 2}), from_vector({1.0f, -1.0f, 0.5f, 1.0f}, {2, 2})),
                           ValueError, "hinge", "element 2", "0.5");
  MINIDL_EXPECT_THROW_WITH(squared_error(zeros({2}), zeros({3})), ShapeError, "squared_error",
                           "[2]", "[3]");
  MINIDL_EXPECT_THROW_WITH(bce_with_logits(full({}, 0), full({}, 1)), ShapeError, "bce_with_logits",
                           "scalar");
}

TEST(Losses, EmptyBatch) {
  const LossResult r = squared_error(empty({0, 3}), empty({0, 3}), kSum);
  EXPECT_EQ(r.loss.item<float>(), 0.0f);
  EXPECT_EQ(r.grad.numel(), 0);
}

// ---- gradient checks: analytic gradient vs central differences of the loss -----------

enum class Kind { CrossEntropy, CrossEntropySoft, Bce, SquaredError, Hinge };

LossResult evaluate(Kind k, const Tensor& z, const Tensor& t, const LossOptions& o) {
  switch (k) {
    case Kind::CrossEntropy:
    case Kind::CrossEntropySoft:
      return softmax_cross_entropy(z, t, o);
    case Kind::Bce:
      return bce_with_logits(z, t, o);
    case Kind::SquaredError:
      return squared_error(z, t, o);
    case Kind::Hinge:
      return hinge(z, t, o);
  }
  return {};
}

class LossGrad : public ::testing::TestWithParam<std::tuple<Kind, Reduction>> {};

std::string loss_case_name(const ::testing::TestParamInfo<std::tuple<Kind, Reduction>>& info) {
  static const char* const names[] = {"CrossEntropy", "CrossEntropySoft", "Bce", "SquaredError",
                                      "Hinge"};
  return std::string(names[static_cast<int>(std::get<0>(info.param))]) +
         (std::get<1>(info.param) == Reduction::Sum ? "Sum" : "Mean");
}

TEST_P(LossGrad, MatchesCentralDifferences) {
  const auto [kind, reduction] = GetParam();
  Generator gen(31);
  Tensor z = normal({4, 5}, 0.0f, 2.0f, gen);
  Tensor t;
  switch (kind) {
    case Kind::CrossEntropy:
      t = from_vector({4, 0, 2, 2}, {4});
      break;
    case Kind::CrossEntropySoft:
      t = uniform({4, 5}, 0.0f, 1.0f, gen);
      break;  // need not sum to 1
    case Kind::Bce:
      t = uniform({4, 5}, 0.0f, 1.0f, gen);
      break;
    case Kind::SquaredError:
      t = normal({4, 5}, 0.0f, 1.0f, gen);
      break;
    case Kind::Hinge: {
      auto v = uniform({4, 5}, -1.0f, 1.0f, gen).to_vector<float>();
      for (float& x : v) x = x < 0 ? -1.0f : 1.0f;
      t = from_vector(v, {4, 5});
      break;
    }
  }
  const LossOptions o{reduction, true};
  const LossResult r = evaluate(kind, z, t, o);
  const float h = 1e-2f;
  const auto numeric = test::numerical_gradient(
      [&](const Tensor& x) { return double(evaluate(kind, x, t, o).loss.item<float>()); }, z, h);
  const auto zv = z.to_vector<float>();
  const auto tv = kind == Kind::Hinge ? t.to_vector<float>() : std::vector<float>();
  auto kink = [&](std::size_t i) {
    return kind == Kind::Hinge && std::fabs(1.0f - tv[i] * zv[i]) < 2 * h;
  };
  EXPECT_TRUE(test::gradients_agree(r.grad.to_vector<float>(), numeric, 5e-3, kink));
}

INSTANTIATE_TEST_SUITE_P(All, LossGrad,
                         ::testing::Combine(::testing::Values(Kind::CrossEntropy,
                                                              Kind::CrossEntropySoft, Kind::Bce,
                                                              Kind::SquaredError, Kind::Hinge),
                                            ::testing::Values(Reduction::Sum, Reduction::Mean)),
                         loss_case_name);

// ---- CUDA (CPU-vs-CUDA values: tests/parity) ---------------------------------------------------------------------

void expect_same(const LossResult& g, const LossResult& c, const std::string& what) {
  EXPECT_NEAR(g.loss.item<float>(), c.loss.item<float>(),
              1e-5 + 1e-5 * std::fabs(c.loss.item<float>()))
      << what;
  EXPECT_TRUE(test::all_close(g.grad.to_vector<float>(), c.grad.to_vector<float>(), 1e-7f, 1e-4f))
      << what;
}

TEST(LossCuda, CrossEntropyExtremesAndBadLabels) {
  MINIDL_REQUIRE_CUDA();
  for (std::int64_t k : {3, 40, 2000}) {
    std::vector<float> v(static_cast<std::size_t>(2 * k), 0.0f);
    v[0] = 1e4f;
    v[1] = -1e4f;
    v[static_cast<std::size_t>(k)] = -88.0f;
    const Tensor z = from_vector(v, {2, k});
    const Tensor y = from_vector({1, 0}, {2});
    expect_same(softmax_cross_entropy(z.to(Device::cuda()), y.to(Device::cuda())),
                softmax_cross_entropy(z, y), "extremes K=" + std::to_string(k));
    // The label check is deferred to the next read (kernels/loss.hpp, LossOptions).
    MINIDL_EXPECT_THROW_WITH(
        softmax_cross_entropy(z.to(Device::cuda()),
                              from_vector({0, static_cast<std::int32_t>(k)}, {2}, Device::cuda()))
            .loss.item<float>(),
        ValueError, "of sample 1");
    // Unchecked, a bad label gives NaN rather than garbage.
    const LossResult r =
        softmax_cross_entropy(z.to(Device::cuda()), from_vector({-7, 0}, {2}, Device::cuda()),
                              LossOptions{Reduction::Mean, false});
    EXPECT_TRUE(std::isnan(r.loss.item<float>()));
  }
}

// The values are in the parity table (tests/parity); this is the CUDA path's target check.
TEST(LossCuda, HingeRejectsNonSignTargets) {
  MINIDL_REQUIRE_CUDA();
  MINIDL_EXPECT_THROW_WITH(
      hinge(zeros({3}, Device::cuda()), from_vector({1.0f, 2.0f, -1.0f}, {3}, Device::cuda()))
          .loss.item<float>(),
      ValueError, "element 1", "2");
}

}  // namespace
}  // namespace minidl
