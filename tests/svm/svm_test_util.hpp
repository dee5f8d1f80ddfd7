// Helpers for the SVM suites: generated data sets and LIBSVM's command-line tools
// (Debian's libsvm-tools: svm-train, svm-predict) as the oracle.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "svm/libsvm_format.hpp"
#include "svm/smo.hpp"

namespace minidl::svm_test {

inline bool have_libsvm() {
  return access("/usr/bin/svm-train", X_OK) == 0 && access("/usr/bin/svm-predict", X_OK) == 0;
}

#define MINIDL_REQUIRE_LIBSVM()                                                               \
  do {                                                                                        \
    if (!::minidl::svm_test::have_libsvm())                                                   \
      GTEST_SKIP()                                                                            \
          << "LIBSVM's svm-train / svm-predict not installed (apt-get install libsvm-tools)"; \
  } while (0)

/// A temporary folder, removed with its files at the end of the scope.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/minidl_svm_XXXXXX";
    const char* p = mkdtemp(tmpl);
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Gaussian blobs: class c has centre spread * (unit vector-ish pattern), labels
/// given by `labels`, samples shuffled (so first appearance decides LIBSVM's order).
inline svm::LibsvmData make_blobs(std::int64_t n, std::int64_t d,
                                  const std::vector<std::int32_t>& labels, float spread,
                                  std::uint64_t seed) {
  Generator gen(seed);
  const std::vector<float> noise = normal({n, d}, 0.0f, 1.0f, gen).to_vector<float>();
  const std::vector<float> pick = uniform({n}, 0.0f, 1.0f, gen).to_vector<float>();
  std::vector<float> x(static_cast<std::size_t>(n * d));
  std::vector<std::int32_t> y(static_cast<std::size_t>(n));
  const auto k = static_cast<std::int64_t>(labels.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c =
        std::min<std::int64_t>(k - 1, static_cast<std::int64_t>(pick[i] * static_cast<float>(k)));
    y[static_cast<std::size_t>(i)] = labels[static_cast<std::size_t>(c)];
    for (std::int64_t j = 0; j < d; ++j) {
      const float centre =
          spread * std::cos(static_cast<float>(1.7 * double(c + 1) * double(j + 1)));
      x[static_cast<std::size_t>(i * d + j)] = centre + noise[static_cast<std::size_t>(i * d + j)];
    }
  }
  return {from_vector(x, {n, d}), from_vector(y, {n})};
}

/// What svm-train prints per sub-problem.
struct LibsvmRun {
  std::vector<double> obj;
  std::vector<double> rho;
  std::vector<std::int64_t> nsv;
  std::vector<std::int64_t> iterations;  // "optimization finished, #iter = N"
  std::int64_t total_nsv = -1;
  std::string output;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs `svm-train <args> train model`; parses its stdout.
inline LibsvmRun svm_train(const std::string& args, const std::string& train,
                           const std::string& model, const std::string& log) {
  const std::string cmd =
      "/usr/bin/svm-train " + args + " '" + train + "' '" + model + "' > '" + log + "' 2>&1";
  LibsvmRun run;
  const int rc = std::system(cmd.c_str());
  run.output = read_text(log);
  EXPECT_EQ(rc, 0) << cmd << "\n" << run.output;
  std::istringstream in(run.output);
  std::string line;
  while (std::getline(in, line)) {
    double obj = 0, rho = 0;
    long long a = 0, b = 0;
    if (std::sscanf(line.c_str(), "obj = %lf, rho = %lf", &obj, &rho) == 2) {
      run.obj.push_back(obj);
      run.rho.push_back(rho);
    } else if (std::sscanf(line.c_str(), "nSV = %lld, nBSV = %lld", &a, &b) == 2) {
      run.nsv.push_back(a);
    } else if (std::sscanf(line.c_str(), "optimization finished, #iter = %lld", &a) == 1) {
      run.iterations.push_back(a);
    } else if (std::sscanf(line.c_str(), "Total nSV = %lld", &a) == 1) {
      run.total_nsv = a;
    }
  }
  return run;
}

/// Runs svm-predict; returns the predicted labels.
inline std::vector<std::int32_t> svm_predict(const std::string& test, const std::string& model,
                                             const std::string& out, const std::string& log) {
  const std::string cmd =
      "/usr/bin/svm-predict '" + test + "' '" + model + "' '" + out + "' > '" + log + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd << "\n" << read_text(log);
  std::vector<std::int32_t> labels;
  std::ifstream in(out);
  double v = 0;
  while (in >> v) labels.push_back(static_cast<std::int32_t>(std::lround(v)));
  return labels;
}

inline std::string fmt17(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/// What svm-predict -b 1 writes: the "labels ..." header and per test sample the
/// predicted label and one probability per label (in the header's order).
struct LibsvmProbabilities {
  std::vector<std::int32_t> labels;
  std::vector<std::int32_t> predicted;
  std::vector<double> probability;  // [samples * labels.size()]
};

inline LibsvmProbabilities read_probability_output(const std::string& path) {
  LibsvmProbabilities r;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return r;
  std::istringstream head(line);
  std::string word;
  head >> word;
  EXPECT_EQ(word, "labels") << path;
  for (std::int32_t l; head >> l;) r.labels.push_back(l);
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    double label = 0;
    if (!(ls >> label)) continue;
    r.predicted.push_back(static_cast<std::int32_t>(std::lround(label)));
    for (std::size_t c = 0; c < r.labels.size(); ++c) {
      double p = -1;
      ls >> p;
      r.probability.push_back(p);
    }
  }
  return r;
}

/// Runs svm-predict -b 1 and reads its output file.
inline LibsvmProbabilities svm_predict_probability(const std::string& test,
                                                   const std::string& model,
                                                   const std::string& out,
                                                   const std::string& log) {
  const std::string cmd = "/usr/bin/svm-predict -b 1 '" + test + "' '" + model + "' '" + out +
                          "' > '" + log + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd << "\n" << read_text(log);
  return read_probability_output(out);
}

// The one-vs-one sub-problems of labels 0..k-1 in y (int32): pair (i, j), i < j, has
// class i's samples labelled +1, then class j's labelled -1, C = 1 for both.
inline std::vector<svm::BinaryProblem> one_vs_one(const Tensor& y_t, std::int32_t k) {
  const std::vector<std::int32_t> y = y_t.to_vector<std::int32_t>();
  std::vector<svm::BinaryProblem> out;
  for (std::int32_t i = 0; i < k; ++i)
    for (std::int32_t j = i + 1; j < k; ++j) {
      svm::BinaryProblem p;
      for (std::int32_t side : {i, j})
        for (std::size_t t = 0; t < y.size(); ++t)
          if (y[t] == side) {
            p.samples.push_back(static_cast<std::int64_t>(t));
            p.y.push_back(side == i ? 1 : -1);
          }
      p.cp = p.cn = 1.0;
      out.push_back(std::move(p));
    }
  return out;
}

}  // namespace minidl::svm_test
