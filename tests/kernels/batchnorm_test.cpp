// BatchNorm2d kernels: plain-loop reference, running statistics, eval mode,
// central-difference gradients (batch and running statistics); CPU vs CUDA in tests/parity.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/info.hpp"
#include "core/parallel.hpp"

#include "gradcheck.hpp"
#include "kernels/batchnorm.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

struct Stats {
  std::vector<double> mean, var;  // biased
};

Stats reference_stats(const Tensor& x) {
  const auto v = x.to_vector<float>();
  const std::int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  Stats s{std::vector<double>(static_cast<std::size_t>(C)),
          std::vector<double>(static_cast<std::size_t>(C))};
  for (std::int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t i = 0; i < HW; ++i)
        sum += v[static_cast<std::size_t>((b * C + c) * HW + i)];
    const double m = sum / double(B * HW);
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t i = 0; i < HW; ++i) {
        const double d = v[static_cast<std::size_t>((b * C + c) * HW + i)] - m;
        sq += d * d;
      }
    s.mean[static_cast<std::size_t>(c)] = m;
    s.var[static_cast<std::size_t>(c)] = sq / double(B * HW);
  }
  return s;
}

std::vector<float> reference_apply(const Tensor& x, const std::vector<float>& gamma,
                                   const std::vector<float>& beta, const std::vector<double>& mean,
                                   const std::vector<double>& var, double eps) {
  const auto v = x.to_vector<float>();
  const std::int64_t C = x.size(1), HW = x.size(2) * x.size(3);
  std::vector<float> y(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::size_t c = static_cast<std::size_t>((static_cast<std::int64_t>(i) / HW) % C);
    y[i] = static_cast<float>(gamma[c] * (v[i] - mean[c]) / std::sqrt(var[c] + eps) + beta[c]);
  }
  return y;
}

void check_forward(Device device) {
  Generator gen(1);
  const Tensor x = normal({3, 5, 4, 3}, 2.0f, 3.0f, gen);
  const Tensor gamma = normal({5}, 1.0f, 0.5f, gen), beta = normal({5}, 0.0f, 1.0f, gen);
  Tensor rm = full({5}, 0.5, device), rv = full({5}, 2.0, device);
  Tensor mean, invstd, y;
  batchnorm2d_forward_train(x.to(device), gamma.to(device), beta.to(device), rm, rv, mean, invstd,
                            y, BatchNormOptions{1e-5f, 0.1f});
  const Stats s = reference_stats(x);
  const auto g = gamma.to_vector<float>(), b = beta.to_vector<float>();
  EXPECT_TRUE(test::all_close(y.to_vector<float>(), reference_apply(x, g, b, s.mean, s.var, 1e-5),
                              1e-4f, 1e-4f));
  std::vector<float> rm_ref, rv_ref;
  const double n = 3 * 4 * 3;
  for (std::size_t c = 0; c < 5; ++c) {
    rm_ref.push_back(static_cast<float>(0.9 * 0.5 + 0.1 * s.mean[c]));
    rv_ref.push_back(static_cast<float>(0.9 * 2.0 + 0.1 * s.var[c] * n / (n - 1)));
  }
  EXPECT_TRUE(test::all_close(rm.to_vector<float>(), rm_ref, 1e-5f, 1e-5f));
  EXPECT_TRUE(test::all_close(rv.to_vector<float>(), rv_ref, 1e-5f, 1e-5f));
  // Eval: the running statistics.
  Tensor y_eval;
  batchnorm2d_forward_eval(x.to(device), gamma.to(device), beta.to(device), rm, rv, mean, invstd,
                           y_eval);
  const std::vector<double> rmd(rm_ref.begin(), rm_ref.end()), rvd(rv_ref.begin(), rv_ref.end());
  EXPECT_TRUE(test::all_close(y_eval.to_vector<float>(), reference_apply(x, g, b, rmd, rvd, 1e-5),
                              1e-4f, 1e-4f));
}

TEST(BatchNorm2d, CpuMatchesPlainLoops) { check_forward(Device::cpu()); }

// L = <r, bn(x)> through both statistics modes, for x, gamma and beta.
void check_gradients(bool batch_stats, Device device) {
  Generator gen(3);
  const Tensor x0 = normal({2, 3, 3, 2}, 0.5f, 2.0f, gen);
  const Tensor r = normal(x0.shape(), 0.0f, 1.0f, gen);
  const Tensor g0 = normal({3}, 1.0f, 0.3f, gen), b0 = normal({3}, 0.0f, 1.0f, gen);
  const Tensor rm = normal({3}, 0.0f, 1.0f, gen), rv = uniform({3}, 0.5f, 2.0f, gen);
  auto forward = [&](const Tensor& x, const Tensor& g, const Tensor& b, Tensor& mean,
                     Tensor& invstd) {
    Tensor y, rm_copy = rm.clone(), rv_copy = rv.clone();
    if (batch_stats) {
      batchnorm2d_forward_train(x, g, b, rm_copy, rv_copy, mean, invstd, y);
    } else {
      batchnorm2d_forward_eval(x, g, b, rm, rv, mean, invstd, y);
    }
    return y;
  };
  Tensor mean, invstd;
  forward(x0.to(device), g0.to(device), b0.to(device), mean, invstd);
  Tensor dx, dg = zeros({3}, device), db = zeros({3}, device);
  batchnorm2d_backward(x0.to(device), r.to(device), g0.to(device), mean, invstd, batch_stats, dx,
                       dg, db);
  Tensor x = x0.clone(), g = g0.clone(), b = b0.clone();
  auto loss = [&](const Tensor& xx, const Tensor& gg, const Tensor& bb) {
    Tensor m, s;
    return test::project(r, forward(xx, gg, bb, m, s));
  };
  EXPECT_TRUE(test::gradients_agree(
      dx.to_vector<float>(),
      test::numerical_gradient([&](const Tensor& t) { return loss(t, g, b); }, x, 1e-2f), 3e-3));
  EXPECT_TRUE(test::gradients_agree(
      dg.to_vector<float>(),
      test::numerical_gradient([&](const Tensor& t) { return loss(x, t, b); }, g, 1e-2f), 3e-3));
  EXPECT_TRUE(test::gradients_agree(
      db.to_vector<float>(),
      test::numerical_gradient([&](const Tensor& t) { return loss(x, g, t); }, b, 1e-2f), 3e-3));
}

TEST(BatchNorm2d, GradientsMatchCentralDifferences) {
  check_gradients(true, Device::cpu());
  check_gradients(false, Device::cpu());
}

// Large enough (51,200 elements, 16 channels of 3,200) for the CPU loops to run on
// parallel_for's threads: forward (train and eval) and backward give the same bits on one
// thread and two, on the OpenMP regions and minidl's pool (each channel's sums run on one
// thread in a fixed order), and the forward still matches the plain loops.
TEST(BatchNorm2d, CpuResultsDoNotDependOnThreadsOrParallelBackend) {
  Generator gen(7);
  const Tensor x = normal({8, 16, 20, 20}, 1.0f, 2.0f, gen);
  const Tensor dy = normal(x.shape(), 0.0f, 1.0f, gen);
  const Tensor gamma = normal({16}, 1.0f, 0.3f, gen), beta = normal({16}, 0.0f, 1.0f, gen);
  auto run = [&]() {
    Tensor rm = zeros({16}), rv = ones({16}), mean, invstd, y, y_eval, dx;
    Tensor dg = zeros({16}), db = zeros({16});
    batchnorm2d_forward_train(x, gamma, beta, rm, rv, mean, invstd, y);
    batchnorm2d_backward(x, dy, gamma, mean, invstd, true, dx, dg, db);
    Tensor m2, s2;
    batchnorm2d_forward_eval(x, gamma, beta, rm, rv, m2, s2, y_eval);
    return std::vector<std::vector<float>>{y.to_vector<float>(),  rm.to_vector<float>(),
                                           rv.to_vector<float>(), y_eval.to_vector<float>(),
                                           dx.to_vector<float>(), dg.to_vector<float>(),
                                           db.to_vector<float>()};
  };
  const int threads = cpu_threads();
  const ParallelBackend backend = parallel_backend();
  set_cpu_threads(1);
  const auto one = run();
  set_cpu_threads(2);
  std::vector<std::vector<std::vector<float>>> others;
  for (ParallelBackend b : {ParallelBackend::OpenMP, ParallelBackend::Pool}) {
    set_parallel_backend(b);
    others.push_back(run());
  }
  set_parallel_backend(backend);
  set_cpu_threads(threads);
  for (const auto& other : others) {
    ASSERT_EQ(other.size(), one.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
      ASSERT_EQ(other[i].size(), one[i].size());
      EXPECT_EQ(std::memcmp(other[i].data(), one[i].data(), one[i].size() * sizeof(float)), 0)
          << "output " << i;
    }
  }
  const Stats s = reference_stats(x);
  EXPECT_TRUE(test::all_close(one[0],
                              reference_apply(x, gamma.to_vector<float>(),
                                              beta.to_vector<float>(), s.mean, s.var, 1e-5),
                              1e-4f, 1e-4f));
}

TEST(BatchNorm2d, BadArgumentsAreClearErrors) {
  Tensor rm = zeros({3}), rv = ones({3}), m, s, y;
  MINIDL_EXPECT_THROW_WITH(
      batchnorm2d_forward_train(zeros({2, 3}), ones({3}), zeros({3}), rm, rv, m, s, y), ShapeError,
      "NCHW", "[2, 3]");
  MINIDL_EXPECT_THROW_WITH(
      batchnorm2d_forward_train(zeros({2, 4, 2, 2}), ones({3}), zeros({3}), rm, rv, m, s, y),
      ShapeError, "gamma", "[3]", "[2, 4, 2, 2]");
  MINIDL_EXPECT_THROW_WITH(
      batchnorm2d_forward_train(zeros({1, 3, 1, 1}), ones({3}), zeros({3}), rm, rv, m, s, y),
      ValueError, "at least 2");
}

}  // namespace
}  // namespace minidl
