#!/usr/bin/env bash
# The README's main job: builds minidl (Release) and runs minidl-info, which
# prints what minidl sees (backends, GPUs, library versions) and runs a tensor
# round trip CPU -> GPU -> CPU where a GPU exists. The training issues replace
# it with the Fashion-MNIST training program.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target minidl-info
./build/bin/minidl-info "$@"
