// LIBSVM's model-file format (svm.cpp: svm_save_model / svm_load_model), for
// C-SVC one-vs-one models: a text header
//   svm_type c_svc / kernel_type rbf / [degree d] / [gamma g] / [coef0 r] /
//   nr_class k / total_sv n / rho r_1 ... r_{k(k-1)/2} / label l_1 ... l_k /
//   nr_sv n_1 ... n_k / SV
// then one line per support vector (grouped by class): its k-1 dual coefficients
// (LIBSVM's sv_coef layout, see SVC::dual_coef) and its features as index:value.
// A model minidl saves is read by LIBSVM's svm-predict; a LIBSVM model minidl
// loads predicts what svm-predict predicts on features of moderate magnitude (scaled
// as LIBSVM's guide recommends, svm-scale). minidl computes kernels and decision values
// in float32 where LIBSVM uses double: on unscaled features of large magnitude (years,
// identifiers) the RBF distance ||x||^2 + ||x'||^2 - 2 x.x' and large +-coef * K terms
// cancel, and predictions can differ (a known limitation, not yet fixed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "libsvm_format.hpp"
#include "svc.hpp"

namespace minidl::svm {

/// Writes a fitted one-vs-one SVC (ValueError for one-vs-rest or unfitted) to
/// `path`: coefficients and rho with 17 significant digits, feature values with
/// 9 (float32 exact). Atomic (io/atomic_file.hpp): a failed save (a full disk)
/// leaves the previous file at `path` as it was; a `path` that exists and is not
/// a regular file is refused. IoError naming the path and the system's reason.
void save_libsvm_model(const std::string& path, const SVC& model);

/// Reads a LIBSVM C-SVC model. The support vectors get
/// d = max(largest feature index, num_features) columns (pass the data's feature
/// count when the data has trailing features no support vector uses).
///
/// Nothing a file declares is trusted before it is checked: counts are parsed
/// without truncation into their range (nr_class in [2, what the file can
/// hold], total_sv <= the bytes that follow the SV line / (2 (nr_class - 1)),
/// each nr_sv in [0, total_sv] adding up to total_sv, labels distinct int32,
/// degree an int >= 0), header keys appear once, feature indices are >= 1 and
/// increase, and the dense float32 [total_sv, d] support-vector matrix and the
/// [total_sv, pairs] coefficients must each fit in `max_dense_bytes` (default
/// kMaxDenseBytes, 1 GiB): a 120-byte file cannot make minidl allocate gigabytes.
///
/// Throws IoError "<path>:<line>: ..." for an unknown, repeated or missing header
/// key, an svm_type other than c_svc, a "precomputed" kernel, a count out of its
/// range or counts that do not add up, a malformed support-vector line, a width
/// over the limit; IoError when the file cannot be opened or is not a regular
/// file, and (instead of std::bad_alloc) when the machine runs out of memory.
/// ValueError for num_features < 0 or one that alone exceeds the limit.
///
/// `storage` (samples.hpp): Dense (the default) gives dense support vectors under the
/// limits above. Auto and Sparse read them as CSR (feature indices up to
/// 2147483647, memory per non-zero, no dense width limit); Auto then makes them
/// dense when their density is at least kSparseDensity and the dense matrix fits
/// max_dense_bytes, Sparse never (SVC::sparse_model()). num_features must then be
/// at most 2147483647.
SVC load_libsvm_model(const std::string& path, std::int64_t num_features = 0,
                      std::size_t max_dense_bytes = kMaxDenseBytes,
                      Storage storage = Storage::Dense);

}  // namespace minidl::svm
