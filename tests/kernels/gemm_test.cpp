// gemm / gemv against plain loops (double) for every transpose combination, on
// the CPU (each library: OpenBLAS, oneDNN's sgemm, and Auto's choice between them; one
// call, and cut into pieces on the pool as on a busy machine) and CUDA (cuBLAS, row-major
// operands handed over as their column-major transposes); the empty inner dimension
// (k = 0) with beta 0, 1 and another value.
#include <cmath>
#include <vector>

#include "core/cpu_features.hpp"
#include "core/info.hpp"
#include "core/parallel.hpp"
#include "kernels/conv2d.hpp"  // cpu::onednn_available
#include "kernels/fill.hpp"
#include "kernels/gemm.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

// c = alpha op(a) op(b) + beta c in double, row-major.
std::vector<float> reference(const std::vector<float>& a, const std::vector<float>& b,
                             const std::vector<float>& c, std::int64_t m, std::int64_t n,
                             std::int64_t k, const GemmOptions& o) {
  std::vector<float> out(c.size());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::int64_t p = 0; p < k; ++p) {
        const double av = o.transpose_a ? a[static_cast<std::size_t>(p * m + i)]
                                        : a[static_cast<std::size_t>(i * k + p)];
        const double bv = o.transpose_b ? b[static_cast<std::size_t>(j * k + p)]
                                        : b[static_cast<std::size_t>(p * n + j)];
        s += av * bv;
      }
      const auto idx = static_cast<std::size_t>(i * n + j);
      out[idx] = static_cast<float>(o.alpha * s + (o.beta == 0.0f ? 0.0 : o.beta * double(c[idx])));
    }
  return out;
}

void check_gemm(Device device, std::int64_t m, std::int64_t n, std::int64_t k, bool ta, bool tb,
                float alpha, float beta) {
  SCOPED_TRACE(detail::concat(device, " m=", m, " n=", n, " k=", k, " ta=", ta, " tb=", tb,
                              " alpha=", alpha, " beta=", beta));
  Generator gen(static_cast<std::uint64_t>(m * 131 + n * 17 + k + ta * 2 + tb));
  const Tensor a = normal(ta ? Shape{k, m} : Shape{m, k}, 0.0f, 1.0f, gen);
  const Tensor b = normal(tb ? Shape{n, k} : Shape{k, n}, 0.0f, 1.0f, gen);
  const Tensor c0 = normal({m, n}, 0.0f, 1.0f, gen);
  GemmOptions o;
  o.transpose_a = ta;
  o.transpose_b = tb;
  o.alpha = alpha;
  o.beta = beta;
  Tensor c = c0.clone().to(device);  // to() on the same device shares storage
  if (beta == 0.0f) fill(c, NAN);  // beta 0 must overwrite, never read c
  gemm(a.to(device), b.to(device), c, o);
  EXPECT_TRUE(test::all_close(
      c.to_vector<float>(),
      reference(a.to_vector<float>(), b.to_vector<float>(), c0.to_vector<float>(), m, n, k, o),
      1e-4f, 1e-4f));
}

void check_all(Device device) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm(device, 5, 7, 3, ta, tb, 1.0f, 0.0f);
      check_gemm(device, 33, 17, 65, ta, tb, 0.5f, 1.0f);
      check_gemm(device, 4, 6, 0, ta, tb, 1.0f, 0.0f);  // empty product: c = beta c
      check_gemm(device, 4, 6, 0, ta, tb, 1.0f, 1.0f);
      check_gemm(device, 4, 6, 0, ta, tb, 1.0f, -2.5f);
    }
}

void check_gemv(Device device) {
  Generator gen(3);
  const Tensor a = normal({4, 6}, 0.0f, 1.0f, gen);
  const Tensor x6 = normal({6}, 0.0f, 1.0f, gen), x4 = normal({4}, 0.0f, 1.0f, gen);
  const auto av = a.to_vector<float>(), v6 = x6.to_vector<float>(), v4 = x4.to_vector<float>();
  Tensor y = full({4}, 1.0, device);
  gemv(a.to(device), x6.to(device), y, false, 2.0f, 1.0f);
  Tensor yt = full({6}, 1.0, device);
  gemv(a.to(device), x4.to(device), yt, true, 1.0f, 0.0f);
  std::vector<float> ref(4), ref_t(6);
  for (int i = 0; i < 4; ++i) {
    double s = 0.0;
    for (int j = 0; j < 6; ++j) s += double(av[static_cast<std::size_t>(i * 6 + j)]) * v6[j];
    ref[static_cast<std::size_t>(i)] = static_cast<float>(2.0 * s + 1.0);
  }
  for (int j = 0; j < 6; ++j) {
    double s = 0.0;
    for (int i = 0; i < 4; ++i) s += double(av[static_cast<std::size_t>(i * 6 + j)]) * v4[i];
    ref_t[static_cast<std::size_t>(j)] = static_cast<float>(s);
  }
  EXPECT_TRUE(test::all_close(y.to_vector<float>(), ref, 1e-5f, 1e-5f));
  EXPECT_TRUE(test::all_close(yt.to_vector<float>(), ref_t, 1e-5f, 1e-5f));
  // An empty inner dimension: y = beta y.
  Tensor y0 = full({3}, 2.0, device);
  gemv(zeros({0, 3}, device), zeros({0}, device), y0, true, 1.0f, 3.0f);
  EXPECT_EQ(y0.to_vector<float>(), (std::vector<float>{6.0f, 6.0f, 6.0f}));
  gemv(zeros({0, 3}, device), zeros({0}, device), y0, true, 1.0f, 0.0f);
  EXPECT_EQ(y0.to_vector<float>(), (std::vector<float>{0.0f, 0.0f, 0.0f}));
}

TEST(Gemm, MatchesLoops) { check_all(Device::cpu()); }
TEST(Gemm, GemvMatchesLoops) { check_gemv(Device::cpu()); }

// gemm()'s CPU library, threading backend and thread count for a scope.
class CpuSetup {
 public:
  CpuSetup(CpuGemmLibrary library, ParallelBackend backend, int threads)
      : library_(cpu_gemm_library()), backend_(parallel_backend()), threads_(cpu_threads()) {
    set_cpu_gemm_library(library);
    set_parallel_backend(backend);
    set_cpu_threads(threads);
  }
  ~CpuSetup() {
    set_cpu_gemm_library(library_);
    set_parallel_backend(backend_);
    set_cpu_threads(threads_);
  }
  CpuSetup(const CpuSetup&) = delete;
  CpuSetup& operator=(const CpuSetup&) = delete;

 private:
  CpuGemmLibrary library_;
  ParallelBackend backend_;
  int threads_;
};

std::vector<CpuGemmLibrary> cpu_libraries() {
  std::vector<CpuGemmLibrary> l{CpuGemmLibrary::Auto, CpuGemmLibrary::OpenBlas};
  if (cpu::onednn_available()) l.push_back(CpuGemmLibrary::OneDnn);
  return l;
}

TEST(Gemm, EveryCpuLibraryMatchesLoops) {
  for (CpuGemmLibrary library : cpu_libraries()) {
    SCOPED_TRACE(cpu_gemm_library_name(library));
    const CpuSetup setup(library, ParallelBackend::OpenMP, 2);
    check_all(Device::cpu());
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        check_gemm(Device::cpu(), 130, 70, 200, ta, tb, 1.0f, 0.0f);  // beyond one block
        check_gemm(Device::cpu(), 1, 300, 9, ta, tb, -1.5f, 0.5f);    // one row
        check_gemm(Device::cpu(), 129, 1, 40, ta, tb, 1.0f, 1.0f);    // one column
      }
  }
}

// On the pool (as on a busy machine) a product of 2 MFLOP or more is cut into pieces along
// its longer side, each a one-thread library call (kernels/gemm.cpp).
TEST(Gemm, EveryCpuLibraryMatchesLoopsInPiecesOnThePool) {
  for (CpuGemmLibrary library : cpu_libraries()) {
    SCOPED_TRACE(cpu_gemm_library_name(library));
    const CpuSetup setup(library, ParallelBackend::Pool, 2);
    const std::int64_t before = parallel_detail::loops_run();
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        check_gemm(Device::cpu(), 160, 72, 100, ta, tb, 1.0f, 0.0f);  // m longer: rows cut
        check_gemm(Device::cpu(), 40, 200, 130, ta, tb, 0.5f, 1.0f);  // n longer: columns cut
      }
    EXPECT_GE(parallel_detail::loops_run() - before, 8);  // every product ran on the pool
  }
}

TEST(Gemm, AutoPicksTheLibraryByShapeAndCpu) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::int64_t m : {1, 10, 127, 128, 256, 3000}) {
        const CpuGemmLibrary l = cpu_gemm_auto_library(ta, tb, m, 64, 64);
        EXPECT_NE(l, CpuGemmLibrary::Auto);
        const bool openblas = !cpu::onednn_available() ||
                              (ta && !tb && m >= 128 && !cpu_features().avx512f);
        EXPECT_EQ(l, openblas ? CpuGemmLibrary::OpenBlas : CpuGemmLibrary::OneDnn)
            << "ta " << ta << " tb " << tb << " m " << m;
      }
}

TEST(Gemm, TheLibrariesAgreeWithinRounding) {
  if (!cpu::onednn_available()) GTEST_SKIP() << "built without oneDNN";
  Generator gen(5);
  const Tensor a = normal({128, 784}, 0.0f, 1.0f, gen), b = normal({256, 784}, 0.0f, 0.05f, gen);
  GemmOptions o;
  o.transpose_b = true;
  Tensor c_blas, c_dnnl;
  {
    const CpuSetup setup(CpuGemmLibrary::OpenBlas, ParallelBackend::OpenMP, 2);
    gemm(a, b, c_blas, o);
  }
  {
    const CpuSetup setup(CpuGemmLibrary::OneDnn, ParallelBackend::OpenMP, 2);
    gemm(a, b, c_dnnl, o);
  }
  EXPECT_TRUE(test::all_close(c_dnnl.to_vector<float>(), c_blas.to_vector<float>(), 1e-5f, 1e-4f));
}

TEST(Gemm, CpuLibraryNamesAndErrors) {
  EXPECT_STREQ(cpu_gemm_library_name(CpuGemmLibrary::Auto), "auto");
  EXPECT_STREQ(cpu_gemm_library_name(CpuGemmLibrary::OpenBlas), "openblas");
  EXPECT_STREQ(cpu_gemm_library_name(CpuGemmLibrary::OneDnn), "onednn");
  EXPECT_EQ(cpu_gemm_library(), CpuGemmLibrary::Auto);  // the default
  if (cpu::onednn_available()) {
    const CpuSetup setup(CpuGemmLibrary::OneDnn, ParallelBackend::Adaptive, cpu_threads());
    EXPECT_EQ(cpu_gemm_library(), CpuGemmLibrary::OneDnn);
  } else {
    MINIDL_EXPECT_THROW_WITH(set_cpu_gemm_library(CpuGemmLibrary::OneDnn), ValueError,
                             "built without oneDNN");
    EXPECT_EQ(cpu_gemm_library(), CpuGemmLibrary::Auto);
  }
}

}  // namespace
}  // namespace minidl
