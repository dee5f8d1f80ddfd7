// Fuzz target "proc_stat": core/parallel's reader of /proc/stat's per-CPU lines (the busy
// machine's width). The kernel writes that file, but a parser is a parser: any bytes must
// give sums that make sense, and two readings must compare to -1 or a CPU count in range.
#include <algorithm>
#include <string_view>
#include <vector>

#include "../../core/parallel.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

int proc_stat(const std::uint8_t* data, std::size_t size) {
  // The first byte picks which of CPUs 0-7 this process "may run on"; CPU 1000 always.
  std::vector<bool> cpus(1001, false);
  const std::uint8_t pick = size > 0 ? data[0] : 0xFF;
  for (int c = 0; c < 8; ++c) cpus[static_cast<std::size_t>(c)] = (pick >> c) & 1;
  cpus[1000] = true;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Two readings: the text's first half and all of it.
  const std::string_view half = text.substr(0, text.size() / 2);
  const parallel_detail::CpuTicks a = parallel_detail::cpu_ticks(half, cpus);
  const parallel_detail::CpuTicks b = parallel_detail::cpu_ticks(text, cpus);
  for (const parallel_detail::CpuTicks& t : {a, b}) {
    if (t.cpus < 0 || t.busy < 0 || t.busy > t.total)
      violated("cpu_ticks: busy " + std::to_string(t.busy) + " total " + std::to_string(t.total) +
               " cpus " + std::to_string(t.cpus));
    if (t.cpus == 0 && (t.busy != 0 || t.total != 0)) violated("cpu_ticks: ticks of no CPU");
    if (t.cpus > std::count(text.begin(), text.end(), '\n') + 1)
      violated("cpu_ticks: more CPUs than lines");
  }
  for (double own : {0.0, 0.5, 3.0}) {
    const double others = parallel_detail::other_busy_cpus(a, b, own);
    if (!(others == -1.0 || (others >= 0.0 && others <= b.cpus)))
      violated("other_busy_cpus: " + std::to_string(others) + " of " + std::to_string(b.cpus));
  }
  return 0;
}

}  // namespace minidl::fuzz
