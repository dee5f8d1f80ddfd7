// Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017; github.com/zalandoresearch/fashion-mnist):
// 28x28 grey-scale images of clothing in 10 classes, 60000 for training and 10000
// for testing, stored as IDX files (see idx.hpp):
//   train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
//   t10k-images-idx3-ubyte.gz,  t10k-labels-idx1-ubyte.gz.
// Debian's dataset-fashion-mnist package installs them in
// /usr/share/datasets/fashion-mnist.
#pragma once

#include <array>
#include <string>

#include "../core/tensor.hpp"

namespace minidl {

enum class FashionMnistSplit { Train, Test };

/// One split, on the CPU.
struct Dataset {
  Tensor images;  ///< float32 [N, 784]: pixel / 255, in [0, 1], rows of 28x28 images row-major
  Tensor labels;  ///< int32 [N], each in [0, 10)
};

/// The default folder, used when neither an argument nor the environment names one.
inline constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

/// Mean and standard deviation of every pixel of the training split, scaled to
/// [0, 1] (all 60000 * 784 values; the population standard deviation), for
/// LoaderOptions::mean / stddev. Computed from the installed files exactly, in
/// rational arithmetic over the histogram of byte values: mean 0.2860405969887955,
/// stddev 0.3530242445149226 (commonly quoted rounded as 0.2860 / 0.3530), here
/// rounded to float. tests/data/fashion_mnist_test.cpp recomputes both from the
/// files in double whenever the data is installed.
inline constexpr float kFashionMnistTrainMean = 0.28604060f;
inline constexpr float kFashionMnistTrainStd = 0.35302424f;

/// Loads one split from `dir`, or when `dir` is "": from the folder named by the
/// environment variable MINIDL_FASHION_MNIST_DIR when it is set and not empty, else
/// kFashionMnistDefaultDir. Each file is read as `<name>.gz`, or `<name>` (already
/// decompressed) when there is no .gz; either may be plain or gzip inside.
/// Ensures: images [N, 784] float32 in [0, 1], labels [N] int32 in [0, 10).
/// Throws IoError naming the folder and how to get the data (apt-get install
/// dataset-fashion-mnist, or set MINIDL_FASHION_MNIST_DIR) when the folder or a
/// file is missing, and naming the file when it is malformed (see read_idx), its
/// arrays are not uint8 [N, 28, 28] and [N], the counts differ, or a label is
/// outside [0, 10).
Dataset load_fashion_mnist(FashionMnistSplit split, const std::string& dir = "");

/// The first `n` samples of d (views of the same storage, no copy); all of them
/// when n <= 0 or n >= their number.
Dataset first_samples(const Dataset& d, std::int64_t n);

/// The folder load_fashion_mnist(split, dir) reads: dir, else the environment
/// variable, else the default.
std::string fashion_mnist_dir(const std::string& dir = "");

/// The class names for labels 0..9, as in the Fashion-MNIST README: "T-shirt/top",
/// "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
/// "Ankle boot".
const std::array<std::string, 10>& fashion_mnist_class_names();

}  // namespace minidl
