// The primal linear SVM of the course notes, trained through the layer graph:
//   J(w, b) = C sum_i max(0, 1 - y_i (w.x_i + b)) + ||w||^2 / 2
// as a Sequential of one Dense(1) layer (z = w.x + b) and the hinge loss, with SGD
// (full batch or mini-batches) and the ||w||^2 / 2 term as weight decay on w only.
// Minimising J / (C n) = mean hinge + ||w||^2 / (2 C n) has the same minimiser,
// so the hinge loss is averaged and the weight decay is lambda = 1 / (C n). The
// learning rate decays as lr / (1 + lr lambda epoch) (the 1 / (lambda t) step of
// strongly convex SGD, Pegasos) and the returned w, b are the average of
// the iterates over the last half of the epochs (Polyak-Ruppert averaging), which
// is what makes subgradient descent on the non-smooth hinge settle. For data too
// large for the dual; on small sets its w, b agree with SVC's linear kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "../core/tensor.hpp"

namespace minidl::svm {

struct PrimalOptions {
  double C = 1.0;              ///< > 0
  std::int64_t epochs = 2000;  ///< passes over the data
  float learning_rate = 0.5f;
  std::int64_t batch_size = 0;  ///< 0: the whole set in one batch
  std::uint64_t seed = 0;       ///< mini-batch order
};

struct PrimalResult {
  std::vector<float> w;
  float b = 0.0f;
  double objective = 0.0;  ///< J(w, b) at the returned w, b
};

/// Trains on x float32 [n, d] (any device; training runs there) and y int32 [n]
/// with exactly two classes: classes[0] (LIBSVM's order: first appearance, +1
/// before -1) is +1, the other -1. ValueError for C <= 0, epochs < 1, a single
/// class or more than two, non-finite x; ShapeError for mismatched shapes.
PrimalResult train_linear_svm_primal(const Tensor& x, const Tensor& y,
                                     const PrimalOptions& options = {});

}  // namespace minidl::svm
