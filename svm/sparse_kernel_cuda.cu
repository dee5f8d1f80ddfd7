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
#include <cusparse.h>

#include <algorithm>
#include <vector>

#include "../core/context.hpp"
#include "../core/cuda_check.hpp"
#include "../kernels/cuda_launch.cuh"
#include "sparse_kernel.hpp"

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
  const std::int64_t chunk =
      std::max<std::int64_t>(1, std::min<std::int64_t>(n, (std::int64_t{256} << 20) / (4 * d)));
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
    MINIDL_CUSPARSE_CHECK(cusparseCreateCsr(&a, n, d, nnz, rp, ci, v, CUSPARSE_INDEX_64I,
                                            CUSPARSE_INDEX_64I, CUSPARSE_INDEX_BASE_ZERO,
                                            CUDA_R_32F));
    const float alpha = 1.0f;
    const float beta = 0.0f;
    void* work = nullptr;
    std::size_t work_size = 0;
    for (std::int64_t r0 = 0; r0 < n; r0 += chunk) {
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
  cusparseDestroySpMat(a);
  cusparseDestroy(handle);
  for (void* p : owned) ctx.deallocate(p);
}

}  // namespace minidl::svm::cuda
