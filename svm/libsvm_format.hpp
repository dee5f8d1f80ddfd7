// LIBSVM's text data format (Chang & Lin, "LIBSVM: a library for support vector
// machines", and the README of libsvm-tools): one sample per line,
//   <label> <index>:<value> <index>:<value> ...
// with 1-based feature indices in strictly increasing order; features left out
// are 0. minidl reads it into a dense float32 matrix, because the solver works on
// dense kernel matrices built by GEMM.
#pragma once

#include <cstdint>
#include <istream>
#include <string>

#include "../core/tensor.hpp"

namespace minidl::svm {

/// A data set: x float32 [n, d] on the CPU (dense; absent features are 0) and
/// y int32 [n] (class labels).
struct LibsvmData {
  Tensor x;
  Tensor y;
};

/// Parses LIBSVM text from `in`; `name` (a path) starts every error message.
/// num_features = 0: d is the largest index seen; num_features > 0: d is that, and
/// an index above it is an error (to read a test set with the training set's d).
/// Blank lines are skipped. Labels must be integers (classification): "+1", "-1",
/// "3", "2.0" are accepted. Throws IoError "<name>:<line>: ..." for a label that
/// is not an integer, a token without ':', an index that is not an integer >= 1 or
/// does not increase, a value that is not a number or is NaN / infinite; and for an
/// input with no samples.
LibsvmData parse_libsvm(std::istream& in, const std::string& name, std::int64_t num_features = 0);

/// parse_libsvm on the file at `path`; IoError when it cannot be opened.
LibsvmData read_libsvm(const std::string& path, std::int64_t num_features = 0);

/// Writes x (float32 [n, d], any device) and y (int32 [n]) in LIBSVM format:
/// zero features are left out, values printed with 9 significant digits so that
/// reading the file back (minidl or LIBSVM) gives the same float32 values.
/// Replaces `path` atomically (io/atomic_file.hpp: a failed write keeps the old
/// file; a non-regular `path` is refused). Throws ShapeError / DTypeError for bad
/// operands, IoError naming the path and the system's reason when the file cannot
/// be written.
void write_libsvm(const std::string& path, const Tensor& x, const Tensor& y);

}  // namespace minidl::svm
