// Stratified n-fold cross-validation of an SVC (LIBSVM's svm-train -v n): the
// samples of each class are shuffled and dealt to the folds in turn, so every
// fold holds about 1/n of every class; each fold is predicted by an SVC trained
// on the others, and the accuracy counts every sample once. LIBSVM's folds are
// random too (rand() without a seed); minidl's come from Philox with a seed, so a
// run is reproducible and two runs with one seed give the same folds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "../core/tensor.hpp"
#include "svc.hpp"

namespace minidl::svm {

/// Fold (0 .. folds - 1) per sample. Classes in order of first appearance; each
/// class's samples shuffled (Fisher-Yates on Philox words of (seed, stream)) and
/// dealt round-robin, the deal continuing from one class to the next, so fold
/// sizes differ by at most one and each class is spread as evenly as it can be.
/// Requires folds >= 1 (ValueError).
std::vector<int> stratified_folds(const std::vector<std::int32_t>& labels, int folds,
                                  std::uint64_t seed, std::uint64_t stream = 0);

/// A training set held once for fold fits (cross_validate, fit_probability): dense
/// rows on the CPU, or the CSR matrix shared (never copied, never made dense);
/// gather gives a subset of rows in the same storage, on the samples' device.
class FoldRows {
 public:
  /// x: dense float32 [n, d] (copied to the CPU once) or CSR (shared).
  explicit FoldRows(const Samples& x);
  std::int64_t rows() const;
  /// Storage::Sparse for CSR, Storage::Dense otherwise: what the fold fits train in.
  Storage storage() const { return csr_ != nullptr ? Storage::Sparse : Storage::Dense; }
  /// Rows idx[0], idx[1], ... (each in [0, rows())) as Samples on the device of x.
  Samples gather(const std::vector<std::int64_t>& idx) const;

 private:
  Tensor dense_;
  std::shared_ptr<const CsrMatrix> csr_;
  Device device_ = Device::cpu();
};

struct CrossValidationOptions {
  int folds = 5;           ///< >= 2; more folds than samples: one sample per fold (leave-one-out)
  std::uint64_t seed = 1;  ///< fold assignment
  /// Predict by the most probable class (fit_probability + predict_proba in each
  /// fold), as svm-train -b 1 -v n does; otherwise by one-vs-one votes.
  bool probability = false;
  /// Folds trained at once on the CPU (0: OpenMP's thread count). Each fold's
  /// SVC gets memory_budget / concurrent folds. CUDA data: one fold at a time.
  int concurrent_folds = 0;
  /// Called after each fold (done, total), from the thread that finished it.
  std::function<void(int done, int total)> on_fold;
};

struct CrossValidationResult {
  std::vector<std::int32_t> predicted;  ///< per sample, by the model that did not see it
  std::int64_t correct = 0;
  double accuracy = 0.0;  ///< correct / n
  int folds = 0;          ///< folds used (min(options.folds, n))
};

/// Runs the cross-validation of SVC(options) on x (dense float32 [n, d] or CSR
/// samples, any device; the folds' data go back to it) and y int32 [n]. The
/// storage is chosen once for the whole set by options.storage (with_storage), and
/// every fold trains and predicts in it: sparse data stay CSR throughout. A training part that lacks all
/// but one class predicts that class for its fold. ValueError for folds < 2 or
/// a single class in y; the SVC's own checks (SVC::fit) otherwise.
CrossValidationResult cross_validate(const SvcOptions& options, const Samples& x, const Tensor& y,
                                     const CrossValidationOptions& cv = {});

}  // namespace minidl::svm
