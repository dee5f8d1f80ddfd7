#include "kernels/activation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>

#include "gradcheck.hpp"
#include "kernels/functors.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST(Activation, ClosedForms) {
  const Tensor z = from_vector({-2.0f, -0.5f, 0.0f, 0.5f, 3.0f}, {5});
  EXPECT_EQ(values(relu(z)), (std::vector<float>{0, 0, 0, 0.5f, 3}));
  EXPECT_EQ(values(leaky_relu(z, 0.1f)), (std::vector<float>{-0.2f, -0.05f, 0, 0.5f, 3}));
  EXPECT_EQ(values(step(z)), (std::vector<float>{0, 0, 1, 1, 1}));
  const auto s = values(sigmoid(z));
  const auto t = values(tanh(z));
  const float zs[] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f};
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(s[i], 1.0 / (1.0 + std::exp(-double(zs[i]))), 1e-7);
    EXPECT_NEAR(t[i], std::tanh(double(zs[i])), 1e-7);
  }
  Tensor y;
  activation_forward(Activation::Identity, z, y);
  EXPECT_EQ(values(y), values(z));
}

TEST(Activation, DerivativesAtAndAroundKinks) {
  const Tensor z = from_vector({-1.0f, 0.0f, 2.0f}, {3});
  const Tensor dy = from_vector({5.0f, 5.0f, 5.0f}, {3});
  EXPECT_EQ(values(relu_backward(dy, z)), (std::vector<float>{0, 0, 5}));  // 0 at z = 0, documented
  EXPECT_EQ(values(leaky_relu_backward(dy, z, 0.2f)), (std::vector<float>{1, 1, 5}));
  EXPECT_EQ(values(step_backward(dy)), (std::vector<float>{0, 0, 0}));
}

TEST(Activation, NanInNanOut) {
  const Tensor z = from_vector({NAN, 1.0f}, {2});
  for (const Tensor& y : {relu(z), leaky_relu(z), sigmoid(z), tanh(z), step(z)}) {
    EXPECT_TRUE(std::isnan(values(y)[0]));
    EXPECT_FALSE(std::isnan(values(y)[1]));
  }
  const Tensor dy = full({2}, 1.0);
  EXPECT_TRUE(std::isnan(values(relu_backward(dy, z))[0]));
  EXPECT_TRUE(std::isnan(values(leaky_relu_backward(dy, z))[0]));
  EXPECT_TRUE(std::isnan(values(sigmoid_backward(dy, sigmoid(z)))[0]));
}

TEST(Activation, ExtremesStayFinite) {
  const Tensor z = from_vector({-1e4f, -88.0f, 88.0f, 1e4f}, {4});
  const auto s = values(sigmoid(z));
  EXPECT_EQ(s[0], 0.0f);
  EXPECT_EQ(s[3], 1.0f);
  EXPECT_GT(s[1], 0.0f);
  EXPECT_NEAR(s[2], 1.0f, 1e-7);
  const Tensor dy = full({4}, 1.0);
  for (float g : values(sigmoid_backward(dy, sigmoid(z)))) EXPECT_TRUE(std::isfinite(g));
  for (float g : values(tanh_backward(dy, tanh(z)))) EXPECT_TRUE(std::isfinite(g));
  for (float v : values(tanh(z))) EXPECT_TRUE(std::isfinite(v));
}

// The vectorisable exp and tanh the activations use stay within a few ulp of
// the exact values over the whole float range.
TEST(Activation, ExpAndTanhAreAccurate) {
  double worst_exp = 0, worst_tanh = 0;
  for (double x = -87.0; x <= 88.0; x += 0.0137) {
    const auto xf = static_cast<float>(x);
    const double exact = std::exp(double(xf));
    worst_exp = std::max(worst_exp, std::fabs(fn::exp_poly(xf) - exact) / exact);
  }
  for (double x = -12.0; x <= 12.0; x += 0.00131) {
    const auto xf = static_cast<float>(x);
    const double exact = std::tanh(double(xf));
    if (exact != 0)
      worst_tanh = std::max(worst_tanh, std::fabs(fn::tanh_poly(xf) - exact) / std::fabs(exact));
  }
  EXPECT_LT(worst_exp, 3.6e-7);  // 3 ulp
  EXPECT_LT(worst_tanh, 3.6e-7);
  EXPECT_EQ(fn::exp_poly(0.0f), 1.0f);
  EXPECT_EQ(fn::exp_poly(-200.0f), 0.0f);
  EXPECT_EQ(fn::exp_poly(100.0f), INFINITY);
  EXPECT_TRUE(std::isnan(fn::exp_poly(NAN)));
  EXPECT_EQ(fn::tanh_poly(1e-30f), 1e-30f);
  EXPECT_EQ(fn::tanh_poly(50.0f), 1.0f);
  EXPECT_EQ(fn::tanh_poly(-INFINITY), -1.0f);
  EXPECT_TRUE(std::isnan(fn::tanh_poly(NAN)));
}

// The CPU loops themselves (sigmoid and tanh take an AVX2+FMA loop where the CPU
// has one, the SSE2 loop elsewhere): both within 3 ulp of the exact values on a
// sweep of floats of every magnitude up to 128 and both signs, within 2 ulp of each
// other (FMA contraction), and exact where the value is a float (0, 1/2, +-1 in
// the saturated ranges and at +-1e4 and +-inf, tanh z = z for tiny z).
double ulp_error(float got, double exact) {
  int e = 0;
  std::frexp(exact, &e);
  return std::fabs(double(got) - exact) / std::ldexp(1.0, std::max(e, -125) - 24);
}
std::int64_t float_order(float f) {  // consecutive floats differ by 1
  std::int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i < 0 ? -std::int64_t(i & 0x7fffffff) : std::int64_t(i);
}

TEST(Activation, CpuLoopsAreAccurateAndAgree) {
  std::vector<float> z;
  for (std::uint32_t bits = 0; bits < 0x43000000u; bits += 997) {  // [0, 128)
    float f;
    std::memcpy(&f, &bits, sizeof f);
    z.push_back(f);
    z.push_back(-f);
  }
  const float specials[] = {NAN,    -NAN,  INFINITY, -INFINITY, 1e4f,   -1e4f,  88.0f,
                            -88.0f, 1e30f, -1e30f,   -0.0f,     1e-45f, 0.625f, -0.625f};
  z.insert(z.end(), std::begin(specials), std::end(specials));
  const auto n = static_cast<std::int64_t>(z.size());
  for (Activation a : {Activation::Sigmoid, Activation::Tanh}) {
    std::vector<float> base(z.size()), wide(z.size());
    cpu::activation_forward(a, z.data(), base.data(), n, 0.0f, /*baseline=*/true);
    cpu::activation_forward(a, z.data(), wide.data(), n, 0.0f);
    double worst_base = 0, worst_wide = 0;
    std::int64_t worst_apart = 0;
    int failures = 0;
    for (std::size_t i = 0; i < z.size() && failures < 10; ++i) {
      const double exact = a == Activation::Sigmoid ? 1.0 / (1.0 + std::exp(-double(z[i])))
                                                    : std::tanh(double(z[i]));
      if (std::isnan(exact)) {
        failures += !std::isnan(base[i]) || !std::isnan(wide[i]);
        EXPECT_TRUE(std::isnan(base[i]) && std::isnan(wide[i])) << activation_name(a) << " NaN";
        continue;
      }
      worst_base = std::max(worst_base, ulp_error(base[i], exact));
      worst_wide = std::max(worst_wide, ulp_error(wide[i], exact));
      const std::int64_t apart = std::abs(float_order(base[i]) - float_order(wide[i]));
      worst_apart = std::max(worst_apart, apart);
      const bool exact_is_float = static_cast<double>(static_cast<float>(exact)) == exact;
      if (apart > 2 || (exact_is_float && (base[i] != exact || wide[i] != exact))) {
        ++failures;
        ADD_FAILURE() << activation_name(a) << "(" << z[i] << "): baseline " << base[i] << ", wide "
                      << wide[i] << ", exact " << exact;
      }
    }
    EXPECT_LT(worst_base, 3.0) << activation_name(a);
    EXPECT_LT(worst_wide, 3.0) << activation_name(a);
    EXPECT_LE(worst_apart, 2) << activation_name(a);
    if (!cpu::activation_has_wide_path()) {
      EXPECT_EQ(worst_apart, 0);
    }
  }
  if (!cpu::activation_has_wide_path())
    GTEST_SKIP() << "no AVX2+FMA: one loop compared with itself";
}

TEST(Activation, InPlace) {
  Tensor z = from_vector({-1.0f, 2.0f}, {2});
  activation_forward(Activation::ReLU, z, z);
  EXPECT_EQ(values(z), (std::vector<float>{0, 2}));
}

TEST(Activation, EmptyTensors) {
  const Tensor z = empty({0, 4});
  EXPECT_EQ(relu(z).shape(), z.shape());
  EXPECT_EQ(sigmoid_backward(z, z).numel(), 0);
}

TEST(Activation, BadInput) {
  MINIDL_EXPECT_THROW_WITH(relu(zeros({2}, Device::cpu(), DType::Int32)), DTypeError, "relu",
                           "int32");
  MINIDL_EXPECT_THROW_WITH(relu_backward(zeros({2, 3}), zeros({3, 2})), ShapeError, "relu_backward",
                           "[2, 3]", "[3, 2]");
  MINIDL_EXPECT_THROW_WITH(sigmoid_backward(zeros({2}), Tensor()), ValueError, "sigmoid_backward",
                           "y");
  Tensor wrong = zeros({3});
  MINIDL_EXPECT_THROW_WITH(activation_forward(Activation::Tanh, zeros({2}), wrong), ShapeError,
                           "tanh", "[3]", "[2]");
  // A slope that is not finite made every negative input NaN or inf, without a word.
  for (float alpha : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    MINIDL_EXPECT_THROW_WITH(leaky_relu(zeros({2}), alpha), ValueError, "leaky_relu", "alpha");
    MINIDL_EXPECT_THROW_WITH(leaky_relu_backward(zeros({2}), zeros({2}), alpha), ValueError,
                             "leaky_relu_backward", "alpha");
  }
  EXPECT_NO_THROW(leaky_relu(zeros({2}), -3.0f));  // any finite slope, as PyTorch's
}

// Gradient checks: L = <r, f(z)>, analytic dL/dz = backward(r).
class ActivationGrad : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationGrad, MatchesCentralDifferences) {
  const Activation a = GetParam();
  Generator gen(17);
  Tensor z = uniform({3, 7}, -3.0f, 3.0f, gen);
  const Tensor r = normal({3, 7}, 0.0f, 1.0f, gen);
  Tensor y;
  activation_forward(a, z, y, 0.05f);
  Tensor dz;
  activation_backward(a, r, z, y, dz, 0.05f);
  auto f = [&](const Tensor& x) {
    Tensor out;
    activation_forward(a, x, out, 0.05f);
    return test::project(r, out);
  };
  const float h = 1e-2f;
  const auto numeric = test::numerical_gradient(f, z, h);
  const auto zv = values(z);
  auto near_kink = [&](std::size_t i) { return std::fabs(zv[i]) < 2 * h; };
  EXPECT_TRUE(test::gradients_agree(values(dz), numeric, 2e-3, near_kink)) << activation_name(a);
}

INSTANTIATE_TEST_SUITE_P(All, ActivationGrad,
                         ::testing::Values(Activation::ReLU, Activation::LeakyReLU,
                                           Activation::Sigmoid, Activation::Tanh, Activation::Step,
                                           Activation::Identity),
                         [](const auto& p) { return std::string(activation_name(p.param)); });

// ---- CUDA (CPU-vs-CUDA values: tests/parity) ----------------------------------------

TEST(ActivationCuda, DeviceMismatchIsAnError) {
  MINIDL_REQUIRE_CUDA();
  MINIDL_EXPECT_THROW_WITH(relu_backward(zeros({2}), zeros({2}, Device::cuda())), DeviceError,
                           "cpu", "cuda:0");
}

}  // namespace
}  // namespace minidl
