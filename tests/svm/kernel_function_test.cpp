#include "svm/kernel_function.hpp"

#include <cmath>

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

// The four kernels in plain double loops: the oracle.
double reference_kernel(const float* a, const float* b, std::int64_t d, const KernelParams& p) {
  double dot = 0, dist = 0;
  for (std::int64_t t = 0; t < d; ++t) {
    dot += double(a[t]) * b[t];
    dist += (double(a[t]) - b[t]) * (double(a[t]) - b[t]);
  }
  switch (p.type) {
    case KernelType::Linear:
      return dot;
    case KernelType::Polynomial:
      return std::pow(p.gamma * dot + p.coef0, p.degree);
    case KernelType::Rbf:
      return std::exp(-p.gamma * dist);
    case KernelType::Sigmoid:
      return std::tanh(p.gamma * dot + p.coef0);
  }
  return 0;
}

std::vector<KernelParams> all_kernels() {
  return {{KernelType::Linear, 0, 0, 3},
          {KernelType::Polynomial, 0.3, 1.0, 3},
          {KernelType::Polynomial, 0.5, -0.5, 2},
          {KernelType::Rbf, 0.2, 0, 3},
          {KernelType::Sigmoid, 0.05, 0.3, 3}};
}

TEST(KernelFunction, MatrixMatchesPlainLoops) {
  Generator gen(3);
  const Tensor a = normal({13, 9}, 0.0f, 1.0f, gen);
  const Tensor b = normal({7, 9}, 0.5f, 1.0f, gen);
  const auto av = a.to_vector<float>();
  const auto bv = b.to_vector<float>();
  for (const KernelParams& p : all_kernels()) {
    Tensor k = empty({13, 7});
    kernel_matrix(a, b, k, p);
    std::vector<float> ref(13 * 7);
    for (int i = 0; i < 13; ++i)
      for (int j = 0; j < 7; ++j)
        ref[i * 7 + j] = static_cast<float>(reference_kernel(&av[i * 9], &bv[j * 9], 9, p));
    EXPECT_TRUE(test::all_close(k.to_vector<float>(), ref, 2e-5f, 2e-5f)) << kernel_name(p.type);
  }
}

TEST(KernelFunction, GammaScaleAndAuto) {
  const Tensor x = from_vector({0.0f, 2.0f, 4.0f, 6.0f}, {2, 2});  // mean 3, var 5
  EXPECT_NEAR(gamma_scale(x), 1.0 / (2 * 5.0), 1e-12);
  EXPECT_NEAR(gamma_auto(x), 0.5, 1e-12);
  EXPECT_EQ(gamma_scale(zeros({3, 4})), 1.0);
}

TEST(KernelFunction, NamesAndBadParameters) {
  for (KernelType t :
       {KernelType::Linear, KernelType::Polynomial, KernelType::Rbf, KernelType::Sigmoid})
    EXPECT_EQ(kernel_from_name(kernel_name(t)), t);
  MINIDL_EXPECT_THROW_WITH(kernel_from_name("cubic"), ValueError, "cubic");
  Tensor k = empty({2, 2});
  const Tensor a = ones({2, 3});
  MINIDL_EXPECT_THROW_WITH(kernel_matrix(a, a, k, {KernelType::Rbf, -1.0, 0, 3}), ValueError,
                           "gamma");
  MINIDL_EXPECT_THROW_WITH(kernel_matrix(a, a, k, {KernelType::Polynomial, 1.0, 0, -1}), ValueError,
                           "degree");
  MINIDL_EXPECT_THROW_WITH(kernel_matrix(a, ones({2, 4}), k, {}), ShapeError, "features");
  Tensor bad = empty({3, 2});
  MINIDL_EXPECT_THROW_WITH(kernel_matrix(a, a, bad, {}), ShapeError, "k must be [2, 2]");
}

}  // namespace
}  // namespace minidl::svm
