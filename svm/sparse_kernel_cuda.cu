// The kernel matrix of sparse samples on a GPU, with cuSPARSE. UNVERIFIED: it
// compiles and links, but no GPU was available where it was written; the CPU path
// (sparse_kernel.cpp) is the tested one.
//   K = X X^T for X in CSR [n, d]: cusparseSpMM of X against blocks of X^T made
//   dense (c rows of X scattered into a zeroed column-major d x c block, c chosen
//   so the block stays within 256 MB). Column j of the product is K[:, r0 + j],
//   which (K being symmetric) is row r0 + j of the row-major result: the SpMM
//   writes it in place with leading dimension n. Then the kernel map with the
//   squared norms (kernel_function_cuda.cu).
//   scatter_rows_kernel: one thread per row of the block, writing its non-zeros.
// And SparseRows (sparse_rows_cuda.hpp): the working set's kernel rows per outer
// iteration of the GPU solver, K[ws, :] = map(X_s X_ws^T) by cusparseSpMM of the
// sub-problem's CSR rows against the working set's rows scattered dense.
//   scatter_ws_kernel  : one block per working-set row: its non-zeros into (or, to
//                        clear, zeros over) its column of the dense d x c block.
//   gather_norms_kernel: nws[w] = norms[ws[w]].
#include <cusparse.h>

#include <algorithm>
#include <vector>

#include "../core/context.hpp"
#include "../core/cuda_check.hpp"
#include "../kernels/cuda_launch.cuh"
#include "sparse_kernel.hpp"
#include "sparse_rows_cuda.hpp"

namespace minidl::svm::cuda_detail {

__global__ void scatter_rows_kernel(const std::int64_t* __restrict__ row_ptr,
                                    const std::int64_t* __restrict__ col_idx,
                                    const float* __restrict__ values, std::int64_t r0,
                                    std::int64_t count, std::int64_t d, float* __restrict__ block) {
  for (std::int64_t r = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; r < count;
       r += std::int64_t(gridDim.x) * blockDim.x) {
    float* column = block + r * d;
    for (std::int64_t t = row_ptr[r0 + r]; t < row_ptr[r0 + r + 1]; ++t) column[col_idx[t]] = values[t];
  }
}

// Column j of block (d x c, column-major) gets row ws[w0 + j] of the CSR rows
// (values, or zeros when clear).
__global__ void scatter_ws_kernel(const std::int64_t* __restrict__ row_ptr,
                                  const std::int64_t* __restrict__ col_idx,
                                  const float* __restrict__ values, const int* __restrict__ ws,
                                  int w0, int count, std::int64_t d, bool clear,
                                  float* __restrict__ block) {
  for (int j = blockIdx.x; j < count; j += gridDim.x) {
    const std::int64_t r = ws[w0 + j];
    float* column = block + static_cast<std::int64_t>(j) * d;
    for (std::int64_t t = row_ptr[r] + threadIdx.x; t < row_ptr[r + 1]; t += blockDim.x)
      column[col_idx[t]] = clear ? 0.0f : values[t];
  }
}

__global__ void gather_norms_kernel(const float* __restrict__ norms, const int* __restrict__ ws,
                                    int count, float* __restrict__ nws) {
  for (int w = blockIdx.x * blockDim.x + threadIdx.x; w < count; w += gridDim.x * blockDim.x)
    nws[w] = norms[ws[w]];
}

void check_cusparse(cusparseStatus_t status, const char* call) {
  if (status != CUSPARSE_STATUS_SUCCESS)
    throw CudaError(detail::concat("cuSPARSE: ", call, " failed: ", cusparseGetErrorString(status)));
}

}  // namespace minidl::svm::cuda_detail

#define MINIDL_CUSPARSE_CHECK(call) ::minidl::svm::cuda_detail::check_cusparse((call), #call)

namespace minidl::svm::cuda {

void sparse_kernel_matrix(const CsrMatrix& x, const KernelParams& params, float* k, int device) {
  x.check("cuda::sparse_kernel_matrix");
  check_kernel_params(params);
  const std::int64_t n = x.rows;
  const std::int64_t d = x.cols;
  const std::int64_t nnz = x.nnz();
  if (n == 0) return;
  CudaContext& ctx = CudaContext::get(device);
  MINIDL_CUDA_CHECK(cudaSetDevice(device));
  const std::vector<std::int64_t> cols64(x.col_idx.begin(), x.col_idx.end());
  const std::vector<float> norms = csr_row_sq_norms(x);
  // Columns per SpMM: a dense block of at most 256 MiB, and an output of at most 2^30
  // elements (60,000 samples would make it 3.6e9 in one call; cuBLAS's products are split the
  // same way, kernels/gemm_cuda.cpp).
  std::int64_t chunk = d > 0 ? (std::int64_t{256} << 20) / (4 * d) : n;
  chunk = std::max<std::int64_t>(
      1, std::min({n, chunk, (std::int64_t{1} << 30) / std::max<std::int64_t>(n, 1)}));
  std::vector<void*> owned;
  const auto alloc = [&](std::size_t bytes) {
    void* p = ctx.allocate(std::max<std::size_t>(bytes, 4));
    owned.push_back(p);
    return p;
  };
  cusparseHandle_t handle = nullptr;
  cusparseSpMatDescr_t a = nullptr;
  try {
    auto* rp = static_cast<std::int64_t*>(alloc(std::size_t(n + 1) * 8));
    auto* ci = static_cast<std::int64_t*>(alloc(std::size_t(nnz) * 8));
    auto* v = static_cast<float*>(alloc(std::size_t(nnz) * 4));
    auto* dn = static_cast<float*>(alloc(std::size_t(n) * 4));
    auto* block = static_cast<float*>(alloc(std::size_t(chunk) * std::size_t(d) * 4));
    ctx.copy_host_to_device(rp, x.row_ptr.data(), std::size_t(n + 1) * 8);
    if (nnz > 0) {
      ctx.copy_host_to_device(ci, cols64.data(), std::size_t(nnz) * 8);
      ctx.copy_host_to_device(v, x.values.data(), std::size_t(nnz) * 4);
    }
    ctx.copy_host_to_device(dn, norms.data(), std::size_t(n) * 4);
    MINIDL_CUSPARSE_CHECK(cusparseCreate(&handle));
    MINIDL_CUSPARSE_CHECK(cusparseSetStream(handle, ctx.stream()));
    if (nnz > 0)
      MINIDL_CUSPARSE_CHECK(cusparseCreateCsr(&a, n, d, nnz, rp, ci, v, CUSPARSE_INDEX_64I,
                                              CUSPARSE_INDEX_64I, CUSPARSE_INDEX_BASE_ZERO,
                                              CUDA_R_32F));
    const float alpha = 1.0f;
    const float beta = 0.0f;
    void* work = nullptr;
    std::size_t work_size = 0;
    // No non-zeros (or no features): every dot product is 0, and cuSPARSE is not asked to
    // multiply an empty matrix.
    if (nnz == 0)
      MINIDL_CUDA_CHECK(cudaMemsetAsync(k, 0, std::size_t(n) * std::size_t(n) * 4, ctx.stream()));
    for (std::int64_t r0 = 0; nnz > 0 && r0 < n; r0 += chunk) {
      const std::int64_t count = std::min(chunk, n - r0);
      MINIDL_CUDA_CHECK(cudaMemsetAsync(block, 0, std::size_t(count) * std::size_t(d) * 4,
                                        ctx.stream()));
      cuda_detail::scatter_rows_kernel<<<minidl::cuda_detail::grid_for(count, device),
                                         minidl::cuda_detail::kBlock, 0, ctx.stream()>>>(
          rp, ci, v, r0, count, d, block);
      MINIDL_CUDA_LAUNCH_CHECK("svm scatter_rows_kernel");
      cusparseDnMatDescr_t b = nullptr;
      cusparseDnMatDescr_t c = nullptr;
      MINIDL_CUSPARSE_CHECK(cusparseCreateDnMat(&b, d, count, d, block, CUDA_R_32F,
                                                CUSPARSE_ORDER_COL));
      MINIDL_CUSPARSE_CHECK(cusparseCreateDnMat(&c, n, count, n, k + r0 * n, CUDA_R_32F,
                                                CUSPARSE_ORDER_COL));
      std::size_t need = 0;
      MINIDL_CUSPARSE_CHECK(cusparseSpMM_bufferSize(
          handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, a, b,
          &beta, c, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &need));
      if (need > work_size) {
        work = alloc(need);
        work_size = need;
      }
      MINIDL_CUSPARSE_CHECK(cusparseSpMM(handle, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                         CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, a, b, &beta, c,
                                         CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, work));
      cusparseDestroyDnMat(b);
      cusparseDestroyDnMat(c);
    }
    kernel_map(k, n, n, dn, dn, make_kernel_map(params), device);
    ctx.synchronize();
  } catch (...) {
    if (a != nullptr) cusparseDestroySpMat(a);
    if (handle != nullptr) cusparseDestroy(handle);
    for (void* p : owned) ctx.deallocate(p);
    throw;
  }
  if (a != nullptr) cusparseDestroySpMat(a);
  cusparseDestroy(handle);
  for (void* p : owned) ctx.deallocate(p);
}

}  // namespace minidl::svm::cuda

namespace minidl::svm::cuda {

struct SparseRows::State {
  const CsrMatrix* x = nullptr;
  KernelMap map;
  int device = 0;
  CudaContext* ctx = nullptr;
  std::int64_t l_max = 0, nnz_max = 0, q_max = 0, d = 0, block_cols = 1;
  std::int64_t l = 0, nnz = 0;  // the current sub-problem
  std::int64_t* row_ptr = nullptr;
  std::int64_t* col_idx = nullptr;
  float* values = nullptr;
  float* norms = nullptr;
  float* nws = nullptr;
  float* block = nullptr;  // d x block_cols, zero between calls
  void* work = nullptr;
  std::size_t work_size = 0;
  std::vector<void*> owned;
  cusparseHandle_t handle = nullptr;
  cusparseSpMatDescr_t a = nullptr;

  void* alloc(std::size_t bytes) {
    void* p = ctx->allocate(std::max<std::size_t>(bytes, 4));
    owned.push_back(p);
    return p;
  }
  void release() noexcept {
    if (a != nullptr) cusparseDestroySpMat(a);
    a = nullptr;
    if (handle != nullptr) cusparseDestroy(handle);
    handle = nullptr;
    for (void* p : owned) ctx->deallocate(p);
    owned.clear();
  }
};

SparseRows::SparseRows(const CsrMatrix& x, const KernelParams& params, std::int64_t l_max,
                       std::int64_t nnz_max, std::int64_t q_max, int device)
    : s_(std::make_unique<State>()) {
  check_kernel_params(params);
  MINIDL_CHECK(l_max >= 1 && nnz_max >= 0 && q_max >= 1 && x.cols >= 1, ValueError,
               "cuda::SparseRows: l_max ", l_max, ", nnz_max ", nnz_max, ", q_max ", q_max,
               ", d ", x.cols);
  State& s = *s_;
  s.x = &x;
  s.map = make_kernel_map(params);
  s.device = device;
  s.ctx = &CudaContext::get(device);
  s.l_max = l_max;
  s.nnz_max = nnz_max;
  s.q_max = q_max;
  s.d = x.cols;
  s.block_cols = sparse_rows_block_columns(s.d, q_max);
  try {
    MINIDL_CUDA_CHECK(cudaSetDevice(device));
    s.row_ptr = static_cast<std::int64_t*>(s.alloc(std::size_t(l_max + 1) * 8));
    s.col_idx = static_cast<std::int64_t*>(s.alloc(std::size_t(nnz_max) * 8));
    s.values = static_cast<float*>(s.alloc(std::size_t(nnz_max) * 4));
    s.norms = static_cast<float*>(s.alloc(std::size_t(l_max) * 4));
    s.nws = static_cast<float*>(s.alloc(std::size_t(q_max) * 4));
    const std::size_t block_bytes = std::size_t(s.block_cols) * std::size_t(s.d) * 4;
    s.block = static_cast<float*>(s.alloc(block_bytes));
    MINIDL_CUDA_CHECK(cudaMemsetAsync(s.block, 0, block_bytes, s.ctx->stream()));
    MINIDL_CUSPARSE_CHECK(cusparseCreate(&s.handle));
    MINIDL_CUSPARSE_CHECK(cusparseSetStream(s.handle, s.ctx->stream()));
  } catch (...) {
    s.release();
    throw;
  }
}

SparseRows::~SparseRows() { s_->release(); }

void SparseRows::begin_problem(const std::vector<std::int64_t>& samples) {
  State& s = *s_;
  const CsrMatrix sub = csr_gather_rows(*s.x, samples);
  MINIDL_CHECK(sub.rows >= 1 && sub.rows <= s.l_max && sub.nnz() <= s.nnz_max, ValueError,
               "cuda::SparseRows::begin_problem: ", sub.rows, " rows with ", sub.nnz(),
               " non-zeros, sized for ", s.l_max, " and ", s.nnz_max);
  const std::vector<std::int64_t> cols(sub.col_idx.begin(), sub.col_idx.end());
  const std::vector<float> norms = csr_row_sq_norms(sub);
  s.l = sub.rows;
  s.nnz = sub.nnz();
  s.ctx->copy_host_to_device(s.row_ptr, sub.row_ptr.data(), std::size_t(s.l + 1) * 8);
  if (s.nnz > 0) {
    s.ctx->copy_host_to_device(s.col_idx, cols.data(), std::size_t(s.nnz) * 8);
    s.ctx->copy_host_to_device(s.values, sub.values.data(), std::size_t(s.nnz) * 4);
  }
  s.ctx->copy_host_to_device(s.norms, norms.data(), std::size_t(s.l) * 4);
  if (s.a != nullptr) {
    cusparseDestroySpMat(s.a);
    s.a = nullptr;
  }
  MINIDL_CUSPARSE_CHECK(cusparseCreateCsr(&s.a, s.l, s.d, s.nnz, s.row_ptr, s.col_idx, s.values,
                                          CUSPARSE_INDEX_64I, CUSPARSE_INDEX_64I,
                                          CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
}

void SparseRows::rows(const int* ws, int count, float* kws) {
  State& s = *s_;
  MINIDL_CHECK(s.a != nullptr, ValueError, "cuda::SparseRows::rows before begin_problem");
  MINIDL_CHECK(count >= 0 && count <= s.q_max, ValueError, "cuda::SparseRows::rows: ", count,
               " working-set rows, sized for ", s.q_max);
  if (count == 0) return;
  cudaStream_t stream = s.ctx->stream();
  if (s.nnz == 0) {  // every row empty: X_s X_ws^T = 0
    MINIDL_CUDA_CHECK(cudaMemsetAsync(kws, 0, std::size_t(count) * std::size_t(s.l) * 4, stream));
  } else {
    const float alpha = 1.0f;
    const float beta = 0.0f;
    for (int w0 = 0; w0 < count; w0 += static_cast<int>(s.block_cols)) {
      const int c = static_cast<int>(std::min<std::int64_t>(s.block_cols, count - w0));
      const int grid = std::min(c, 4096);
      cuda_detail::scatter_ws_kernel<<<grid, 128, 0, stream>>>(s.row_ptr, s.col_idx, s.values,
                                                               ws, w0, c, s.d, false, s.block);
      MINIDL_CUDA_LAUNCH_CHECK("svm scatter_ws_kernel");
      cusparseDnMatDescr_t b = nullptr;
      cusparseDnMatDescr_t out = nullptr;
      try {
        MINIDL_CUSPARSE_CHECK(
            cusparseCreateDnMat(&b, s.d, c, s.d, s.block, CUDA_R_32F, CUSPARSE_ORDER_COL));
        MINIDL_CUSPARSE_CHECK(cusparseCreateDnMat(&out, s.l, c, s.l,
                                                  kws + static_cast<std::int64_t>(w0) * s.l,
                                                  CUDA_R_32F, CUSPARSE_ORDER_COL));
        std::size_t need = 0;
        MINIDL_CUSPARSE_CHECK(cusparseSpMM_bufferSize(
            s.handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha,
            s.a, b, &beta, out, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &need));
        if (need > s.work_size) {
          s.work = s.alloc(need);
          s.work_size = need;
        }
        MINIDL_CUSPARSE_CHECK(cusparseSpMM(s.handle, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                           CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, s.a, b, &beta,
                                           out, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, s.work));
      } catch (...) {
        if (b != nullptr) cusparseDestroyDnMat(b);
        if (out != nullptr) cusparseDestroyDnMat(out);
        throw;
      }
      cusparseDestroyDnMat(b);
      cusparseDestroyDnMat(out);
      // Back to zeros at the same positions (O(nnz), not O(d c)).
      cuda_detail::scatter_ws_kernel<<<grid, 128, 0, stream>>>(s.row_ptr, s.col_idx, s.values,
                                                               ws, w0, c, s.d, true, s.block);
      MINIDL_CUDA_LAUNCH_CHECK("svm scatter_ws_kernel (clear)");
    }
  }
  cuda_detail::gather_norms_kernel<<<minidl::cuda_detail::grid_for(count, s.device),
                                     minidl::cuda_detail::kBlock, 0, stream>>>(s.norms, ws, count,
                                                                               s.nws);
  MINIDL_CUDA_LAUNCH_CHECK("svm gather_norms_kernel");
  kernel_map(kws, count, s.l, s.nws, s.norms, s.map, s.device);
}

std::vector<float> sparse_working_set_rows(const CsrMatrix& x,
                                           const std::vector<std::int64_t>& samples,
                                           const std::vector<int>& ws, const KernelParams& params,
                                           int device) {
  x.check("cuda::sparse_working_set_rows");
  const auto l = static_cast<std::int64_t>(samples.size());
  const auto q = static_cast<std::int64_t>(ws.size());
  for (int w : ws)
    MINIDL_CHECK(w >= 0 && w < l, ValueError, "cuda::sparse_working_set_rows: working-set row ",
                 w, " outside [0, ", l, ")");
  if (l == 0 || q == 0) return {};
  const std::int64_t nnz = max_problem_nnz(x, {&samples});
  SparseRows rows(x, params, l, nnz, q, device);
  rows.begin_problem(samples);
  CudaContext& ctx = CudaContext::get(device);
  void* dws = ctx.allocate(std::size_t(q) * sizeof(int));
  void* dk = nullptr;
  std::vector<float> out(static_cast<std::size_t>(q * l));
  try {
    dk = ctx.allocate(out.size() * sizeof(float));
    ctx.copy_host_to_device(dws, ws.data(), std::size_t(q) * sizeof(int));
    rows.rows(static_cast<const int*>(dws), static_cast<int>(q), static_cast<float*>(dk));
    ctx.copy_device_to_host(out.data(), dk, out.size() * sizeof(float));
  } catch (...) {
    ctx.deallocate(dws);
    if (dk != nullptr) ctx.deallocate(dk);
    throw;
  }
  ctx.deallocate(dws);
  ctx.deallocate(dk);
  return out;
}

}  // namespace minidl::svm::cuda
