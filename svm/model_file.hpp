// LIBSVM's model-file format (svm.cpp: svm_save_model / svm_load_model), for
// C-SVC one-vs-one models: a text header
//   svm_type c_svc / kernel_type rbf / [degree d] / [gamma g] / [coef0 r] /
//   nr_class k / total_sv n / rho r_1 ... r_{k(k-1)/2} / label l_1 ... l_k /
//   nr_sv n_1 ... n_k / SV
// then one line per support vector (grouped by class): its k-1 dual coefficients
// (LIBSVM's sv_coef layout, see SVC::dual_coef) and its features as index:value.
// A model minidl saves is read by LIBSVM's svm-predict; a LIBSVM model minidl
// loads predicts what svm-predict predicts.
#pragma once

#include <cstdint>
#include <string>

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
/// Throws IoError "<path>:<line>: ..." for an unknown or missing header key, an
/// svm_type other than c_svc, a "precomputed" kernel, counts that do not add up,
/// a malformed support-vector line; and when the file cannot be opened.
SVC load_libsvm_model(const std::string& path, std::int64_t num_features = 0);

}  // namespace minidl::svm
