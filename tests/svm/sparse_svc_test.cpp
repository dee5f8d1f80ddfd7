// SVC on sparse (CSR) samples: the sparse path gives the dense path's model on
// the same data (full kernel matrix and row caches alike), predicts from CSR or
// dense test data, saves a LIBSVM model, and trains a 10^6-feature set in memory
// bounded far below the dense n x d matrix (peak RSS measured in a child process).
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "svm/csr_matrix.hpp"
#include "svm/model_file.hpp"
#include "svm/sparse_kernel.hpp"
#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

// Blobs with about 60% of the entries set to zero, as a dense tensor.
Tensor sparsify(const Tensor& x, std::uint64_t seed) {
  std::vector<float> v = x.to_vector<float>();
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (float& f : v)
    if (u(gen) < 0.6f) f = 0.0f;
  return from_vector(v, x.shape());
}

SvcOptions rbf(double c, Storage storage) {
  SvcOptions o;
  o.C = c;
  o.gamma_mode = GammaMode::Value;
  o.gamma = 0.3;
  o.tol = 1e-5;
  o.storage = storage;
  return o;
}

void expect_same_model(const SVC& dense, const SVC& sparse, const Tensor& x) {
  EXPECT_FALSE(dense.sparse_model());
  EXPECT_TRUE(sparse.sparse_model());
  EXPECT_EQ(sparse.support(), dense.support());
  EXPECT_EQ(sparse.n_support(), dense.n_support());
  ASSERT_EQ(sparse.binary_results().size(), dense.binary_results().size());
  for (std::size_t p = 0; p < dense.binary_results().size(); ++p) {
    const double a = dense.binary_results()[p].dual_objective;
    EXPECT_NEAR(sparse.binary_results()[p].dual_objective, a, 1e-6 * std::fabs(a));
    EXPECT_NEAR(sparse.rho()[p], dense.rho()[p], 1e-3);
  }
  ASSERT_EQ(sparse.decision_coef().size(), dense.decision_coef().size());
  for (std::size_t t = 0; t < dense.decision_coef().size(); ++t)
    EXPECT_NEAR(sparse.decision_coef()[t], dense.decision_coef()[t], 1e-3);
  EXPECT_EQ(sparse.predict(x).to_vector<std::int32_t>(), dense.predict(x).to_vector<std::int32_t>());
  EXPECT_TRUE(test::all_close(sparse.decision_function(x).to_vector<float>(),
                              dense.decision_function(x).to_vector<float>(), 1e-3f, 1e-3f));
}

TEST(SparseSvc, SparseAndDensePathsGiveTheSameModel) {
  const LibsvmData d = svm_test::make_blobs(300, 8, {1, 2, 3}, 1.2f, 31);
  const Tensor x = sparsify(d.x, 5);
  const CsrMatrix csr = csr_from_dense(x);
  ASSERT_LT(csr.density(), 0.5);
  SVC dense(rbf(3.0, Storage::Dense));
  dense.fit(x, d.y);
  // CSR in, kept sparse (Storage::Sparse; Auto would expand this 40%-dense set).
  SVC sparse(rbf(3.0, Storage::Sparse));
  sparse.fit(csr, d.y);
  expect_same_model(dense, sparse, x);
  // Dense in, compressed by Storage::Sparse: the same.
  SVC compressed(rbf(3.0, Storage::Sparse));
  compressed.fit(x, d.y);
  EXPECT_EQ(compressed.decision_coef(), sparse.decision_coef());
  // Auto expands a dense-ish CSR set: a dense model.
  SVC autod(rbf(3.0, Storage::Auto));
  autod.fit(csr, d.y);
  EXPECT_FALSE(autod.sparse_model());
  EXPECT_EQ(autod.decision_coef(), dense.decision_coef());
}

TEST(SparseSvc, RowCachePathUnderABudgetGivesTheSameModel) {
  const LibsvmData d = svm_test::make_blobs(400, 6, {0, 1}, 1.0f, 12);
  const Tensor x = sparsify(d.x, 9);
  SVC dense(rbf(2.0, Storage::Dense));
  dense.fit(x, d.y);
  SvcOptions o = rbf(2.0, Storage::Sparse);
  o.memory_budget = 64 * 1024;  // far below 400^2 floats: sparse rows, cached
  SVC sparse(o);
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  sparse.fit(csr_from_dense(x), d.y);
  EXPECT_LE(KernelMemory::peak() - before, o.memory_budget);
  expect_same_model(dense, sparse, x);
}

TEST(SparseSvc, SparseKernelRowsMatchTheDenseKernel) {
  const LibsvmData d = svm_test::make_blobs(50, 7, {0, 1}, 1.0f, 3);
  const Tensor x = sparsify(d.x, 4);
  for (KernelType t :
       {KernelType::Linear, KernelType::Polynomial, KernelType::Rbf, KernelType::Sigmoid}) {
    const KernelParams p{t, 0.2, 0.5, 3};
    Tensor k;
    kernel_matrix(x, x, k, p);
    std::vector<float> ks(50 * 50);
    sparse_kernel_matrix(csr_from_dense(x), csr_from_dense(x), p, ks.data());
    EXPECT_TRUE(test::all_close(ks, k.to_vector<float>(), 1e-5f, 1e-4f)) << kernel_name(t);
  }
}

TEST(SparseSvc, ModelFileAndLinearWeightsFromSparseSupportVectors) {
  const LibsvmData d = svm_test::make_blobs(120, 5, {1, -1}, 1.5f, 8);
  const Tensor x = sparsify(d.x, 2);
  SvcOptions o = rbf(1.0, Storage::Sparse);
  o.kernel = KernelType::Linear;
  SVC sparse(o);
  sparse.fit(x, d.y);
  o.storage = Storage::Dense;
  SVC dense(o);
  dense.fit(x, d.y);
  EXPECT_TRUE(test::all_close(sparse.coef().to_vector<float>(), dense.coef().to_vector<float>(),
                              1e-4f, 1e-3f));
  MINIDL_EXPECT_THROW_WITH(sparse.support_vectors(), ValueError, "sparse",
                           "support_vector_samples");
  svm_test::TempDir dir;
  save_libsvm_model(dir.file("s.model"), sparse);
  save_libsvm_model(dir.file("d.model"), dense);
  const SVC loaded = load_libsvm_model(dir.file("s.model"));
  EXPECT_EQ(loaded.predict(x).to_vector<std::int32_t>(),
            sparse.predict(x).to_vector<std::int32_t>());
}

// ---- bounded memory at 10^6 features ----

constexpr std::int64_t kRows = 3000;
constexpr std::int64_t kFeatures = 1000000;
constexpr int kNonZeros = 300;

// Three classes; each row: 60 features from its class's pool of 400 plus 240
// spread over all 10^6 features. Values in (0, 1].
LibsvmCsrData high_dimensional_set(std::int64_t rows, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<std::int32_t> any(0, kFeatures - 1);
  std::uniform_int_distribution<std::int32_t> pool(0, 399);
  std::uniform_real_distribution<float> val(0.05f, 1.0f);
  LibsvmCsrData out;
  out.x.cols = kFeatures;
  std::vector<std::int32_t> labels;
  std::vector<std::int32_t> cols;
  std::vector<float> vals;
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto c = static_cast<std::int32_t>(i % 3);
    cols.clear();
    for (int t = 0; t < 60; ++t) cols.push_back(c * 400 + pool(gen));
    while (static_cast<int>(cols.size()) < kNonZeros) cols.push_back(any(gen));
    std::sort(cols.begin(), cols.end());
    cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
    vals.resize(cols.size());
    for (float& v : vals) v = val(gen);
    out.x.append_row(cols.data(), vals.data(), static_cast<std::int64_t>(cols.size()));
    labels.push_back(c);
  }
  out.y = from_vector(labels, {rows});
  return out;
}

long max_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Run in a child process (the parent's peak RSS would hide this one's): builds the
// set, then fits; prints the fit's peak RSS growth and the training accuracy.
TEST(SparseSvcChild, HighDimensionalFit) {
  if (std::getenv("MINIDL_SPARSE_SVC_CHILD") == nullptr)
    GTEST_SKIP() << "run by SparseSvc.HighDimensionalSetTrainsInBoundedMemory in a child process";
  const LibsvmCsrData data = high_dimensional_set(kRows, 7);
  const long before = max_rss_kb();
  SvcOptions o;
  o.C = 10.0;
  SVC svc(o);
  svc.fit(data.x, data.y);
  const long after = max_rss_kb();
  const std::vector<std::int32_t> pred = svc.predict(data.x).to_vector<std::int32_t>();
  const std::vector<std::int32_t> truth = data.y.to_vector<std::int32_t>();
  std::int64_t ok = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) ok += pred[i] == truth[i];
  std::printf("RESULT growth_kb %ld accuracy %.4f sparse %d nsv %lld\n", after - before,
              double(ok) / double(pred.size()), svc.sparse_model() ? 1 : 0,
              static_cast<long long>(svc.support().size()));
}

TEST(SparseSvc, HighDimensionalSetTrainsInBoundedMemory) {
  char self[4096] = {};
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  const std::string cmd = std::string("MINIDL_SPARSE_SVC_CHILD=1 '") + self +
                          "' --gtest_filter=SparseSvcChild.HighDimensionalFit 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  ASSERT_EQ(pclose(pipe), 0) << output;
  const std::size_t at = output.find("RESULT ");
  ASSERT_NE(at, std::string::npos) << output;
  std::istringstream in(output.substr(at + 7));
  std::string key;
  long growth_kb = -1;
  double accuracy = 0;
  int sparse = 0;
  long long nsv = 0;
  in >> key >> growth_kb >> key >> accuracy >> key >> sparse >> key >> nsv;
  const double dense_bytes = double(kRows) * double(kFeatures) * 4.0;  // 12 GB
  EXPECT_EQ(sparse, 1) << "Auto keeps a 0.03% dense set sparse";
  EXPECT_GE(growth_kb, 0);
  // The fit's own peak: the CSR pair subsets, the 36 MB kernel matrix, the
  // solver's vectors. Far below the dense matrix (and below 1/50 of it).
  EXPECT_LT(double(growth_kb) * 1024.0, dense_bytes / 50) << output;
  EXPECT_LT(growth_kb, 200 * 1024) << output;
  EXPECT_GT(accuracy, 0.9) << output;
  EXPECT_GT(nsv, 0);
}

}  // namespace
}  // namespace minidl::svm
