// minidl-train --model svm: a kernel SVM (svm/svc.hpp) on Fashion-MNIST,
// standardised per pixel with the training split's statistics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "svm_options.hpp"
#include "trainer.hpp"

namespace minidl::train {

struct SvmReport {
  Evaluation evaluation;
  double fit_seconds = 0;
  double predict_seconds = 0;
  std::int64_t train_samples = 0;
  std::int64_t support_vectors = 0;
};

/// Standardises train and test with train's per-pixel mean and standard
/// deviation, fits an SVC on `device`, predicts the test set. Under mpirun (dist
/// initialised, more than one process) it is a collective: the sub-problems are
/// shared among the processes (svm/distributed_fit.hpp), every process gets the
/// whole model, each predicts its slice of the test set and the confusion counts
/// are summed; only rank 0 writes config.save_model.
SvmReport run_svm(const SvmConfig& config, Device device, const Dataset& train,
                  const Dataset& test);

}  // namespace minidl::train
