#include "cpu_features.hpp"

namespace minidl {

namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
#endif
  return f;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool cpu_has_avx2_fma() {
  static const bool has = cpu_features().avx2 && cpu_features().fma;
  return has;
}

std::string cpu_features_string() {
  const CpuFeatures& f = cpu_features();
  std::string s;
  for (const auto& [on, name] : {std::pair{f.avx2, "avx2"}, std::pair{f.fma, "fma"},
                                 std::pair{f.avx512f, "avx512f"}}) {
    if (!on) continue;
    if (!s.empty()) s += ' ';
    s += name;
  }
  return s.empty() ? "baseline" : s;
}

}  // namespace minidl
