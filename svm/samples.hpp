// Samples: what an SVM trains and predicts on, dense or sparse.
//  - dense: a float32 [n, d] tensor on the CPU or a GPU; kernel rows by GEMM;
//  - sparse: a CsrMatrix (svm/csr_matrix.hpp) in host memory, with the device
//    its kernel rows are computed on (sparse dot products on the CPU, cuSPARSE on
//    a GPU); never expanded to the dense n x d matrix.
// choose_storage picks between them from the density when the caller has both
// forms available (SvcOptions::storage).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "../core/tensor.hpp"
#include "csr_matrix.hpp"

namespace minidl::svm {

class Samples {
 public:
  Samples() = default;
  /// Dense samples: x float32 [n, d] on its device (implicit: a Tensor is Samples).
  Samples(Tensor x);  // NOLINT(google-explicit-constructor)
  /// Sparse samples (copied; pass a shared_ptr to share them), kernel rows on `device`.
  Samples(const CsrMatrix& x, Device device = Device::cpu());  // NOLINT
  Samples(std::shared_ptr<const CsrMatrix> x, Device device = Device::cpu());

  bool defined() const { return dense_.defined() || csr_ != nullptr; }
  bool sparse() const { return csr_ != nullptr; }
  std::int64_t rows() const;
  std::int64_t cols() const;
  Device device() const { return sparse() ? device_ : dense_.device(); }
  /// The dense tensor; ValueError for sparse samples.
  const Tensor& dense() const;
  /// The CSR matrix; ValueError for dense samples.
  const CsrMatrix& csr() const;
  /// The shared CSR matrix (to hold it without copying); ValueError for dense samples.
  std::shared_ptr<const CsrMatrix> csr_ptr() const;
  /// "float32 [n, d] on cpu" / "CSR [n, d], nnz N (density D) on cuda:0".
  std::string description() const;

 private:
  Tensor dense_;
  std::shared_ptr<const CsrMatrix> csr_;
  Device device_ = Device::cpu();
};

/// How SVC keeps the training data (SvcOptions::storage).
enum class Storage {
  Auto,    ///< sparse samples stay sparse when density < kSparseDensity or when
           ///< dense they would take over 1 GiB; else dense
  Dense,   ///< always dense (sparse samples are expanded: n x d floats)
  Sparse,  ///< always CSR (dense samples are compressed)
};

/// Auto's threshold, measured (bench/svm_sparse_bench.cpp, this project's 2-core
/// x86 CPU with OpenBLAS): a block of 64 RBF kernel rows against 8192 samples,
/// sparse (SparseKernel) vs dense (kernel_matrix: sgemm + map), rows per second:
///   d = 784:  sparse 15.1k at 10%, 11.3k at 15%, 7.2k at 20%, 3.1k at 30%;
///             dense 5.5k-7.4k at any density
///   d = 4096: sparse 3.3k at 10%, 1.43k at 15%, 1.0k at 20%, 0.5k at 30%;
///             dense 0.9k-1.5k
/// The dense cost is flat; the sparse one grows with the density's square (each of
/// a row's p d non-zeros walks a column list of p n entries), crossing the dense
/// one between 15% and 20% at both widths. Below 15% sparse rows are at least as
/// fast (8-10x at 5%), and hold nnz instead of n x d values.
inline constexpr double kSparseDensity = 0.15;

/// The samples in the storage `mode` asks for (Auto: by density). A sparse result
/// keeps the device the samples had; a dense one from CSR is a CPU tensor (or on
/// the CSR's device), ValueError when it would exceed max_dense_bytes.
Samples with_storage(const Samples& x, Storage mode,
                     std::size_t max_dense_bytes = std::size_t{1} << 34);

}  // namespace minidl::svm
