#!/usr/bin/env bash
# Builds minidl's libFuzzer targets (fuzz/) with clang and runs each for a fixed
# time; fails when any of them finds a crash, a sanitizer report, an uncaught
# non-minidl exception, a broken invariant, a timeout or an allocation beyond
# the limits below.
#
#   tools/fuzz.sh [seconds] [target...]   default: 60 s per target, every target
#
# Build: build-fuzz/ (CPU only; clang-14, -fsanitize=fuzzer-no-link,address,undefined
# on the library, -fsanitize=fuzzer on each target). Each run starts from the
# committed seeds (fuzz/corpus/<target>/) and fuzz/regressions/<target>/, and
# grows a working corpus in build-fuzz/corpus/<target>/ (kept between runs,
# never committed). A finding is written to build-fuzz/findings/<target>/; once
# fixed, copy it to fuzz/regressions/<target>/ so tests/fuzz replays it.
# Prints, per target: executions, executions per second, coverage (libFuzzer's
# "cov", edges reached) and features ("ft").
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
case "$seconds" in
  ''|*[!0-9]*) echo "usage: tools/fuzz.sh [seconds] [target...]" >&2; exit 2 ;;
esac
all_targets=(idx safetensors libsvm_data libsvm_model checkpoint proc_stat trainer_resume command_line)
targets=("${@:-${all_targets[@]}}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "tools/fuzz.sh: unknown target $t (${all_targets[*]})" >&2; exit 2; }
done

bash tools/setup.sh --fuzz

cxx=$(command -v clang++-14 || command -v clang++)
build=build-fuzz
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# clang's notes on OpenBLAS's C99 header and on "omp simd" loops it leaves scalar
# under the sanitizers are noise here.
quiet="-Wno-c99-extensions -Wno-pass-failed"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINIDL_CUDA=OFF \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DMINIDL_BUILD_TESTS=OFF -DMINIDL_BUILD_BENCHMARKS=OFF -DMINIDL_BUILD_APPS=ON \
  -DMINIDL_BUILD_FUZZERS=ON \
  -DCMAKE_CXX_FLAGS="$san $quiet" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" -j "$(nproc)" --target $(printf 'minidl_fuzz_%s ' "${targets[@]}")

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# One thread for OpenMP and OpenBLAS: the inputs are tiny and libFuzzer runs one at a time.
export OMP_NUM_THREADS=1

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  log="$build/fuzz-$t.log"
  echo "== fuzz $t: $seconds s"
  # -rss_limit_mb / -malloc_limit_mb: a tiny input must not take gigabytes; the
  # targets cap the readers at 16 MiB (fuzz/targets.hpp), so 512 MB is ample.
  set +e
  "$build/bin/minidl_fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
    -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 -max_len=8192 \
    -artifact_prefix="$findings/" "$corpus" "fuzz/corpus/$t" \
    $( [ -d "fuzz/regressions/$t" ] && echo "fuzz/regressions/$t" ) >"$log" 2>&1
  rc=$?
  set -e
  # A run that fails on a seed prints no "cov:" line: the greps find nothing, which under
  # pipefail must not end the script before it reports the finding.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  ft=$( (grep -o 'ft: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  corpus_size=$(find "$corpus" -type f | wc -l)
  line=$(printf '%-13s %10s execs %8s exec/s  cov %6s  ft %7s  corpus %5s' "$t" "${execs:-?}" \
    "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus_size")
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    line="$line  FINDING (exit $rc; see $log and $findings/)"
    grep -E "^==[0-9]+==ERROR|runtime error|invariant violated|uncaught|deadly signal|out-of-memory|timeout" "$log" | head -5 || true
  fi
  summary+=("$line")
done

echo
echo "fuzz summary ($seconds s per target):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "tools/fuzz.sh: findings in ${failed[*]}" >&2
  exit 1
fi
