#include "cross_validation.hpp"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <iterator>
#include <mutex>

#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "probability.hpp"
#include "smo.hpp"

namespace minidl::svm {

std::vector<int> stratified_folds(const std::vector<std::int32_t>& labels, int folds,
                                  std::uint64_t seed, std::uint64_t stream) {
  MINIDL_CHECK(folds >= 1, ValueError, "stratified_folds: folds must be >= 1, got ", folds);
  std::vector<std::int32_t> classes;
  for (std::int32_t v : labels)
    if (std::find(classes.begin(), classes.end(), v) == classes.end()) classes.push_back(v);
  std::vector<int> fold(labels.size());
  std::size_t dealt = 0;
  std::uint64_t draw = 0;
  for (std::int32_t c : classes) {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == c) idx.push_back(i);
    for (std::size_t i = idx.size(); i > 1; --i) {
      const Philox4x32 w = philox_block(seed, stream, draw++);
      const std::uint64_t bits = (std::uint64_t{w.v[0]} << 32) | w.v[1];
      std::swap(idx[i - 1], idx[static_cast<std::size_t>(bits % i)]);
    }
    for (std::size_t i : idx)
      fold[i] = static_cast<int>(dealt++ % static_cast<std::size_t>(folds));
  }
  return fold;
}

FoldRows::FoldRows(const Samples& x) : device_(x.device()) {
  if (x.sparse()) {
    csr_ = x.csr_ptr();
  } else {
    dense_ = x.dense().to(Device::cpu());
  }
}

std::int64_t FoldRows::rows() const { return csr_ != nullptr ? csr_->rows : dense_.size(0); }

Samples FoldRows::gather(const std::vector<std::int64_t>& idx) const {
  if (csr_ != nullptr)
    return Samples(std::make_shared<const CsrMatrix>(csr_gather_rows(*csr_, idx)), device_);
  const std::int64_t d = dense_.size(1);
  Tensor part = empty({static_cast<std::int64_t>(idx.size()), d});
  const float* src = dense_.data<float>();
  float* dst = part.data<float>();
  for (std::size_t t = 0; t < idx.size(); ++t)
    std::copy_n(src + idx[t] * d, d, dst + static_cast<std::int64_t>(t) * d);
  return Samples(part.to(device_));
}

CrossValidationResult cross_validate(const SvcOptions& options, const Samples& x_in,
                                     const Tensor& y_in, const CrossValidationOptions& cv) {
  MINIDL_CHECK(cv.folds >= 2, ValueError, "cross_validate: folds must be >= 2, got ", cv.folds);
  MINIDL_CHECK(x_in.defined() && (x_in.sparse() || (x_in.dense().rank() == 2 &&
                                                    x_in.dense().dtype() == DType::Float32)),
               ShapeError, "cross_validate: x must be float32 [n, d], got ",
               x_in.defined() ? x_in.description() : std::string("an undefined tensor"));
  MINIDL_CHECK(y_in.defined() && y_in.rank() == 1 && y_in.dtype() == DType::Int32 &&
                   y_in.size(0) == x_in.rows(),
               ShapeError, "cross_validate: y must be int32 [", x_in.rows(), "], got ",
               y_in.defined() ? y_in.description() : std::string("an undefined tensor"));
  const Device dev = x_in.device();
  // The storage decided once for every fold (SvcOptions::storage on the whole set:
  // a fold's subset must not flip it).
  const FoldRows x(with_storage(x_in, options.storage));
  const std::vector<std::int32_t> y = y_in.to_vector<std::int32_t>();
  const std::int64_t n = x.rows();
  {
    std::int32_t first = y.empty() ? 0 : y[0];
    MINIDL_CHECK(std::any_of(y.begin(), y.end(), [&](std::int32_t v) { return v != first; }),
                 ValueError, "cross_validate: the labels hold a single class; a classifier needs "
                 "at least two");
  }
  const int folds = static_cast<int>(std::min<std::int64_t>(cv.folds, n));
  const std::vector<int> fold = stratified_folds(y, folds, cv.seed);

  // cpu_threads(), not omp_get_max_threads(): on a busy machine core/parallel's adaptive
  // backend sets OpenMP to one thread, which would run the seconds-long folds one by one.
  int concurrent = cv.concurrent_folds > 0 ? cv.concurrent_folds : cpu_threads();
  concurrent = std::max(1, std::min(concurrent, folds));
  if (dev.is_cuda()) concurrent = 1;
  SvcOptions fold_options = options;
  fold_options.progress = nullptr;  // folds run concurrently: progress comes through cv.on_fold
  fold_options.storage = x.storage();
  if (concurrent > 1)
    fold_options.memory_budget =
        resolve_budget(options.memory_budget, dev) / static_cast<std::size_t>(concurrent);

  CrossValidationResult result;
  result.folds = folds;
  result.predicted.assign(static_cast<std::size_t>(n), 0);
  std::exception_ptr error;
  std::mutex mutex;
  int done = 0;
  // Each fold writes only its own samples' predictions.
#pragma omp parallel for schedule(dynamic, 1) num_threads(concurrent)
  for (int f = 0; f < folds; ++f) {
    try {
      std::vector<std::int64_t> train_idx, test_idx;
      for (std::int64_t i = 0; i < n; ++i)
        (fold[static_cast<std::size_t>(i)] == f ? test_idx : train_idx).push_back(i);
      const auto gather = [&](const std::vector<std::int64_t>& idx) { return x.gather(idx); };
      std::vector<std::int32_t> train_y(train_idx.size());
      for (std::size_t t = 0; t < train_idx.size(); ++t)
        train_y[t] = y[static_cast<std::size_t>(train_idx[t])];
      std::vector<std::int32_t> labels;
      if (std::all_of(train_y.begin(), train_y.end(),
                      [&](std::int32_t v) { return v == train_y[0]; })) {
        labels.assign(test_idx.size(), train_y[0]);
      } else {
        const Samples xt = gather(train_idx);
        const Tensor yt = from_vector(train_y, {static_cast<std::int64_t>(train_y.size())}).to(dev);
        // A class weight for a class this training part lacks (a tiny class all in
        // the held-out fold) names no sample here: SVC would refuse it.
        SvcOptions o = fold_options;
        for (auto it = o.class_weight.begin(); it != o.class_weight.end();)
          it = std::find(train_y.begin(), train_y.end(), it->first) == train_y.end()
                   ? o.class_weight.erase(it)
                   : std::next(it);
        SVC model(o);
        model.fit(xt, yt);
        const Samples xs = gather(test_idx);
        if (cv.probability) {
          fit_probability(model, xt, yt);
          for (std::int32_t c : most_probable(predict_proba(model, xs),
                                              static_cast<int>(model.classes().size())))
            labels.push_back(model.classes()[static_cast<std::size_t>(c)]);
        } else {
          labels = model.predict(xs).to_vector<std::int32_t>();
        }
      }
      for (std::size_t t = 0; t < test_idx.size(); ++t)
        result.predicted[static_cast<std::size_t>(test_idx[t])] = labels[t];
      if (cv.on_fold) {
        std::lock_guard<std::mutex> lock(mutex);
        cv.on_fold(++done, folds);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  for (std::int64_t i = 0; i < n; ++i)
    result.correct += result.predicted[static_cast<std::size_t>(i)] == y[static_cast<std::size_t>(i)];
  result.accuracy = static_cast<double>(result.correct) / static_cast<double>(n);
  return result;
}

}  // namespace minidl::svm
