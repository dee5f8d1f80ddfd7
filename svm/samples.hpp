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

/// Auto's threshold. A sparse kernel row costs about nnz(row) x (non-zeros per
/// column) multiply-adds with scattered access; a GEMM row costs d, at several
/// times the rate: below a few percent non-zeros the sparse row wins, and a
/// high-dimensional set (10^6 features) cannot be dense at all.
inline constexpr double kSparseDensity = 0.05;

/// The samples in the storage `mode` asks for (Auto: by density). A sparse result
/// keeps the device the samples had; a dense one from CSR is a CPU tensor (or on
/// the CSR's device), ValueError when it would exceed max_dense_bytes.
Samples with_storage(const Samples& x, Storage mode,
                     std::size_t max_dense_bytes = std::size_t{1} << 34);

}  // namespace minidl::svm
