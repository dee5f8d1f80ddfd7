// Fuzz target "libsvm_model": load_libsvm_model, then predictions with what loaded
// (and class probabilities when the file carries probA / probB); then the same
// file loaded with sparse (CSR) support vectors, predicting on CSR samples.
#include <cmath>
#include <vector>

#include "../../core/error.hpp"
#include "../../svm/model_file.hpp"
#include "../../svm/probability.hpp"
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
    if (model.has_probability()) {
      const auto k = static_cast<int>(model.classes().size());
      const std::vector<double> p = svm::predict_proba(model, xs);
      if (p.size() != static_cast<std::size_t>(3 * k))
        violated("predict_proba returned the wrong number of probabilities");
      for (int i = 0; i < 3; ++i) {
        double sum = 0;
        for (int c = 0; c < k; ++c) {
          const double v = p[static_cast<std::size_t>(i * k + c)];
          if (!(v >= 0.0 && v <= 1.0)) violated("predict_proba returned a value outside [0, 1]");
          sum += v;
        }
        if (std::fabs(sum - 1.0) > 1e-6) violated("predict_proba's row does not sum to 1");
      }
    }
  } catch (const Error&) {
  }
  // The same bytes read with sparse support vectors (no dense width limit): the
  // predictions on 3 CSR samples must be the model's classes.
  try {
    const svm::SVC model =
        svm::load_libsvm_model(file.path(), 0, kFuzzMaxBytes, svm::Storage::Sparse);
    if (!model.sparse_model()) violated("Storage::Sparse gave dense support vectors");
    svm::CsrMatrix x;
    x.cols = model.n_features();
    for (std::int32_t i = 0; i < 3; ++i) {
      const std::int32_t col = static_cast<std::int32_t>((std::int64_t{i} * 7919) % x.cols);
      const float v = std::sin(0.7f * static_cast<float>(i + 1));
      x.append_row(&col, &v, 1);
    }
    const std::vector<std::int32_t> labels = model.predict(x).to_vector<std::int32_t>();
    if (labels.size() != 3) violated("SVC::predict (sparse) returned the wrong number of labels");
    for (std::int32_t l : labels) {
      bool known = false;
      for (std::int32_t c : model.classes()) known = known || c == l;
      if (!known) violated("SVC::predict (sparse) returned a label that is not a class");
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace minidl::fuzz
