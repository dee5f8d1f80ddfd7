// CPU vs CUDA for the SVC solver: the same data through the CPU SMO and the GPU
// decomposition SMO (full kernel matrix, and GEMM-computed working-set rows; for
// CSR samples cuSPARSE's full matrix and SpMM-computed working-set rows), the
// same checks as against LIBSVM. Skips without a GPU. Named SvcParity so that the
// GPU check runs it with the parity table (tests/parity); its checks are a solver's
// (objective, KKT, agreement of predictions), not element-wise, hence not a row.
#include <cmath>

#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

void compare_cpu_cuda(KernelType k, const std::vector<std::int32_t>& labels, double c,
                      std::size_t budget, int working_set) {
  SCOPED_TRACE(detail::concat(kernel_name(k), " classes=", labels.size(), " C=", c,
                              " budget=", budget, " ws=", working_set));
  const LibsvmData train = svm_test::make_blobs(300, 6, labels, 0.8f, 41);
  const LibsvmData test = svm_test::make_blobs(500, 6, labels, 0.8f, 42);
  SvcOptions o;
  o.kernel = k;
  o.C = c;
  o.gamma_mode = GammaMode::Value;
  o.gamma = k == KernelType::Sigmoid ? 0.02 : 0.2;
  o.coef0 = k == KernelType::Polynomial ? 1.0 : 0.0;
  o.tol = 1e-5;
  o.memory_budget = budget;
  o.working_set = working_set;
  SVC cpu(o);
  cpu.fit(train.x, train.y);
  SVC gpu(o);
  gpu.fit(train.x.to(Device::cuda()), train.y);
  ASSERT_EQ(cpu.binary_results().size(), gpu.binary_results().size());
  for (std::size_t p = 0; p < cpu.binary_results().size(); ++p) {
    const BinaryResult& a = cpu.binary_results()[p];
    const BinaryResult& b = gpu.binary_results()[p];
    SCOPED_TRACE(detail::concat("pair ", p));
    EXPECT_TRUE(b.converged);
    EXPECT_NEAR(b.dual_objective, a.dual_objective, 1e-4 * std::fabs(a.dual_objective));
    EXPECT_NEAR(b.rho, a.rho, 1e-3);
    EXPECT_LE(b.max_kkt_violation, o.tol);
    EXPECT_LE(std::fabs(b.sum_alpha_y), 1e-6 * c * 300);
    EXPECT_LE(std::llabs(b.n_sv - a.n_sv), std::max<std::int64_t>(1, a.n_sv / 100));
    for (std::size_t t = 0; t < b.alpha.size(); ++t) {
      ASSERT_GE(b.alpha[t], 0.0);
      ASSERT_LE(b.alpha[t], b.y[t] > 0 ? b.cp : b.cn);
    }
  }
  const auto pa = cpu.predict(test.x).to_vector<std::int32_t>();
  const auto pb = gpu.predict(test.x.to(Device::cuda())).to_vector<std::int32_t>();
  std::size_t agree = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) agree += pa[i] == pb[i];
  EXPECT_GE(double(agree), 0.995 * double(pa.size()));
}

TEST(SvcParity, MatchesCpuAllKernels) {
  MINIDL_REQUIRE_CUDA();
  for (KernelType k :
       {KernelType::Linear, KernelType::Polynomial, KernelType::Rbf, KernelType::Sigmoid})
    for (double c : {0.1, 10.0}) {
      compare_cpu_cuda(k, {1, -1}, c, 0, 1024);
      compare_cpu_cuda(k, {2, 0, 5}, c, 0, 1024);
    }
}

TEST(SvcParity, SmallWorkingSetsAndRowRecomputation) {
  MINIDL_REQUIRE_CUDA();
  // A working set much smaller than the problem: many outer iterations.
  compare_cpu_cuda(KernelType::Rbf, {1, -1}, 1.0, 0, 16);
  compare_cpu_cuda(KernelType::Rbf, {0, 1, 2, 3}, 1.0, 0, 64);
  // A budget below the full matrix: working-set rows by SGEMM + the fused map.
  compare_cpu_cuda(KernelType::Rbf, {0, 1, 2}, 1.0, 1000, 64);
  compare_cpu_cuda(KernelType::Polynomial, {1, -1}, 1.0, 1000, 1024);
}

// Sparse (CSR) samples on the GPU: the full kernel matrix by cuSPARSE (budget 0),
// and under a budget below it the working set's rows by cuSPARSE SpMM each outer
// iteration (svm/sparse_rows_cuda.hpp): the CPU's sparse model, to the solver's
// precision. Unverified until a GPU runs it.
TEST(SvcParity, SparseSamplesFullMatrixAndWorkingSetRows) {
  MINIDL_REQUIRE_CUDA();
  const LibsvmData train = svm_test::make_blobs(300, 6, {0, 1, 2}, 0.8f, 43);
  std::vector<float> xv = train.x.to_vector<float>();
  for (std::size_t i = 0; i < xv.size(); i += 3) xv[i] = 0.0f;
  const CsrMatrix csr = csr_from_dense(from_vector(xv, train.x.shape()));
  for (KernelType k : {KernelType::Rbf, KernelType::Polynomial})
    for (std::size_t budget : {std::size_t{0}, std::size_t{1000}})
      for (int working_set : {16, 1024}) {
        SCOPED_TRACE(detail::concat(kernel_name(k), " budget=", budget, " ws=", working_set));
        SvcOptions o;
        o.kernel = k;
        o.C = 1.0;
        o.gamma_mode = GammaMode::Value;
        o.gamma = 0.2;
        o.coef0 = k == KernelType::Polynomial ? 1.0 : 0.0;
        o.tol = 1e-5;
        o.memory_budget = budget;
        o.working_set = working_set;
        o.storage = Storage::Sparse;
        SVC cpu(o);
        cpu.fit(Samples(csr), train.y);
        SVC gpu(o);
        gpu.fit(Samples(csr, Device::cuda()), train.y);
        ASSERT_TRUE(gpu.sparse_model());
        ASSERT_EQ(cpu.binary_results().size(), gpu.binary_results().size());
        for (std::size_t p = 0; p < cpu.binary_results().size(); ++p) {
          const BinaryResult& a = cpu.binary_results()[p];
          const BinaryResult& b = gpu.binary_results()[p];
          EXPECT_TRUE(b.converged);
          EXPECT_NEAR(b.dual_objective, a.dual_objective, 1e-4 * std::fabs(a.dual_objective));
          EXPECT_NEAR(b.rho, a.rho, 1e-3);
          EXPECT_LE(b.max_kkt_violation, o.tol);
        }
        const auto pa = cpu.predict(Samples(csr)).to_vector<std::int32_t>();
        const auto pb = gpu.predict(Samples(csr, Device::cuda())).to_vector<std::int32_t>();
        std::size_t agree = 0;
        for (std::size_t i = 0; i < pa.size(); ++i) agree += pa[i] == pb[i];
        EXPECT_GE(double(agree), 0.995 * double(pa.size()));
      }
}

}  // namespace
}  // namespace minidl::svm
