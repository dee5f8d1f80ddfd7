#include "samples.hpp"

#include <utility>

namespace minidl::svm {

Samples::Samples(Tensor x) : dense_(std::move(x)) {}

Samples::Samples(const CsrMatrix& x, Device device)
    : csr_(std::make_shared<const CsrMatrix>(x)), device_(device) {}

Samples::Samples(std::shared_ptr<const CsrMatrix> x, Device device)
    : csr_(std::move(x)), device_(device) {
  MINIDL_CHECK(csr_ != nullptr, ValueError, "Samples: null CSR matrix");
}

std::int64_t Samples::rows() const {
  if (sparse()) return csr_->rows;
  return dense_.defined() && dense_.rank() >= 1 ? dense_.size(0) : 0;
}

std::int64_t Samples::cols() const {
  if (sparse()) return csr_->cols;
  return dense_.defined() && dense_.rank() == 2 ? dense_.size(1) : 0;
}

const Tensor& Samples::dense() const {
  MINIDL_CHECK(!sparse(), ValueError, "Samples::dense: the samples are sparse (",
               description(), ")");
  return dense_;
}

const CsrMatrix& Samples::csr() const {
  MINIDL_CHECK(sparse(), ValueError, "Samples::csr: the samples are dense (", description(), ")");
  return *csr_;
}

std::shared_ptr<const CsrMatrix> Samples::csr_ptr() const {
  (void)csr();  // the check
  return csr_;
}

std::string Samples::description() const {
  if (sparse())
    return detail::concat("CSR [", csr_->rows, ", ", csr_->cols, "], ", csr_->nnz(),
                          " non-zeros (density ", csr_->density(), ") on ", device_.str());
  return dense_.defined() ? dense_.description() : std::string("undefined samples");
}

Samples with_storage(const Samples& x, Storage mode, std::size_t max_dense_bytes) {
  // Auto keeps CSR sparse below kSparseDensity, and also when its dense form would
  // take more than 1 GiB (a high-dimensional set is never expanded unasked).
  const bool want_sparse =
      mode == Storage::Sparse ||
      (mode == Storage::Auto && x.sparse() &&
       (x.csr().density() < kSparseDensity ||
        double(x.csr().rows) * double(x.csr().cols) * 4.0 > double(std::size_t{1} << 30)));
  if (want_sparse == x.sparse()) return x;
  if (want_sparse) return Samples(std::make_shared<const CsrMatrix>(csr_from_dense(x.dense())),
                                  x.device());
  return Samples(csr_to_dense(x.csr(), max_dense_bytes).to(x.device()));
}

}  // namespace minidl::svm
