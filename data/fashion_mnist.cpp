// Fashion-MNIST: finding the folder and files, reading them with read_idx, and
// checking that they hold what the dataset's documentation promises.
#include "fashion_mnist.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "../core/error.hpp"
#include "idx.hpp"

namespace minidl {

namespace {

constexpr const char* kEnvVar = "MINIDL_FASHION_MNIST_DIR";
constexpr std::int64_t kSide = 28;
constexpr std::int32_t kClasses = 10;

const char* how_to_get() {
  return "install the data (Debian: apt-get install dataset-fashion-mnist, which puts it in "
         "/usr/share/datasets/fashion-mnist) or set MINIDL_FASHION_MNIST_DIR to a folder "
         "holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
         "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (from "
         "github.com/zalandoresearch/fashion-mnist)";
}

std::string env_dir() {
  const char* value = std::getenv(kEnvVar);
  return value != nullptr ? std::string(value) : std::string();
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// "<dir>/<name>.gz", else "<dir>/<name>" (a decompressed copy).
std::string find_file(const std::string& dir, const std::string& name) {
  std::string base = (std::filesystem::path(dir) / name).string();
  if (exists(base + ".gz")) return base + ".gz";
  if (exists(base)) return base;
  throw IoError(detail::concat("load_fashion_mnist: neither '", base, ".gz' nor '", base,
                               "' exists; ", how_to_get()));
}

std::string shape_text(const IdxArray& array) {
  std::string text = detail::concat(idx_type_name(array.type), " [");
  for (std::size_t i = 0; i < array.dims.size(); ++i)
    text += (i ? ", " : "") + std::to_string(array.dims[i]);
  return text + "]";
}

}  // namespace

std::string fashion_mnist_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const std::string from_env = env_dir();
  return from_env.empty() ? std::string(kFashionMnistDefaultDir) : from_env;
}

Dataset first_samples(const Dataset& d, std::int64_t n) {
  if (n <= 0 || n >= d.images.size(0)) return d;
  std::vector<std::int64_t> dims = d.images.shape().dims();
  dims[0] = n;
  return Dataset{Tensor(d.images.storage(), Shape(dims), DType::Float32),
                 Tensor(d.labels.storage(), Shape{n}, DType::Int32)};
}

Dataset load_fashion_mnist(FashionMnistSplit split, const std::string& dir_arg) {
  const std::string dir = fashion_mnist_dir(dir_arg);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    const char* origin = !dir_arg.empty()     ? "the folder passed in"
                         : !env_dir().empty() ? "from MINIDL_FASHION_MNIST_DIR"
                                              : "the default";
    throw IoError(detail::concat("load_fashion_mnist: the Fashion-MNIST folder '", dir, "' (",
                                 origin, ") does not exist or is not a folder; ", how_to_get()));
  }
  const std::string prefix = split == FashionMnistSplit::Train ? "train" : "t10k";
  const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");

  IdxArray images = read_idx(images_path);
  MINIDL_CHECK(images.type == IdxType::UInt8 && images.dims.size() == 3 &&
                   images.dims[1] == kSide && images.dims[2] == kSide,
               IoError, "load_fashion_mnist: '", images_path,
               "': expected uint8 images [N, 28, 28], found ", shape_text(images));
  const IdxArray labels = read_idx(labels_path);
  MINIDL_CHECK(labels.type == IdxType::UInt8 && labels.dims.size() == 1, IoError,
               "load_fashion_mnist: '", labels_path, "': expected uint8 labels [N], found ",
               shape_text(labels));
  MINIDL_CHECK(images.dims[0] == labels.dims[0], IoError, "load_fashion_mnist: '", images_path,
               "' holds ", images.dims[0], " images but '", labels_path, "' holds ", labels.dims[0],
               " labels");
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    MINIDL_CHECK(labels.data[i] < kClasses, IoError, "load_fashion_mnist: '", labels_path,
                 "': label ", int{labels.data[i]}, " at index ", i, " is outside [0, ", kClasses,
                 ")");
  }

  Dataset out;
  out.images = idx_to_float32(images, 1.0 / 255.0).view({images.dims[0], kSide * kSide});
  images = IdxArray();  // the bytes are no longer needed; free them before the labels convert
  out.labels = idx_to_int32(labels);
  return out;
}

const std::array<std::string, 10>& fashion_mnist_class_names() {
  static const std::array<std::string, 10> names = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace minidl
