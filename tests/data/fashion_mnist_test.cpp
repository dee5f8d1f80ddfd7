// Fashion-MNIST: the folder rules and error messages on small files written here,
// and, when the dataset is installed, both real splits against the dataset's
// documentation (60000 / 10000 images of 28x28, 6000 / 1000 per class) and the
// training statistics that fashion_mnist.hpp states.
#include "data/fashion_mnist.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>

#include "data/loader.hpp"
#include "data_test_files.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

using test::Bytes;
using test::concat;
using test::idx_header;

// n fake images whose pixel p of image i is (i + p) % 256, and labels i % 10.
void write_fake_split(const test::TempDir& dir, const std::string& prefix, std::uint32_t n,
                      std::uint32_t side = 28, std::uint8_t label_offset = 0) {
  Bytes images = idx_header(0x08, {n, side, side});
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t p = 0; p < side * side; ++p)
      images.push_back(static_cast<std::uint8_t>((i + p) % 256));
  Bytes labels = idx_header(0x08, {n});
  for (std::uint32_t i = 0; i < n; ++i)
    labels.push_back(static_cast<std::uint8_t>(i % 10 + label_offset));
  test::write_gzip(dir.file(prefix + "-images-idx3-ubyte.gz"), images);
  // The labels decompressed, as after gunzip: found without the .gz.
  test::write_file(dir.file(prefix + "-labels-idx1-ubyte"), labels);
}

TEST(FashionMnist, ClassNames) {
  const auto& names = fashion_mnist_class_names();
  const std::array<std::string, 10> expected = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};
  EXPECT_EQ(names, expected);
}

TEST(FashionMnist, FolderComesFromArgumentThenEnvironmentThenDefault) {
  {
    test::ScopedEnv env("MINIDL_FASHION_MNIST_DIR", "/from/env");
    EXPECT_EQ(fashion_mnist_dir(), "/from/env");
    EXPECT_EQ(fashion_mnist_dir("/from/arg"), "/from/arg");
  }
  test::ScopedEnv empty("MINIDL_FASHION_MNIST_DIR", "");
  EXPECT_EQ(fashion_mnist_dir(), kFashionMnistDefaultDir);
}

TEST(FashionMnist, MissingFolderSaysHowToGetTheData) {
  MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Train, "/no/such/fashion"),
                           IoError, "/no/such/fashion", "does not exist",
                           "apt-get install dataset-fashion-mnist", "MINIDL_FASHION_MNIST_DIR");
  test::ScopedEnv env("MINIDL_FASHION_MNIST_DIR", "/no/such/env/folder");
  MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Test), IoError,
                           "/no/such/env/folder", "from MINIDL_FASHION_MNIST_DIR",
                           "apt-get install");
}

TEST(FashionMnist, MissingFileSaysWhichAndHow) {
  test::TempDir dir;
  write_fake_split(dir, "train", 3);
  MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Test, dir.path()), IoError,
                           "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte'",
                           "apt-get install dataset-fashion-mnist");
}

TEST(FashionMnist, LoadsSmallFilesFromTheEnvironmentFolder) {
  test::TempDir dir;
  write_fake_split(dir, "t10k", 3);
  test::ScopedEnv env("MINIDL_FASHION_MNIST_DIR", dir.path().c_str());
  const Dataset d = load_fashion_mnist(FashionMnistSplit::Test);
  EXPECT_EQ(d.images.shape(), (Shape{3, 784}));
  EXPECT_EQ(d.images.dtype(), DType::Float32);
  EXPECT_EQ(d.labels.shape(), (Shape{3}));
  EXPECT_EQ(d.labels.dtype(), DType::Int32);
  EXPECT_EQ(d.labels.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 1, 2}));
  const std::vector<float> x = d.images.to_vector<float>();
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t p = 0; p < 784; ++p)
      ASSERT_EQ(x[i * 784 + p], static_cast<float>(static_cast<double>((i + p) % 256) / 255.0))
          << i << ", " << p;
}

TEST(FashionMnist, RejectsFilesThatAreNotFashionMnist) {
  {
    test::TempDir dir;
    write_fake_split(dir, "train", 4, 28, /*label_offset=*/1);  // labels 1..4 then 10 is absent
    EXPECT_NO_THROW(load_fashion_mnist(FashionMnistSplit::Train, dir.path()));
    write_fake_split(dir, "train", 10, 28, /*label_offset=*/1);  // the last label is 10
    MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Train, dir.path()), IoError,
                             "train-labels-idx1-ubyte", "label 10 at index 9", "[0, 10)");
  }
  {
    test::TempDir dir;
    write_fake_split(dir, "train", 2, 27);
    MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Train, dir.path()), IoError,
                             "train-images-idx3-ubyte.gz", "[N, 28, 28]", "uint8 [2, 27, 27]");
  }
  {
    test::TempDir dir;
    write_fake_split(dir, "train", 3);
    test::write_file(dir.file("train-labels-idx1-ubyte"),
                     concat(idx_header(0x08, {4}), {1, 2, 3, 4}));
    MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Train, dir.path()), IoError,
                             "holds 3 images", "holds 4 labels");
    test::write_file(dir.file("train-labels-idx1-ubyte"),
                     concat(idx_header(0x08, {3, 1}), {1, 2, 3}));
    MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Train, dir.path()), IoError,
                             "expected uint8 labels [N]", "uint8 [3, 1]");
    test::write_file(dir.file("train-labels-idx1-ubyte"), concat(idx_header(0x08, {3}), {1, 2}));
    MINIDL_EXPECT_THROW_WITH(load_fashion_mnist(FashionMnistSplit::Train, dir.path()), IoError,
                             "train-labels-idx1-ubyte", "truncated");
  }
}

// ---- the real dataset ------------------------------------------------------------

// Each split is read once per test executable (the training images are ~47 MB).
const Dataset* real_split(FashionMnistSplit split) {
  static std::optional<Dataset> train, test_split;
  std::optional<Dataset>& slot = split == FashionMnistSplit::Train ? train : test_split;
  std::error_code ec;
  if (!std::filesystem::is_directory(fashion_mnist_dir(), ec)) return nullptr;
  if (!slot) {
    const auto start = std::chrono::steady_clock::now();
    slot = load_fashion_mnist(split);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[ info     ] loaded Fashion-MNIST "
              << (split == FashionMnistSplit::Train ? "train" : "test") << " from "
              << fashion_mnist_dir() << " in " << seconds << " s\n";
  }
  return &*slot;
}

#define REQUIRE_FASHION_MNIST(split, var)                                     \
  const Dataset* var = real_split(split);                                     \
  if (var == nullptr)                                                         \
  GTEST_SKIP() << "Fashion-MNIST is not installed in " << fashion_mnist_dir() \
               << " (apt-get install dataset-fashion-mnist, or set MINIDL_FASHION_MNIST_DIR)"

void check_split(const Dataset& d, std::int64_t n, std::int64_t per_class) {
  EXPECT_EQ(d.images.shape(), (Shape{n, 784}));
  EXPECT_EQ(d.labels.shape(), (Shape{n}));
  const float* x = d.images.data<float>();
  float lo = 1.0f, hi = 0.0f;
  for (std::int64_t i = 0; i < d.images.numel(); ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  std::vector<std::int64_t> counts(10, 0);
  for (const std::int32_t y : d.labels.to_vector<std::int32_t>()) {
    ASSERT_GE(y, 0);
    ASSERT_LT(y, 10);
    ++counts[static_cast<std::size_t>(y)];
  }
  EXPECT_EQ(counts, std::vector<std::int64_t>(10, per_class));
}

TEST(FashionMnistData, TrainSplit) {
  REQUIRE_FASHION_MNIST(FashionMnistSplit::Train, d);
  check_split(*d, 60000, 6000);
}

TEST(FashionMnistData, TestSplit) {
  REQUIRE_FASHION_MNIST(FashionMnistSplit::Test, d);
  check_split(*d, 10000, 1000);
}

// The constants in fashion_mnist.hpp, recomputed from the data in double.
TEST(FashionMnistData, TrainMeanAndStd) {
  REQUIRE_FASHION_MNIST(FashionMnistSplit::Train, d);
  const float* x = d->images.data<float>();
  const std::int64_t n = d->images.numel();
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double squares = 0.0;
  for (std::int64_t i = 0; i < n; ++i) squares += (x[i] - mean) * (x[i] - mean);
  const double stddev = std::sqrt(squares / static_cast<double>(n));
  std::cout << "[ info     ] train pixels: mean " << mean << ", stddev " << stddev << "\n";
  EXPECT_NEAR(mean, kFashionMnistTrainMean, 1e-7);
  EXPECT_NEAR(stddev, kFashionMnistTrainStd, 1e-7);
}

// Normalised with those constants, a whole training epoch through the loader has
// mean 0 and standard deviation 1.
TEST(FashionMnistData, NormalisedEpochIsStandardised) {
  REQUIRE_FASHION_MNIST(FashionMnistSplit::Train, d);
  LoaderOptions options;
  options.batch_size = 1000;
  options.mean = kFashionMnistTrainMean;
  options.stddev = kFashionMnistTrainStd;
  DataLoader loader(d->images, d->labels, options);
  EXPECT_EQ(loader.batches_per_epoch(), 60);
  double sum = 0.0, squares = 0.0;
  std::int64_t count = 0;
  Batch batch;
  while (loader.next(batch)) {
    const float* x = batch.x.data<float>();
    for (std::int64_t i = 0; i < batch.x.numel(); ++i) {
      sum += x[i];
      squares += static_cast<double>(x[i]) * x[i];
    }
    count += batch.x.numel();
  }
  EXPECT_EQ(count, 60000 * 784);
  const double mean = sum / static_cast<double>(count);
  EXPECT_NEAR(mean, 0.0, 1e-5);
  EXPECT_NEAR(std::sqrt(squares / static_cast<double>(count) - mean * mean), 1.0, 1e-5);
}

}  // namespace
}  // namespace minidl
