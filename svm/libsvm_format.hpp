// LIBSVM's text data format (Chang & Lin, "LIBSVM: a library for support vector
// machines", and the README of libsvm-tools): one sample per line,
//   <label> <index>:<value> <index>:<value> ...
// with 1-based feature indices in strictly increasing order; features left out
// are 0. minidl reads it into a dense float32 matrix (parse_libsvm / read_libsvm)
// or keeps it sparse, in CSR form (parse_libsvm_csr / read_libsvm_csr; svm/csr_matrix.hpp),
// which SVC trains on without ever forming the dense n x d matrix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>

#include "../core/tensor.hpp"
#include "csr_matrix.hpp"

namespace minidl::svm {

/// How the readers cut the text for parallel parsing. The text is read in blocks of
/// about block_bytes (a line longer than that is read whole), each block's whole lines
/// are cut at line boundaries into chunks parsed in parallel (core/parallel.hpp), and
/// the rows are appended in order. The data read, and the error thrown for bad input
/// (always the first bad token of the input: the line and column a serial reader
/// would report), do not depend on these settings; tests vary them.
struct LibsvmReadTuning {
  std::size_t block_bytes = std::size_t{64} << 20;
  /// Chunks per block; 0: by size (about 1 MiB each, at most 8 per CPU thread).
  std::int64_t chunks = 0;
};

/// The most bytes a reader turns sparse LIBSVM text into as one dense float32
/// matrix (1 GiB: Fashion-MNIST's 60,000 x 784 takes 0.18 GiB). Without a bound a
/// 22-byte line "1 1000000000:1" would allocate 4 GB. Readers take a
/// max_dense_bytes argument to raise it deliberately.
inline constexpr std::size_t kMaxDenseBytes = std::size_t{1} << 30;

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
/// "3", "2.0" are accepted. Throws IoError "<name>:<line>:<column>: ..." (from 1;
/// the column in bytes, at the start of the token at fault, or of its value after
/// the ':' for a bad value) for a label that is not a number or not an integer in
/// int32's range, a token without ':', an index that is not an integer >= 1, does
/// not increase or exceeds num_features, a value that is not a number or is NaN /
/// infinite / beyond float32, a NUL byte, and an index that would make one dense
/// row larger than `max_dense_bytes`; IoError "<name>: ..." for a whole matrix
/// beyond max_dense_bytes (it says how large and the line of the largest index),
/// an input with no samples and (instead of std::bad_alloc) when memory runs out.
/// These are the inputs svm-train rejects ("Wrong input format at line N") and
/// those it accepts and then crashes or misbehaves on (index 0, NaN, a huge index).
/// Long tokens are cut short in messages.
/// Speed: numbers by std::from_chars, the text read in large blocks and parsed in
/// parallel chunks (LibsvmReadTuning); hundreds of MB/s on two cores.
LibsvmData parse_libsvm(std::istream& in, const std::string& name, std::int64_t num_features = 0,
                        std::size_t max_dense_bytes = kMaxDenseBytes,
                        const LibsvmReadTuning& tuning = {});

/// parse_libsvm on the file at `path`; IoError (with the system's reason) when
/// it cannot be opened.
LibsvmData read_libsvm(const std::string& path, std::int64_t num_features = 0,
                       std::size_t max_dense_bytes = kMaxDenseBytes);

/// A data set kept sparse: x in CSR form (cols = the number of features) and y
/// int32 [n] (class labels).
struct LibsvmCsrData {
  CsrMatrix x;
  Tensor y;
};

/// parse_libsvm without the dense matrix: the same syntax and the same errors
/// ("<name>:<line>:<column>: ..."), except that no dense size limit applies; a feature index
/// above 2147483647 (int32 column indices) is an IoError. Index i becomes column
/// i - 1; x.cols is num_features when > 0, else the largest index seen. Memory is
/// proportional to the non-zeros (8 bytes each, plus 8 per row).
LibsvmCsrData parse_libsvm_csr(std::istream& in, const std::string& name,
                              std::int64_t num_features = 0, const LibsvmReadTuning& tuning = {});
/// parse_libsvm_csr on the file at `path`; IoError when it cannot be opened.
LibsvmCsrData read_libsvm_csr(const std::string& path, std::int64_t num_features = 0);

/// Writes x (float32 [n, d], any device) and y (int32 [n]) in LIBSVM format:
/// zero features are left out, values printed with 9 significant digits so that
/// reading the file back (minidl or LIBSVM) gives the same float32 values (the bytes
/// of printf's "%.9g", formatted in parallel: io/text_writer.hpp).
/// Replaces `path` atomically (io/atomic_file.hpp: a failed write keeps the old
/// file; a non-regular `path` is refused). Throws ShapeError / DTypeError for bad
/// operands, IoError naming the path and the system's reason when the file cannot
/// be written.
void write_libsvm(const std::string& path, const Tensor& x, const Tensor& y);

}  // namespace minidl::svm
