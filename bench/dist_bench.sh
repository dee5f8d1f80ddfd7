#!/usr/bin/env bash
# Data-parallel training on this machine: the MLP and the CNN at 1 process x T
# threads against T processes x 1 thread (T = the cores, 2 on the CI machine),
# the communication's share of the step, and the MPI all-reduce bandwidth for
# 1 .. 64 MB buffers at T processes. Uses build/bin/minidl_bench_dist (build it
# first: cmake --build build --target minidl_bench_dist).
#
#   bench/dist_bench.sh                # everything
#   bench/dist_bench.sh allreduce      # only the bandwidth
#   bench/dist_bench.sh train          # only the training comparison
#   NP=4 bench/dist_bench.sh           # another process count
# What the numbers mean: bench/dist_bench.cpp's header.
set -euo pipefail
cd "$(dirname "$0")/.."

exe=build/bin/minidl_bench_dist
[ -x "$exe" ] || { echo "build $exe first (cmake --build build --target minidl_bench_dist)" >&2; exit 2; }
np=${NP:-$(nproc)}
what=${1:-all}
mpirun=(mpirun --oversubscribe --bind-to none -np "$np")
# mpirun refuses root without these (CI and containers run as root).
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export MINIDL_DISABLE_CUDA=1 OMP_WAIT_POLICY=PASSIVE

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$what" = all ] || [ "$what" = train ]; then
  for model in mlp cnn; do
    echo "## $model: 1 process x $np threads"
    OMP_NUM_THREADS=$np "$exe" train --model "$model"
    echo "## $model: $np processes x 1 thread"
    OMP_NUM_THREADS=1 "${mpirun[@]}" -x OMP_NUM_THREADS=1 "$exe" train --model "$model"
  done
fi
if [ "$what" = all ] || [ "$what" = allreduce ]; then
  echo "## all_reduce: $np processes x 1 thread"
  OMP_NUM_THREADS=1 "${mpirun[@]}" -x OMP_NUM_THREADS=1 "$exe" allreduce --min-mb 1 --max-mb 64
fi
