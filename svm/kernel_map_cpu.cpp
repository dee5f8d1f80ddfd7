#include "kernel_map_cpu.hpp"

#include "../kernels/elementwise_cpu.hpp"

namespace minidl::svm {

namespace {

void map_baseline(float* k, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                  const float* a_norms, const float* b_norms, const KernelMap& map) {
  for (std::int64_t i = 0; i < rows; ++i) {
    float* row = k + i * ld;
    const float ni = a_norms != nullptr ? a_norms[i] : 0.0f;
    for (std::int64_t j = 0; j < cols; ++j)
      row[j] = map(row[j], ni, b_norms != nullptr ? b_norms[j] : 0.0f);
  }
}

#if MINIDL_CPU_AVX2
MINIDL_TARGET_AVX2 void rbf_avx2(float* k, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                 const float* a_norms, const float* b_norms, float gamma) {
  for (std::int64_t i = 0; i < rows; ++i) {
    float* row = k + i * ld;
    const float ni = a_norms[i];
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) row[j] = KernelMap::rbf(row[j], ni, b_norms[j], gamma);
  }
}
#endif

}  // namespace

void map_kernel_block(float* k, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                      const float* a_norms, const float* b_norms, const KernelMap& map) {
  if (map.type == KernelType::Linear) return;
#if MINIDL_CPU_AVX2
  if (map.type == KernelType::Rbf && cpu_detail::cpu_has_avx2_fma())
    return rbf_avx2(k, rows, cols, ld, a_norms, b_norms, map.gamma);
#endif
  map_baseline(k, rows, cols, ld, a_norms, b_norms, map);
}

}  // namespace minidl::svm
