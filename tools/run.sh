#!/usr/bin/env bash
# The README's main job: builds minidl (Release) and trains the MLP
# (784-256-128-10, Adam, 10 epochs) on Fashion-MNIST with minidl-train, on the
# GPU when there is one, else on the CPU. Extra arguments go to minidl-train
# (see `build/bin/minidl-train --help`); outputs land in minidl-train-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target minidl-train minidl-info
./build/bin/minidl-info | head -n 6
exec ./build/bin/minidl-train "$@"
