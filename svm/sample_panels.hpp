// Dot products of a few query rows with a fixed set of samples, many times over:
// the kernel rows of one-vs-one sub-problems (svm/class_segments.hpp) are computed
// a prefetch batch at a time, 2 to 64 rows against the same 6,000 x 784 class.
// OpenBLAS's sgemm repacks the big operand on every call, which at such sizes
// costs more than the flops: against 6,000 x 784 samples on this project's 2-core
// EPYC (one thread), sgemm takes 3.5 / 5.2 / 8.0 / 10.9 ms for 2 / 16 / 32 / 64
// rows. SamplePanels packs the samples once, in panels of 16 rows stored k-major,
// and a 6 x 16 AVX2+FMA tile streams each panel once per call: 1.4 / 3.0 / 5.3 /
// 8.7 ms.
//
// Every product is a chain of fused multiply-adds over k in order, from 0: a
// value depends only on its two rows (not on how many rows came with it, nor on
// the panel or tile it fell in), and the AVX2 loop (entered where
// core/cpu_features.hpp says the CPU has AVX2 and FMA) and the portable loop
// (std::fma) give the same bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace minidl::svm {

class SamplePanels {
 public:
  static constexpr std::int64_t kPanelRows = 16;

  /// Packs x [n, d] (row-major CPU floats; not kept). n >= 0, d >= 1.
  SamplePanels(const float* x, std::int64_t n, std::int64_t d);

  std::int64_t rows() const { return n_; }
  std::int64_t cols() const { return d_; }
  /// Bytes of the packed copy (n rounded up to 16 rows, times d floats).
  std::size_t bytes() const { return panels_.size() * sizeof(float); }

  /// out[r][j] = sum_k q[r][k] x_j[k] for r < m, j < rows(): the m query rows of
  /// cols() floats at q[r], the results (rows() floats each, overwritten) at out[r].
  /// scratch: any vector (reused across calls; resized to m rounded up to 6, times
  /// cols()). portable: the std::fma loop even where AVX2 runs (for tests).
  void dots(const float* const* q, std::int64_t m, float* const* out, std::vector<float>& scratch,
            bool portable = false) const;

  /// The same chain for two rows a, b of d floats: sum_k a[k] b[k].
  static float dot(const float* a, const float* b, std::int64_t d);

 private:
  std::int64_t n_;
  std::int64_t d_;
  std::vector<float> panels_;  // panel p: [d][16], rows p*16 .. p*16+15 (zero past n)
};

}  // namespace minidl::svm
