#include "svm_task.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "dist/collectives.hpp"
#include "dist/process.hpp"
#include "svm/distributed_fit.hpp"
#include "svm/kernel_function.hpp"
#include "svm/model_file.hpp"
#include "svm/svc.hpp"

namespace minidl::train {

namespace {

// (x - mean_j) / sd_j per pixel j, with train's statistics (constant pixels -> 0).
struct Standardiser {
  std::vector<double> mean, sd;
  explicit Standardiser(const Tensor& x) {
    const std::int64_t n = x.size(0), d = x.size(1);
    mean.assign(static_cast<std::size_t>(d), 0.0);
    sd.assign(static_cast<std::size_t>(d), 0.0);
    const float* p = x.data<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < d; ++j) mean[static_cast<std::size_t>(j)] += p[i * d + j];
    }
    for (double& m : mean) m /= static_cast<double>(n);
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < d; ++j) {
        const double c = p[i * d + j] - mean[static_cast<std::size_t>(j)];
        sd[static_cast<std::size_t>(j)] += c * c;
      }
    }
    for (double& s : sd) s = std::sqrt(s / static_cast<double>(n));
  }
  Tensor apply(const Tensor& x) const {
    const std::int64_t n = x.size(0), d = x.size(1);
    Tensor out = empty({n, d});
    const float* p = x.data<float>();
    float* o = out.data<float>();
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < d; ++j) {
        const double s = sd[static_cast<std::size_t>(j)];
        o[i * d + j] =
            s > 0 ? static_cast<float>((p[i * d + j] - mean[static_cast<std::size_t>(j)]) / s)
                  : 0.0f;
      }
    }
    return out;
  }
};

}  // namespace

SvmReport run_svm(const SvmConfig& config, Device device, const Dataset& train,
                  const Dataset& test) {
  using clock = std::chrono::steady_clock;
  const Standardiser standardise(train.images);
  const Tensor x_train = standardise.apply(train.images).to(device);
  const Tensor x_test = standardise.apply(test.images);  // on the CPU; this rank's rows go to device
  svm::SVC model(svc_options(config));
  SvmReport report;
  report.train_samples = train.images.size(0);
  auto t0 = clock::now();
  // Under mpirun each process solves its share of the sub-problems and every
  // process ends with the whole model (svm/distributed_fit.hpp).
  svm::fit_distributed(model, x_train, train.labels.to(device));
  report.fit_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  // Prediction is sharded too: rank r predicts its contiguous slice of the test
  // set, and the confusion counts are summed over the ranks (exact, int64).
  const int world = dist::initialized() ? dist::world_size() : 1;
  const int rank = dist::initialized() ? dist::rank() : 0;
  const std::int64_t m = x_test.size(0);
  const std::int64_t begin = m * rank / world, end = m * (rank + 1) / world;
  t0 = clock::now();
  std::vector<std::int32_t> predicted;
  if (end > begin) {
    const std::int64_t d = x_test.size(1);
    Tensor mine = empty({end - begin, d});
    std::copy_n(x_test.data<float>() + begin * d, (end - begin) * d, mine.data<float>());
    predicted = model.predict(mine.to(device)).to_vector<std::int32_t>();
  }
  report.predict_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  const auto truth = test.labels.to_vector<std::int32_t>();
  std::vector<std::int64_t> counts(100, 0);
  for (std::int64_t i = begin; i < end; ++i) {
    const auto t = static_cast<std::size_t>(truth[static_cast<std::size_t>(i)]);
    const auto p = static_cast<std::size_t>(predicted[static_cast<std::size_t>(i - begin)]);
    MINIDL_CHECK(t < 10 && p < 10, ValueError, "run_svm: label ", t, " or prediction ", p,
                 " of test sample ", i, " is not a Fashion-MNIST class (0..9)");
    ++counts[t * 10 + p];
  }
  if (world > 1) dist::all_reduce(counts);
  std::int64_t correct = 0;
  report.evaluation.confusion.assign(10, std::vector<std::int64_t>(10, 0));
  for (std::size_t t = 0; t < 10; ++t)
    for (std::size_t p = 0; p < 10; ++p) {
      report.evaluation.confusion[t][p] = counts[t * 10 + p];
      if (t == p) correct += counts[t * 10 + p];
    }
  report.evaluation.accuracy =
      truth.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(truth.size());
  report.evaluation.loss = 0.0;
  report.evaluation.samples = static_cast<std::int64_t>(truth.size());
  for (std::int64_t k : model.n_support()) report.support_vectors += k;
  if (!config.save_model.empty() && rank == 0) svm::save_libsvm_model(config.save_model, model);
  return report;
}

}  // namespace minidl::train
