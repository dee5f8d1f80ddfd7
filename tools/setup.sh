#!/usr/bin/env bash
# Installs the Debian packages minidl needs to build, test and run, if any is
# missing. The CUDA toolkit is not a Debian package: when /usr/local/cuda is
# present the build uses it, otherwise it builds the CPU backend only.
# Then creates the project's Python virtual environment .venv (git-ignored) with
# ONNX Runtime and NumPy from the Python Package Index, pinned below: the ONNX
# export test (tests/io/onnx_export_test.cpp) runs exported models in it.
#
#   tools/setup.sh           what the build, the tests and minidl-train need
#   tools/setup.sh --peers   also the benchmarks' peers (bench/peers/): into .venv PyTorch 2.x,
#                            scikit-learn and scikit-learn-intelex (pinned below) from the
#                            Python Package Index, and Debian's PyTorch 1.13 and scikit-learn
#                            (python3-torch, python3-sklearn) for the system python3, the
#                            fallback where the index cannot be reached (then .venv keeps
#                            only what it had, and the peers re-execute with /usr/bin/python3)
#                            and the second torch every PyTorch ratio is reported against.
#                            The index's Linux torch wheel is the CUDA build: torch 2.15.0
#                            with its nvidia-*, cuda-* and triton wheels is about 3.0 GB to
#                            download (torch 539 MB, cuDNN 519 MB, cuBLAS 405 MB, triton
#                            286 MB, ...) and ~5.5 GB installed; PyTorch's CPU-only wheels
#                            are not on that index. torch.compile on the CPU also needs
#                            Python's headers (python3-dev) and g++.
#   tools/setup.sh --fuzz    also clang 14 with libFuzzer and the sanitizer runtimes
#                            (clang-14, libclang-rt-14-dev) and LLVM's OpenMP (libomp-14-dev)
#                            for tools/fuzz.sh
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache pkg-config
  libopenblas-openmp-dev zlib1g-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libbenchmark-dev
  dataset-fashion-mnist libsvm-tools
  libonnx-dev libprotobuf-dev python3-venv
  libopenmpi-dev openmpi-bin
  libdnnl-dev ocl-icd-opencl-dev xz-utils
)
venv_packages=(onnxruntime==1.32.0 numpy==2.4.6)
peer_packages=(torch==2.15.0 scikit-learn==1.9.1 scikit-learn-intelex==2026.2.0)
peers=0
for arg in "$@"; do
  case "$arg" in
    --peers) peers=1; packages+=(python3-torch python3-sklearn python3-dev) ;;
    --fuzz) packages+=(clang-14 libclang-rt-14-dev libomp-14-dev) ;;
    *) echo "usage: tools/setup.sh [--peers] [--fuzz]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "minidl setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "minidl setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The virtual environment, once: a later run only checks that it still imports.
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
if ! "$venv/bin/python" -c "import onnxruntime, numpy" 2>/dev/null; then
  echo "minidl setup: creating $venv with ${venv_packages[*]}"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${venv_packages[@]}"
  "$venv/bin/python" -c "import onnxruntime, numpy"
fi

# The peers' PyTorch 2.x, scikit-learn and scikit-learn-intelex, once. A failure here (no
# index, no disk) is not fatal: the peers then run on Debian's torch and scikit-learn.
if [ "$peers" = 1 ] && ! "$venv/bin/python" -c "import torch, sklearn, sklearnex" 2>/dev/null; then
  echo "minidl setup: installing ${peer_packages[*]} into $venv (about 3 GB to download)"
  if "$venv/bin/python" -m pip install -q --disable-pip-version-check "${peer_packages[@]}" &&
      "$venv/bin/python" -c "import torch, sklearn, sklearnex"; then
    "$venv/bin/python" -c "import torch; print('minidl setup: .venv torch', torch.__version__)"
  else
    echo "minidl setup: could not install ${peer_packages[*]} into $venv;" \
      "the peers fall back to Debian's python3-torch / python3-sklearn (/usr/bin/python3)" >&2
  fi
fi
