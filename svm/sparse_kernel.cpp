#include "sparse_kernel.hpp"

#include <omp.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include "sparse_rows_cuda.hpp"

namespace minidl::svm {

SparseKernel::SparseKernel(const CsrMatrix& b, const KernelParams& params)
    : params_(params), map_(make_kernel_map(params)), n_(b.rows), cols_(b.cols) {
  check_kernel_params(params);
  b.check("SparseKernel");
  norms_ = csr_row_sq_norms(b);
  // Transpose: sort the entries by (feature, row); CSR order is already by row.
  const auto nnz = static_cast<std::size_t>(b.nnz());
  std::vector<std::int64_t> order(nnz);
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::vector<std::int32_t> row_of(nnz);
  for (std::int64_t i = 0; i < b.rows; ++i)
    for (std::int64_t t = b.row_ptr[static_cast<std::size_t>(i)];
         t < b.row_ptr[static_cast<std::size_t>(i + 1)]; ++t)
      row_of[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&b](std::int64_t x, std::int64_t y) {
    return b.col_idx[static_cast<std::size_t>(x)] < b.col_idx[static_cast<std::size_t>(y)];
  });
  which_row_.resize(nnz);
  value_.resize(nnz);
  feature_ptr_.push_back(0);
  for (std::size_t e = 0; e < nnz; ++e) {
    const auto src = static_cast<std::size_t>(order[e]);
    const std::int32_t f = b.col_idx[src];
    if (features_.empty() || features_.back() != f) {
      if (!features_.empty()) feature_ptr_.push_back(static_cast<std::int64_t>(e));
      features_.push_back(f);
    }
    which_row_[e] = row_of[src];
    value_[e] = b.values[src];
  }
  if (!features_.empty()) feature_ptr_.push_back(static_cast<std::int64_t>(nnz));
}

void SparseKernel::row(const CsrMatrix& a, std::int64_t i, float a_norm, std::vector<double>& acc,
                       float* out) const {
  std::fill(acc.begin(), acc.end(), 0.0);
  const auto begin = static_cast<std::size_t>(a.row_ptr[static_cast<std::size_t>(i)]);
  const auto end = static_cast<std::size_t>(a.row_ptr[static_cast<std::size_t>(i + 1)]);
  // a's features are increasing: one forward search through features_.
  auto from = features_.begin();
  for (std::size_t t = begin; t < end; ++t) {
    const std::int32_t f = a.col_idx[t];
    from = std::lower_bound(from, features_.end(), f);
    if (from == features_.end()) break;
    if (*from != f) continue;
    const auto k = static_cast<std::size_t>(from - features_.begin());
    const double v = a.values[t];
    for (auto e = static_cast<std::size_t>(feature_ptr_[k]);
         e < static_cast<std::size_t>(feature_ptr_[k + 1]); ++e)
      acc[static_cast<std::size_t>(which_row_[e])] += v * double(value_[e]);
  }
  for (std::int64_t t = 0; t < n_; ++t)
    out[t] = map_(static_cast<float>(acc[static_cast<std::size_t>(t)]), a_norm,
                  norms_[static_cast<std::size_t>(t)]);
}

void SparseKernel::rows(const CsrMatrix& a, const float* a_norms, const std::int64_t* rows,
                        std::int64_t count, float* out) const {
  MINIDL_CHECK(a.cols == cols_, ShapeError, "SparseKernel::rows: a has ", a.cols,
               " features, the kernel's rows ", cols_);
  for (std::int64_t r = 0; r < count; ++r)
    MINIDL_CHECK(rows[r] >= 0 && rows[r] < a.rows, ValueError, "SparseKernel::rows: row ",
                 rows[r], " outside [0, ", a.rows, ")");
  const bool parallel = count > 1 && !omp_in_parallel();
#pragma omp parallel if (parallel)
  {
    std::vector<double> acc(static_cast<std::size_t>(n_));
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t r = 0; r < count; ++r)
      row(a, rows[r], a_norms != nullptr ? a_norms[rows[r]] : 0.0f, acc, out + r * n_);
  }
}

std::vector<float> sparse_kernel_diag(const CsrMatrix& x, const KernelParams& params) {
  const KernelMap map = make_kernel_map(params);
  std::vector<float> diag = csr_row_sq_norms(x);
  for (float& v : diag) v = map(v, v, v);
  return diag;
}

std::unique_ptr<KernelRows> sparse_kernel_rows(CsrMatrix x, const KernelParams& params,
                                               std::size_t budget_bytes) {
  auto kernel = std::make_shared<const SparseKernel>(x, params);
  std::vector<float> diag = sparse_kernel_diag(x, params);
  const std::int64_t l = x.rows;
  auto samples = std::make_shared<const CsrMatrix>(std::move(x));
  return std::make_unique<CachedKernelRows>(
      l, std::move(diag), budget_bytes, CachedKernelRows::Fill{},
      [kernel, samples](const std::int64_t* rows, std::int64_t count, float* out) {
        kernel->rows(*samples, kernel->norms().data(), rows, count, out);
      });
}

void sparse_kernel_matrix(const CsrMatrix& a, const CsrMatrix& b, const KernelParams& params,
                          float* k) {
  a.check("sparse_kernel_matrix (a)");
  const SparseKernel kernel(b, params);
  const std::vector<float> a_norms = csr_row_sq_norms(a);
  std::vector<std::int64_t> all(static_cast<std::size_t>(a.rows));
  std::iota(all.begin(), all.end(), std::int64_t{0});
  if (a.rows > 0) kernel.rows(a, a_norms.data(), all.data(), a.rows, k);
}

std::int64_t max_problem_nnz(const CsrMatrix& x,
                             const std::vector<const std::vector<std::int64_t>*>& problems) {
  std::int64_t most = 0;
  for (const std::vector<std::int64_t>* p : problems) {
    std::int64_t nnz = 0;
    for (std::int64_t i : *p) {
      MINIDL_CHECK(i >= 0 && i < x.rows, ValueError, "max_problem_nnz: sample ", i,
                   " outside [0, ", x.rows, ")");
      nnz += x.row_ptr[static_cast<std::size_t>(i + 1)] - x.row_ptr[static_cast<std::size_t>(i)];
    }
    most = std::max(most, nnz);
  }
  return most;
}

std::size_t sparse_rows_device_bytes(std::int64_t l_max, std::int64_t nnz_max, std::int64_t d,
                                     std::int64_t q_max) {
  const auto at_least_4 = [](std::size_t b) { return std::max<std::size_t>(b, 4); };
  const std::int64_t c = sparse_rows_block_columns(d, q_max);
  return at_least_4(std::size_t(l_max + 1) * 8) + at_least_4(std::size_t(nnz_max) * 8) +
         at_least_4(std::size_t(nnz_max) * 4) + at_least_4(std::size_t(l_max) * 4) +
         at_least_4(std::size_t(q_max) * 4) + at_least_4(std::size_t(c) * std::size_t(d) * 4);
}

#if !MINIDL_WITH_CUDA
namespace cuda {
void sparse_kernel_matrix(const CsrMatrix&, const KernelParams&, float*, int) {
  throw DeviceError(detail::concat("cuda::sparse_kernel_matrix: no CUDA backend: ",
                                   cuda_unavailable_reason()));
}

struct SparseRows::State {};

SparseRows::SparseRows(const CsrMatrix&, const KernelParams&, std::int64_t, std::int64_t,
                       std::int64_t, int) {
  throw DeviceError(detail::concat("cuda::SparseRows: no CUDA backend: ",
                                   cuda_unavailable_reason()));
}
SparseRows::~SparseRows() = default;
void SparseRows::begin_problem(const std::vector<std::int64_t>&) {}
void SparseRows::rows(const int*, int, float*) {}

std::vector<float> sparse_working_set_rows(const CsrMatrix&, const std::vector<std::int64_t>&,
                                           const std::vector<int>&, const KernelParams&, int) {
  throw DeviceError(detail::concat("cuda::sparse_working_set_rows: no CUDA backend: ",
                                   cuda_unavailable_reason()));
}
}  // namespace cuda
#endif

}  // namespace minidl::svm
