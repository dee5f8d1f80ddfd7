// The deterministic setting (core/determinism.hpp) and what it promises: two
// identical training runs on one device give bitwise-identical weights, and the
// CPU loss sums do not depend on the thread count. The CUDA runs (names with
// "Parity") skip without a GPU.
#include "core/determinism.hpp"
#include "core/info.hpp"
#include "core/parallel.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/chunked_sum.hpp"
#include "kernels/loss.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/pool.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Determinism, EnvironmentValues) {
  EXPECT_TRUE(detail::parse_deterministic(nullptr, true));
  EXPECT_FALSE(detail::parse_deterministic("", false));
  for (const char* on : {"1", "on", "TRUE", "Yes"}) EXPECT_TRUE(detail::parse_deterministic(on, false));
  for (const char* off : {"0", "OFF", "false", "no"})
    EXPECT_FALSE(detail::parse_deterministic(off, true));
  MINIDL_EXPECT_THROW_WITH(detail::parse_deterministic("maybe", true), ValueError,
                           "MINIDL_DETERMINISTIC", "'maybe'");
}

TEST(Determinism, OnByDefaultAndSwitchable) {
  const bool start = deterministic();
  if (std::getenv("MINIDL_DETERMINISTIC") == nullptr) {
    EXPECT_TRUE(start);  // the default
  }
  set_deterministic(false);
  EXPECT_FALSE(deterministic());
  set_deterministic(true);
  EXPECT_TRUE(deterministic());
  set_deterministic(start);
}

TEST(Determinism, ChunkedSumDoesNotDependOnTheThreadCount) {
  // Terms whose double sum depends on the order: 1e16 swallows a following 1.
  const std::int64_t n = 100000;
  auto term = [](std::int64_t i) { return i % 997 == 0 ? 1e16 : 1.0; };
  const int threads = cpu_threads();
  set_cpu_threads(1);
  const double one = cpu_detail::chunked_sum(n, 4096, 1 << 15, term);
  set_cpu_threads(2);
  const double two = cpu_detail::chunked_sum(n, 4096, 1 << 15, term);
  set_cpu_threads(3);
  const double three = cpu_detail::chunked_sum(n, 4096, 1 << 15, term);
  set_cpu_threads(threads);
  EXPECT_EQ(std::memcmp(&one, &three, sizeof(double)), 0) << one << " vs " << three;
  EXPECT_EQ(std::memcmp(&one, &two, sizeof(double)), 0) << one << " vs " << two;
  // The fixed order, written out: chunks of 4096 in order, then the chunk sums.
  double expect = 0.0;
  for (std::int64_t c = 0; c < n; c += 4096) {
    double s = 0.0;
    for (std::int64_t i = c; i < std::min(n, c + 4096); ++i) s += term(i);
    expect += s;
  }
  EXPECT_EQ(one, expect);
  // And the order matters for these terms (so the test can fail): halves differ.
  double first = 0.0, second = 0.0, plain = 0.0;
  for (std::int64_t i = 0; i < n; ++i) (i < n / 2 ? first : second) += term(i);
  for (std::int64_t i = 0; i < n; ++i) plain += term(i);
  EXPECT_NE(first + second, plain);
}

TEST(Determinism, CpuLossesDoNotDependOnTheThreadCount) {
  Generator gen(5);
  const Tensor z = normal({5000, 10}, 0.0f, 30.0f, gen);
  const Tensor soft = uniform({5000, 10}, 0.0f, 1.0f, gen);
  const Tensor zz = normal({70000}, 0.0f, 1e3f, gen);
  const Tensor y = uniform({70000}, 0.0f, 1.0f, gen);
  const int threads = cpu_threads();
  std::vector<float> runs[2];
  for (int t : {1, 2}) {
    set_cpu_threads(t);
    runs[t - 1] = {softmax_cross_entropy(z, soft).loss.item<float>(),
                   squared_error(zz, y).loss.item<float>(),
                   bce_with_logits(zz, y).loss.item<float>()};
  }
  set_cpu_threads(threads);
  EXPECT_EQ(std::memcmp(runs[0].data(), runs[1].data(), 3 * sizeof(float)), 0);
}

// A small CNN with every kind of layer whose backward sums into weights, trained
// for a few SGD steps from a fixed seed; returns every parameter's bits.
std::vector<std::vector<float>> train_cnn(Device device, ConvBackend backend, int steps) {
  Sequential net({2, 10, 10}, device, 11);
  auto conv = std::make_shared<Conv2d>(6, 3, Conv2dOptions::same());
  conv->set_backend(backend);
  net.add(conv)
      .add(std::make_shared<BatchNorm2d>())
      .add(relu_layer())
      .add(std::make_shared<MaxPool2d>(2))
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Dropout>(0.25f))
      .add(std::make_shared<Dense>(5))
      .loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(16);
  SgdOptions so;
  so.learning_rate = 0.05f;
  so.momentum = 0.9f;
  Sgd opt(net.graph().parameters(), so);
  Generator gen(3);
  for (int s = 0; s < steps; ++s) {
    const Tensor x = normal({16, 2, 10, 10}, 0.0f, 1.0f, gen).to(device);
    std::vector<std::int32_t> labels;
    for (int i = 0; i < 16; ++i) labels.push_back((i * 7 + s) % 5);
    net.step(x, from_vector(labels, {16}).to(device));
    opt.step();
  }
  std::vector<std::vector<float>> out;
  for (Parameter* p : net.graph().parameters()) out.push_back(p->value.to_vector<float>());
  return out;
}

void expect_bitwise_equal(const std::vector<std::vector<float>>& a,
                          const std::vector<std::vector<float>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)), 0)
        << "parameter " << i;
  }
}

TEST(Determinism, TwoCpuTrainingRunsAreBitwiseIdentical) {
  const auto a = train_cnn(Device::cpu(), ConvBackend::Cpu, 8);
  const auto b = train_cnn(Device::cpu(), ConvBackend::Cpu, 8);
  expect_bitwise_equal(a, b);
  // The weights did move (the comparison is not of two untouched initialisations).
  EXPECT_NE(a.back(), std::vector<float>(a.back().size(), 0.0f));
}

// The MLP of minidl-train at batch 128 (GEMMs large enough to be cut into pieces on a
// busy machine, Adam updates large enough to run in parallel), a few Adam steps.
std::vector<std::vector<float>> train_mlp(int steps) {
  Sequential net({784}, Device::cpu(), 5);
  net.add(std::make_shared<Dense>(256)).add(relu_layer());
  net.add(std::make_shared<Dense>(128)).add(relu_layer());
  net.add(std::make_shared<Dense>(10));
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(128);
  Adam opt(net.graph().parameters(), AdamOptions{});
  Generator gen(9);
  for (int s = 0; s < steps; ++s) {
    const Tensor x = normal({128, 784}, 0.0f, 1.0f, gen);
    std::vector<std::int32_t> labels;
    for (int i = 0; i < 128; ++i) labels.push_back((i * 3 + s) % 10);
    net.step(x, from_vector(labels, {128}));
    opt.step();
  }
  std::vector<std::vector<float>> out;
  for (Parameter* p : net.graph().parameters()) out.push_back(p->value.to_vector<float>());
  return out;
}

// A busy machine moves the loops to minidl's pool, cuts the GEMMs into pieces and gives
// OpenBLAS and oneDNN one thread (core/parallel.hpp). Each way is bitwise reproducible on
// its own (two runs on the pool, two on OpenMP), but OpenBLAS and oneDNN at one thread
// round differently from the same libraries at two, so the two ways agree within float
// rounding only (README, "Reproducibility").
TEST(Determinism, PoolAndOpenMpRunsAreEachReproducibleAndAgreeWithinRounding) {
  const ParallelBackend saved = parallel_backend();
  const int threads = cpu_threads();
  set_cpu_threads(2);
  auto train_all = [] {
    auto all = train_mlp(3);
    for (ConvBackend conv : {ConvBackend::Cpu, ConvBackend::Auto}) {
      const auto cnn = train_cnn(Device::cpu(), conv, 4);
      all.insert(all.end(), cnn.begin(), cnn.end());
    }
    return all;
  };
  set_parallel_backend(ParallelBackend::OpenMP);
  const auto omp_a = train_all();
  const auto omp_b = train_all();
  set_parallel_backend(ParallelBackend::Pool);
  const auto pool_a = train_all();
  const auto pool_b = train_all();
  set_parallel_backend(saved);
  set_cpu_threads(threads);
  expect_bitwise_equal(omp_a, omp_b);
  expect_bitwise_equal(pool_a, pool_b);
  ASSERT_EQ(omp_a.size(), pool_a.size());
  for (std::size_t i = 0; i < omp_a.size(); ++i) {
    ASSERT_EQ(omp_a[i].size(), pool_a[i].size());
    for (std::size_t k = 0; k < omp_a[i].size(); ++k)
      ASSERT_NEAR(omp_a[i][k], pool_a[i][k], 1e-4f * std::max(1.0f, std::fabs(omp_a[i][k])))
          << "parameter " << i << " element " << k;
  }
}

TEST(DeterminismParity, TwoCudaTrainingRunsAreBitwiseIdentical) {
  MINIDL_REQUIRE_CUDA();
  ASSERT_TRUE(deterministic());
  for (ConvBackend b : {ConvBackend::Cudnn, ConvBackend::Own}) {
    SCOPED_TRACE(conv_backend_name(b));
    expect_bitwise_equal(train_cnn(Device::cuda(), b, 8), train_cnn(Device::cuda(), b, 8));
  }
}

}  // namespace
}  // namespace minidl
