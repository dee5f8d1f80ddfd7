#include "svm_task.hpp"

#include <chrono>
#include <cmath>

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
  const Tensor x_test = standardise.apply(test.images).to(device);
  svm::SVC model(svc_options(config));
  SvmReport report;
  report.train_samples = train.images.size(0);
  auto t0 = clock::now();
  model.fit(x_train, train.labels.to(device));
  report.fit_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  t0 = clock::now();
  const auto predicted = model.predict(x_test).to_vector<std::int32_t>();
  report.predict_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  const auto truth = test.labels.to_vector<std::int32_t>();
  std::int64_t correct = 0;
  report.evaluation.confusion.assign(10, std::vector<std::int64_t>(10, 0));
  for (std::size_t i = 0; i < truth.size(); ++i) {
    ++report.evaluation
          .confusion[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(predicted[i])];
    correct += predicted[i] == truth[i];
  }
  report.evaluation.accuracy =
      truth.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(truth.size());
  report.evaluation.loss = 0.0;
  report.evaluation.samples = static_cast<std::int64_t>(truth.size());
  for (std::int64_t k : model.n_support()) report.support_vectors += k;
  if (!config.save_model.empty()) svm::save_libsvm_model(config.save_model, model);
  return report;
}

}  // namespace minidl::train
