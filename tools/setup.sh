#!/usr/bin/env bash
# Installs the Debian packages minidl needs to build, test and run, if any is
# missing. The CUDA toolkit is not a Debian package: when /usr/local/cuda is
# present the build uses it, otherwise it builds the CPU backend only.
#
#   tools/setup.sh           what the build, the tests and minidl-train need
#   tools/setup.sh --peers   also the benchmarks' peers (bench/peers/): PyTorch and
#                            scikit-learn, from Debian (python3-torch, python3-sklearn)
#   tools/setup.sh --fuzz    also clang 14 with libFuzzer and the sanitizer runtimes
#                            (clang-14, libclang-rt-14-dev) and LLVM's OpenMP (libomp-14-dev)
#                            for tools/fuzz.sh
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache pkg-config
  libopenblas-openmp-dev zlib1g-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libbenchmark-dev
  dataset-fashion-mnist libsvm-tools
)
for arg in "$@"; do
  case "$arg" in
    --peers) packages+=(python3-torch python3-sklearn) ;;
    --fuzz) packages+=(clang-14 libclang-rt-14-dev libomp-14-dev) ;;
    *) echo "usage: tools/setup.sh [--peers] [--fuzz]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "minidl setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "minidl setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
