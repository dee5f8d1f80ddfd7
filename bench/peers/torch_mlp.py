#!/usr/bin/env python3
# minidl-bench-area: train
"""PyTorch peer of minidl_bench_train: the same MLP training step, timed the same way.

Model and step (as bench/train_bench.cpp and apps/train build them):
  784-256-128-10 MLP, nn.Linear + ReLU, F.cross_entropy (mean) on int64 labels 0..9;
  one step = optimizer.zero_grad(set_to_none=True), forward, loss.backward(), optimizer.step()
  on a batch of N(0, 1) images already on the device. Optimizers: torch.optim.Adam(lr=1e-3)
  and torch.optim.SGD(lr=1e-2, momentum=0.9).

Cases (named like minidl's, `<device>/<case>/<batch>`, batch 128 and 1024):
  <dev>/mlp_adam/<B>, <dev>/mlp_sgd/<B>          one step per timed sample on CUDA (events
                                                 around it, like minidl); on the CPU, per-step
                                                 time from perf_counter around runs of steps
  cuda/mlp_adam_x50/<B>, cuda/mlp_sgd_x50/<B>    50 steps per timed sample (CUDA only)
  cpu/mlp_<opt>_contended[_pinned]/<B>          with --contended: a busy loop (sh -c 'while :;
                                                 do :; done') beside the step, unpinned or pinned
                                                 to the last CPU, as minidl's contended cases
<dev>/<case>_compile/<B>: on the CPU with PyTorch 2.x, the same step with the model through
torch.compile (TorchInductor, forward and backward; the optimizer eager with the implementation
that was fastest), compared with minidl's <case>; --no-compile skips it. The first steps compile
(tens of seconds) and are not timed.
Each case is timed with every optimizer implementation this torch offers on the device
(`default`; `foreach=True`; `fused=True` where supported) and the fastest is compared.
images/s = B x steps / time; the median sample is reported.

  python3 bench/peers/torch_mlp.py [--device cpu|cuda] [--threads N] [--quick]
      [--repeat R] [--warmup W] [--filter REGEX] [--out FILE.json] [--minidl MINIDL.json]
  python3 bench/peers/torch_mlp.py --device cpu --sweep [--sweep-blas] [--minidl F] [--out F]

--minidl takes the JSON of `minidl_bench_train --benchmark_out=F --benchmark_out_format=json`
and prints minidl's images/s (the median of its repetitions when it has them), PyTorch's and
minidl/torch (> 1: minidl is faster).

--sweep (CPU) re-runs this script in subprocesses, one per configuration: the environment
{default, OMP_WAIT_POLICY=PASSIVE, OPENBLAS_NUM_THREADS=1, both} x threads {1, 2} (torch reads
these when it loads, hence the subprocesses), prints each configuration's images/s and the best
per case, and compares minidl with that best. --sweep-blas adds the BLAS library torch's
libblas.so.3 / liblapack.so.3 resolve to (system alternative, OpenBLAS pthread, OpenBLAS
OpenMP, reference BLAS), chosen per subprocess with LD_LIBRARY_PATH: the system's alternatives
are never touched. Each child reports which BLAS files it actually mapped.

The CNN cases of the same minidl JSON (cnn_adam...) are bench/peers/torch_cnn.py's; the code
both share (options, timing, the JSON comparison, the sweep) is in bench/peers/_common.py.

Which torch: the project's .venv when it holds one (tools/setup.sh --peers: PyTorch 2.x), else
this interpreter's, else /usr/bin/python3's (Debian's python3-torch 1.13); `--torch venv|debian`
(or $MINIDL_PEER_TORCH) picks one, re-executing the script with that interpreter. The JSON's
context records which torch ran (torch_build: version, BLAS, oneDNN, threads, __config__.show()).
"""
from __future__ import annotations

import sys

import _common  # bench/peers/_common.py: options, timing, the minidl JSON, the sweep

torch = _common.import_torch("torch_mlp.py")
import torch.nn as nn  # noqa: E402

FEATURES, HIDDEN1, HIDDEN2, CLASSES = 784, 256, 128, 10
BATCHES = [128, 1024]
OPTIMIZERS = ["adam", "sgd"]
STEPS_PER_SAMPLE_CUDA = 50  # the cuda/..._x50 cases


def step_flops(b):
    """GEMM FLOPs of one step (as minidl's counter): forward, dW, and dx except the first layer."""
    l1, l2, l3 = FEATURES * HIDDEN1, HIDDEN1 * HIDDEN2, HIDDEN2 * CLASSES
    return (2 * (l1 + l2 + l3) * 2 + 2 * (l2 + l3)) * b


def MlpStep(dev, kind, impl, batch, seed=1):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(FEATURES, HIDDEN1), nn.ReLU(),
        nn.Linear(HIDDEN1, HIDDEN2), nn.ReLU(),
        nn.Linear(HIDDEN2, CLASSES))
    return _common.TrainStep(model, dev, kind, impl, batch, FEATURES, CLASSES)


def cases_for(dev, quick):
    """(name, optimizer, batch, steps per CUDA sample) for every case."""
    cases = []
    for batch in (BATCHES if not quick else [128]):
        for kind in OPTIMIZERS:
            cases.append(("%s/mlp_%s/%d" % (dev, kind, batch), kind, batch, 1))
            if dev == "cuda":
                cases.append(("%s/mlp_%s_x%d/%d" % (dev, kind, STEPS_PER_SAMPLE_CUDA, batch), kind,
                              batch, STEPS_PER_SAMPLE_CUDA))
    return cases


def compare(results, minidl_path, title, dev="cpu"):
    # The CNN cases of the same JSON are torch_cnn.py's.
    # <case>_compile (torch.compile) is compared with minidl's <case>.
    return _common.compare_images_per_second(results, minidl_path, dev, title, family=r"/mlp_",
                                             minidl_names=lambda n: [_common.eager_name(n)])


def main():
    ap = _common.peer_parser(
        __doc__, "minidl_bench_train",
        threads_help="torch.set_num_threads (default on cpu: $OMP_NUM_THREADS, else every CPU "
                     "this process may use, as minidl's OpenMP; torch's own default may be lower)",
        repeat_help="timed samples per case (default cuda: 50 single steps, 10 x50 runs; cpu: 7)",
        warmup_help="untimed steps first (default 10 cuda, 5 cpu)")
    _common.add_train_args(ap)
    args = _common.parse_args(ap, "torch_mlp.py")
    if args.sweep:
        return _common.sweep(args, _common.sweep_passthrough(args), __file__, "cpu/mlp_",
                             lambda best, path, title: compare(best, path, title, "cpu"))
    return _common.train_single(
        args, "torch_mlp.py", cases_for(args.device, args.quick), MlpStep, step_flops,
        lambda results, path, title: compare(results, path, title, args.device))


if __name__ == "__main__":
    sys.exit(main())
