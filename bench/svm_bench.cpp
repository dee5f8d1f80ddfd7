// SVM benchmark: Fashion-MNIST, the first N training images (N = 10000, or
// MINIDL_SVM_BENCH_TRAIN), standardised per pixel with the statistics of those
// images, RBF kernel, C = 10, gamma = 1/784, one-vs-one; tested on the 10000 test
// images. It times minidl's SVC fit and predict on the CPU and, in the same run,
// LIBSVM's svm-train -m 1000 and svm-predict (Debian's libsvm-tools) on the same
// data written as LIBSVM text (the writing is not timed); then prints the ratios.
// Counters: fit_s, predict_s, accuracy, n_sv. On a GPU it also trains on the first
// 10000, 30000 and all 60000 training images (cuda/minidl_svc_fashion_rbf_c10/n:N; the
// CPU cases' MINIDL_SVM_BENCH_TRAIN does not apply to them).
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "core/tensor.hpp"
#include "data/fashion_mnist.hpp"
#include "svm/libsvm_format.hpp"
#include "svm/svc.hpp"

namespace minidl::bench {
namespace {

constexpr double kC = 10.0;
constexpr double kGamma = 1.0 / 784.0;

struct FashionSubset {
  Tensor x_train, y_train, x_test, y_test;
};

std::int64_t train_count() {
  const char* v = std::getenv("MINIDL_SVM_BENCH_TRAIN");
  return v != nullptr && *v != '\0' ? std::atoll(v) : 10000;
}

FashionSubset load_subset(std::int64_t count) {
  const Dataset train = load_fashion_mnist(FashionMnistSplit::Train);
  const Dataset test = load_fashion_mnist(FashionMnistSplit::Test);
  const std::int64_t n = std::min<std::int64_t>(count, train.images.size(0));
  const std::int64_t d = 784;
  const float* xp = train.images.data<float>();
  std::vector<double> mean(d, 0.0), sd(d, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) mean[j] += xp[i * d + j];
  for (double& m : mean) m /= double(n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j)
      sd[j] += (xp[i * d + j] - mean[j]) * (xp[i * d + j] - mean[j]);
  for (double& s : sd) s = std::sqrt(s / double(n));
  const auto standardise = [&](const Tensor& images, std::int64_t rows) {
    std::vector<float> out(static_cast<std::size_t>(rows * d));
    const float* p = images.data<float>();
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        out[i * d + j] = sd[j] > 0 ? static_cast<float>((p[i * d + j] - mean[j]) / sd[j]) : 0.0f;
    return from_vector(out, {rows, d});
  };
  FashionSubset s;
  s.x_train = standardise(train.images, n);
  std::vector<std::int32_t> yl = train.labels.to_vector<std::int32_t>();
  yl.resize(static_cast<std::size_t>(n));
  s.y_train = from_vector(yl, {n});
  s.x_test = standardise(test.images, test.images.size(0));
  s.y_test = test.labels;
  return s;
}

const FashionSubset& data() {
  static const FashionSubset subset = load_subset(train_count());
  return subset;
}

double accuracy(const std::vector<std::int32_t>& pred, const std::vector<std::int32_t>& truth) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == truth[i];
  return double(right) / double(truth.size());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::map<std::string, std::map<std::string, double>>& results() {
  static std::map<std::string, std::map<std::string, double>> r;
  return r;
}

// Fits minidl's SVC (RBF, C = 10, gamma = 1/784, tol 1e-3) on x_train, predicts x_test
// (both on one device) and records fit_s, predict_s, accuracy and n_sv in r and as
// the case's counters.
void fit_and_predict(benchmark::State& state, const Tensor& x_train, const Tensor& y_train,
                     const Tensor& x_test, const Tensor& y_test,
                     std::map<std::string, double>& r) {
  svm::SvcOptions o;
  o.C = kC;
  o.kernel = svm::KernelType::Rbf;
  o.gamma_mode = svm::GammaMode::Value;
  o.gamma = kGamma;
  o.tol = 1e-3;
  for (auto _ : state) {
    svm::SVC svc(o);
    const auto t0 = std::chrono::steady_clock::now();
    svc.fit(x_train, y_train);
    const double fit_s = seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    const std::vector<std::int32_t> pred = svc.predict(x_test).to_vector<std::int32_t>();
    const double predict_s = seconds_since(t1);
    state.SetIterationTime(fit_s + predict_s);
    r["fit_s"] = fit_s;
    r["predict_s"] = predict_s;
    r["accuracy"] = accuracy(pred, y_test.to_vector<std::int32_t>());
    r["n_sv"] = double(svc.support().size());
    for (const auto& [k, v] : r) state.counters[k] = v;
  }
}

void minidl_svc(benchmark::State& state) {
  const FashionSubset& d = data();
  fit_and_predict(state, d.x_train, d.y_train, d.x_test, d.y_test, results()["minidl"]);
}

#if MINIDL_WITH_CUDA
// The GPU figures: the first N training images (N = 10000, 30000, 60000; standardised
// with their own statistics, as the CPU case), fit and predict on the GPU. At 60000 the
// full kernel matrix is 14.4 GB; the Fashion-MNIST paper's SVC figure is 0.897 accuracy.
// Counters as the CPU case, plus n (training images).
void minidl_svc_cuda(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const FashionSubset d = load_subset(n);
  const Device dev = Device::cuda();
  auto& r = results()["cuda" + std::to_string(n)];
  r["n"] = double(n);
  fit_and_predict(state, d.x_train.to(dev), d.y_train, d.x_test.to(dev), d.y_test, r);
}
#endif

void libsvm_peer(benchmark::State& state) {
  if (access("/usr/bin/svm-train", X_OK) != 0) {
    state.SkipWithError("svm-train not installed (apt-get install libsvm-tools)");
    return;
  }
  const FashionSubset& d = data();
  char tmpl[] = "/tmp/minidl_svm_bench_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  svm::write_libsvm(dir + "/train", d.x_train, d.y_train);
  svm::write_libsvm(dir + "/test", d.x_test, d.y_test);
  char gamma[64];
  std::snprintf(gamma, sizeof gamma, "%.17g", kGamma);
  const std::string train_cmd = "/usr/bin/svm-train -m 1000 -c 10 -g " + std::string(gamma) + " " +
                                dir + "/train " + dir + "/model > " + dir + "/train.log";
  const std::string predict_cmd = "/usr/bin/svm-predict " + dir + "/test " + dir + "/model " + dir +
                                  "/pred > " + dir + "/predict.log";
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    if (std::system(train_cmd.c_str()) != 0) state.SkipWithError("svm-train failed");
    const double fit_s = seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    if (std::system(predict_cmd.c_str()) != 0) state.SkipWithError("svm-predict failed");
    const double predict_s = seconds_since(t1);
    state.SetIterationTime(fit_s + predict_s);
    std::vector<std::int32_t> pred;
    std::ifstream in(dir + "/pred");
    for (double v; in >> v;) pred.push_back(static_cast<std::int32_t>(std::lround(v)));
    auto& r = results()["libsvm"];
    r["fit_s"] = fit_s;
    r["predict_s"] = predict_s;
    r["accuracy"] = accuracy(pred, d.y_test.to_vector<std::int32_t>());
    for (const auto& [k, v] : r) state.counters[k] = v;
  }
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace minidl::bench

int main(int argc, char** argv) {
  using namespace minidl;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::add_device_context();
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  benchmark::AddCustomContext("svm_train_images", std::to_string(bench::train_count()));
  for (auto [name, fn] :
       {std::pair{"cpu/minidl_svc_fashion_rbf_c10", &bench::minidl_svc},
        std::pair{"cpu/libsvm_svm_train_m1000_fashion_rbf_c10", &bench::libsvm_peer}})
    benchmark::RegisterBenchmark(name, fn)
        ->Iterations(1)
        ->Unit(benchmark::kSecond)
        ->UseManualTime();
#if MINIDL_WITH_CUDA
  if (cuda_available())
    benchmark::RegisterBenchmark("cuda/minidl_svc_fashion_rbf_c10", &bench::minidl_svc_cuda)
        ->ArgName("n")
        ->Arg(10000)
        ->Arg(30000)
        ->Arg(60000)
        ->Iterations(1)
        ->Unit(benchmark::kSecond)
        ->UseManualTime();
#endif
  benchmark::RunSpecifiedBenchmarks();
  auto& r = bench::results();
  if (r.count("minidl") && r.count("libsvm")) {
    std::printf(
        "\nSVM Fashion-MNIST (%lld train images): fit minidl %.2f s, svm-train %.2f s, ratio %.2fx;"
        " predict minidl %.2f s, svm-predict %.2f s, ratio %.2fx;"
        " accuracy minidl %.4f, LIBSVM %.4f\n",
        static_cast<long long>(bench::train_count()), r["minidl"]["fit_s"], r["libsvm"]["fit_s"],
        r["libsvm"]["fit_s"] / r["minidl"]["fit_s"], r["minidl"]["predict_s"],
        r["libsvm"]["predict_s"], r["libsvm"]["predict_s"] / r["minidl"]["predict_s"],
        r["minidl"]["accuracy"], r["libsvm"]["accuracy"]);
  }
  for (const auto& [key, m] : r) {
    if (key.rfind("cuda", 0) != 0) continue;
    std::printf("SVM Fashion-MNIST on the GPU, %lld train images: fit %.2f s, predict %.2f s, "
                "accuracy %.4f, %lld support vectors\n",
                static_cast<long long>(m.at("n")), m.at("fit_s"), m.at("predict_s"),
                m.at("accuracy"), static_cast<long long>(m.at("n_sv")));
  }
  benchmark::Shutdown();
  return 0;
}
