// Where sparse kernel rows beat dense ones on this CPU: the measurement behind
// svm::kSparseDensity (svm/samples.hpp). For random CSR samples x [n, d] at a
// range of densities, it times the two ways the CPU solver gets a block of 64 RBF
// kernel rows K(x_B, x) (the unit of both the full kernel matrix and the row
// cache's misses):
//   sparse/.../density_permille:P   SparseKernel::rows (sparse dot products over
//                                   the transposed x, svm/sparse_kernel.hpp)
//   dense/.../density_permille:P    kernel_matrix on the dense rows (sgemm +
//                                   the kernel map, svm/kernel_function.hpp)
// Counter rows_per_s: kernel rows computed per second. The dense cost does not
// depend on the density; the sparse one grows with its square (each of a row's
// p d non-zeros walks a column list of p n entries), so the crossing density p*
// is where sparse rows_per_s falls to dense's. Run with --benchmark_filter=d:784
// (Fashion-MNIST's width) or d:4096.
#include <benchmark/benchmark.h>

#include <numeric>
#include <random>
#include <vector>

#include "core/tensor.hpp"
#include "svm/csr_matrix.hpp"
#include "svm/kernel_function.hpp"
#include "svm/sparse_kernel.hpp"

namespace minidl::bench {
namespace {

constexpr std::int64_t kRows = 8192;
constexpr std::int64_t kBlock = 64;

svm::CsrMatrix random_csr(std::int64_t n, std::int64_t d, double density, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  svm::CsrMatrix m;
  m.cols = d;
  std::vector<std::int32_t> cols;
  std::vector<float> vals;
  for (std::int64_t i = 0; i < n; ++i) {
    cols.clear();
    vals.clear();
    for (std::int64_t j = 0; j < d; ++j)
      if (u(gen) < density) {
        cols.push_back(static_cast<std::int32_t>(j));
        vals.push_back(u(gen) + 0.1f);
      }
    m.append_row(cols.data(), vals.data(), static_cast<std::int64_t>(cols.size()));
  }
  return m;
}

svm::KernelParams rbf(std::int64_t d) { return {svm::KernelType::Rbf, 1.0 / double(d), 0.0, 3}; }

void sparse_rows(benchmark::State& state) {
  const std::int64_t d = state.range(0);
  const double density = double(state.range(1)) / 1000.0;
  const svm::CsrMatrix x = random_csr(kRows, d, density, 1);
  const svm::SparseKernel kernel(x, rbf(d));
  std::vector<float> out(static_cast<std::size_t>(kBlock * kRows));
  std::vector<std::int64_t> rows(static_cast<std::size_t>(kBlock));
  std::int64_t r0 = 0;
  for (auto _ : state) {
    std::iota(rows.begin(), rows.end(), r0);
    r0 = (r0 + kBlock) % (kRows - kBlock);
    kernel.rows(x, kernel.norms().data(), rows.data(), kBlock, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["rows_per_s"] =
      benchmark::Counter(double(kBlock), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = x.density();
}

void dense_rows(benchmark::State& state) {
  const std::int64_t d = state.range(0);
  const double density = double(state.range(1)) / 1000.0;
  const Tensor x = svm::csr_to_dense(random_csr(kRows, d, density, 1));
  const Tensor norms = svm::row_sq_norms(x);
  const std::vector<float> xv = x.to_vector<float>();
  Tensor k = empty({kBlock, kRows});
  std::int64_t r0 = 0;
  for (auto _ : state) {
    // The block's rows gathered, as the solver's row source does.
    const Tensor xb = from_vector(
        std::vector<float>(xv.begin() + r0 * d, xv.begin() + (r0 + kBlock) * d), {kBlock, d});
    r0 = (r0 + kBlock) % (kRows - kBlock);
    svm::kernel_matrix(xb, x, k, rbf(d), Tensor(), norms);
    benchmark::DoNotOptimize(k.data<float>());
  }
  state.counters["rows_per_s"] =
      benchmark::Counter(double(kBlock), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = density;
}

void densities(benchmark::internal::Benchmark* b) {
  b->ArgNames({"d", "density_permille"});
  for (std::int64_t d : {784, 4096})
    for (std::int64_t p : {5, 10, 20, 50, 100, 150, 200, 300, 500}) b->Args({d, p});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(sparse_rows)->Name("sparse/rbf_rows_of_8192")->Apply(densities);
BENCHMARK(dense_rows)->Name("dense/rbf_rows_of_8192")->Apply(densities);

}  // namespace
}  // namespace minidl::bench

BENCHMARK_MAIN();
