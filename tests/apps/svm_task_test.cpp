#include "svm_task.hpp"

#include <unistd.h>
#include <cstdio>
#include <filesystem>

#include "test_util.hpp"

namespace minidl::train {
namespace {

// Three well-separated classes in 6 features (the rest of Fashion-MNIST's ten labels unused).
Dataset blobs(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  auto x = normal({n, 6}, 0.0f, 0.3f, gen).to_vector<float>();
  std::vector<std::int32_t> y;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::int32_t>(i % 3);
    y.push_back(k);
    x[static_cast<std::size_t>(i * 6 + k)] += 2.0f;
  }
  return Dataset{from_vector(x, {n, 6}), from_vector(y, {n})};
}

TEST(SvmTask, FitsPredictsAndSavesALibsvmModel) {
  const std::string model = (std::filesystem::temp_directory_path() /
                             ("minidl_svm_task_test_" + std::to_string(::getpid()) + ".model"))
                                .string();
  SvmConfig c;
  c.gamma = "scale";
  c.save_model = model;
  const SvmReport r = run_svm(c, Device::cpu(), blobs(150, 1), blobs(60, 2));
  EXPECT_GE(r.evaluation.accuracy, 0.95);
  EXPECT_EQ(r.train_samples, 150);
  EXPECT_GT(r.support_vectors, 0);
  std::int64_t total = 0;
  for (const auto& row : r.evaluation.confusion) {
    for (std::int64_t v : row) total += v;
  }
  EXPECT_EQ(total, 60);
  EXPECT_EQ(r.evaluation.samples, 60);
  EXPECT_TRUE(std::filesystem::exists(model));
  std::remove(model.c_str());
}

TEST(SvmTask, BadOptionsAreClearErrors) {
  SvmConfig c;
  c.gamma = "fast";
  MINIDL_EXPECT_THROW_WITH(run_svm(c, Device::cpu(), blobs(30, 1), blobs(9, 2)), ValueError,
                           "--svm-gamma", "fast");
  c.gamma = "auto";
  c.multi_class = "all";
  MINIDL_EXPECT_THROW_WITH(run_svm(c, Device::cpu(), blobs(30, 1), blobs(9, 2)), ValueError,
                           "ovo or ovr");
}

}  // namespace
}  // namespace minidl::train
