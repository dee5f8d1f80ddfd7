#!/usr/bin/env bash
# Builds minidl and runs its whole test suite (the README's test command).
#
#   tools/test.sh          Release build, CUDA backend when the toolkit is present
#                          (GPU cases skip on a machine without a GPU), in build/
#   tools/test.sh --asan   CPU-only build with AddressSanitizer and
#                          UndefinedBehaviorSanitizer, in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

mode=release
case "${1:-}" in
  "") ;;
  --asan) mode=asan ;;
  *) echo "usage: tools/test.sh [--asan]" >&2; exit 2 ;;
esac

bash tools/setup.sh

jobs=$(nproc)
if [ "$mode" = release ]; then
  build=build
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
else
  build=build-asan
  san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINIDL_CUDA=OFF \
    -DCMAKE_CXX_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" -DCMAKE_SHARED_LINKER_FLAGS="$san"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
