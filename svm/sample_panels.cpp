#include "sample_panels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/error.hpp"
#include "../kernels/elementwise_cpu.hpp"

#if MINIDL_CPU_AVX2
#include <immintrin.h>
#endif

namespace minidl::svm {

namespace {

constexpr std::int64_t kP = SamplePanels::kPanelRows;
constexpr std::int64_t kTileRows = 6;  // query rows per tile: 12 accumulators of 8 floats

// Query rows packed per tile of 6: [tile][k][6], rows past m zero.
void pack_queries(const float* const* q, std::int64_t m, std::int64_t d, std::vector<float>& qp) {
  const std::int64_t tiles = (m + kTileRows - 1) / kTileRows;
  qp.assign(static_cast<std::size_t>(tiles * d * kTileRows), 0.0f);
  for (std::int64_t r = 0; r < m; ++r) {
    float* dst = qp.data() + (r / kTileRows) * d * kTileRows + r % kTileRows;
    const float* src = q[r];
    for (std::int64_t k = 0; k < d; ++k) dst[k * kTileRows] = src[k];
  }
}

// Stores a tile row's 16 values at out_row + col, of which the first `cols` exist.
inline void store_cols(const float* tile_row, float* out_row, std::int64_t col, std::int64_t cols) {
  std::memcpy(out_row + col, tile_row, static_cast<std::size_t>(cols) * sizeof(float));
}

void dots_portable(const float* qp, std::int64_t m, const float* panels, std::int64_t n,
                   std::int64_t d, float* const* out) {
  float acc[kTileRows][kP];
  for (std::int64_t p = 0; p * kP < n; ++p) {
    const float* xp = panels + p * d * kP;
    const std::int64_t cols = std::min(kP, n - p * kP);
    for (std::int64_t r0 = 0; r0 < m; r0 += kTileRows) {
      const float* tq = qp + (r0 / kTileRows) * d * kTileRows;
      const std::int64_t mr = std::min(kTileRows, m - r0);
      for (auto& row : acc) std::fill(row, row + kP, 0.0f);
      for (std::int64_t k = 0; k < d; ++k)
        for (std::int64_t r = 0; r < mr; ++r)
          for (std::int64_t j = 0; j < kP; ++j)
            acc[r][j] = std::fma(tq[k * kTileRows + r], xp[k * kP + j], acc[r][j]);
      for (std::int64_t r = 0; r < mr; ++r) store_cols(acc[r], out[r0 + r], p * kP, cols);
    }
  }
}

#if MINIDL_CPU_AVX2
// One 6 x 16 tile (MR <= 6 rows used), stored whole at dst[r] + col: the
// accumulators stay in registers over k (a partial store here would make GCC keep
// them in memory; the caller passes a buffer for the last, partial panel).
template <int MR>
MINIDL_TARGET_AVX2 __attribute__((always_inline)) inline void tile_avx2(const float* tq,
                                                                        const float* xp,
                                                                        std::int64_t d,
                                                                        float* const* dst,
                                                                        std::int64_t col) {
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (std::int64_t k = 0; k < d; ++k) {
    const __m256 x0 = _mm256_loadu_ps(xp + k * kP);
    const __m256 x1 = _mm256_loadu_ps(xp + k * kP + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 b = _mm256_broadcast_ss(tq + k * kTileRows + r);
      acc[r][0] = _mm256_fmadd_ps(b, x0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(b, x1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_ps(dst[r] + col, acc[r][0]);
    _mm256_storeu_ps(dst[r] + col + 8, acc[r][1]);
  }
}

MINIDL_TARGET_AVX2 void dots_avx2(const float* qp, std::int64_t m, const float* panels,
                                  std::int64_t n, std::int64_t d, float* const* out) {
  float partial[kTileRows][kP];
  float* const partial_rows[kTileRows] = {partial[0], partial[1], partial[2],
                                          partial[3], partial[4], partial[5]};
  for (std::int64_t p = 0; p * kP < n; ++p) {
    const float* xp = panels + p * d * kP;
    const std::int64_t col = p * kP;
    const std::int64_t cols = std::min(kP, n - col);
    for (std::int64_t r0 = 0; r0 < m; r0 += kTileRows) {
      const float* tq = qp + (r0 / kTileRows) * d * kTileRows;
      const std::int64_t mr = std::min(kTileRows, m - r0);
      float* const* dst = cols == kP ? out + r0 : partial_rows;
      const std::int64_t at = cols == kP ? col : 0;
      switch (mr) {
        case 6: tile_avx2<6>(tq, xp, d, dst, at); break;
        case 5: tile_avx2<5>(tq, xp, d, dst, at); break;
        case 4: tile_avx2<4>(tq, xp, d, dst, at); break;
        case 3: tile_avx2<3>(tq, xp, d, dst, at); break;
        case 2: tile_avx2<2>(tq, xp, d, dst, at); break;
        default: tile_avx2<1>(tq, xp, d, dst, at); break;
      }
      if (cols != kP)
        for (std::int64_t r = 0; r < mr; ++r) store_cols(partial[r], out[r0 + r], col, cols);
    }
  }
}
#endif

}  // namespace

SamplePanels::SamplePanels(const float* x, std::int64_t n, std::int64_t d) : n_(n), d_(d) {
  MINIDL_CHECK(n >= 0 && d >= 1, ValueError, "SamplePanels: ", n, " x ", d, " samples");
  const std::int64_t panels = (n + kP - 1) / kP;
  panels_.assign(static_cast<std::size_t>(panels * d * kP), 0.0f);
  for (std::int64_t i = 0; i < n; ++i) {
    float* dst = panels_.data() + (i / kP) * d * kP + i % kP;
    const float* src = x + i * d;
    for (std::int64_t k = 0; k < d; ++k) dst[k * kP] = src[k];
  }
}

void SamplePanels::dots(const float* const* q, std::int64_t m, float* const* out,
                        std::vector<float>& scratch, bool portable) const {
  (void)portable;
  if (m <= 0 || n_ == 0) return;
  pack_queries(q, m, d_, scratch);
#if MINIDL_CPU_AVX2
  if (!portable && cpu_has_avx2_fma()) {
    dots_avx2(scratch.data(), m, panels_.data(), n_, d_, out);
    return;
  }
#endif
  dots_portable(scratch.data(), m, panels_.data(), n_, d_, out);
}

float SamplePanels::dot(const float* a, const float* b, std::int64_t d) {
  float acc = 0.0f;
  for (std::int64_t k = 0; k < d; ++k) acc = std::fma(a[k], b[k], acc);
  return acc;
}

}  // namespace minidl::svm
