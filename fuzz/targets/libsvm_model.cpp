// Fuzz target "libsvm_model": load_libsvm_model, then predictions with what loaded.
#include <cmath>
#include <vector>

#include "../../core/error.hpp"
#include "../../svm/model_file.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

int libsvm_model(const std::uint8_t* data, std::size_t size) {
  static ScratchFile file("libsvm-model");
  try {
    const svm::SVC model = svm::load_libsvm_model(file.write(data, size), 0, kFuzzMaxBytes);
    const std::int64_t d = model.support_vectors().size(1);
    std::vector<float> x(static_cast<std::size_t>(3 * d));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i));
    const Tensor xs = from_vector(x, {3, d});
    const std::vector<std::int32_t> labels = model.predict(xs).to_vector<std::int32_t>();
    if (labels.size() != 3) violated("SVC::predict returned the wrong number of labels");
    for (std::int32_t l : labels) {
      bool known = false;
      for (std::int32_t c : model.classes()) known = known || c == l;
      if (!known) violated("SVC::predict returned a label that is not one of the model's classes");
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace minidl::fuzz
