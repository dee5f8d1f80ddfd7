#!/usr/bin/env python3
# minidl-bench-area: train
"""PyTorch peer of minidl_bench_train's CNN cases: the same training step, timed the same way.

Model and step (as `minidl-train --model cnn` builds it, apps/train/trainer.cpp build_cnn with
cnn_config(), which bench/train_bench.cpp reuses):
  x [B, 784] -> [B, 1, 28, 28]; Conv2d(1, 32, 5, padding=2) + ReLU + MaxPool2d(2);
  Conv2d(32, 64, 5, padding=2) + ReLU + MaxPool2d(2); Flatten; Linear(3136, 1024) + ReLU +
  Dropout(0.4) (training mode); Linear(1024, 10); F.cross_entropy (mean) on int64 labels 0..9;
  one step = optimizer.zero_grad(set_to_none=True), forward, loss.backward(),
  torch.optim.Adam(lr=1e-3).step(), on a batch of N(0, 1) images already on the device.
  float32 throughout; on CUDA cuDNN with torch.backends.cudnn.benchmark = True (its own
  algorithm search, like minidl's) and TF32 off (minidl runs FP32 math), as torch_conv.py.

Cases (named like minidl's; batch 128 as cnn_config(), on the CPU also 32 and 256):
  <dev>/cnn_adam/<B>       one step per timed sample on CUDA (events around it, like minidl);
                           on the CPU, per-step time from perf_counter around runs of steps
                           (B = 32, 128, 256; --quick: 128 only)
  cuda/cnn_adam_x50/128    50 steps per timed sample (CUDA only)
  cpu/cnn_adam_contended[_pinned]/<B>   with --contended: a busy loop beside the step
                           (bench/peers/_common.py BusyLoop, as minidl's contended cases)
<dev>/<case>_compile/<B>: on the CPU with PyTorch 2.x, the same step with the model through
torch.compile (TorchInductor, forward and backward; the optimizer eager with the implementation
that was fastest), compared with minidl's <case>; --no-compile skips it. The first steps compile
(tens of seconds) and are not timed.
Each case is timed with every Adam implementation this torch offers on the device
(`default`; `foreach=True`; `fused=True` where supported) and the fastest is compared.
images/s = B x steps / time; the median sample is reported. GFLOP/s counts the convolution
and GEMM multiply-adds only, as minidl's counter (step_flops: forward, dW and dx of every
layer but conv1's dx, which neither framework computes: the input needs no gradient).

  python3 bench/peers/torch_cnn.py [--device cpu|cuda] [--threads N] [--quick]
      [--repeat R] [--warmup W] [--seconds S] [--impl I] [--filter REGEX]
      [--out FILE.json] [--minidl MINIDL.json]
  python3 bench/peers/torch_cnn.py --device cpu --sweep [--sweep-blas] [--minidl F] [--out F]

--minidl takes the JSON of `minidl_bench_train --benchmark_out=F --benchmark_out_format=json`
and prints minidl's images/s (the median of its repetitions when it has them), PyTorch's and
minidl/torch (> 1: minidl is faster). Each torch case is compared with every minidl
convolution backend case there is: cuda/cnn_adam/128 (auto), cuda/cnn_adam_cudnn/128 and
cuda/cnn_adam_own/128 (and their _x50 twins); cpu/cnn_adam/<B> (auto), cpu/cnn_adam_cpu/128
(im2col + OpenBLAS) and cpu/cnn_adam_onednn/128.

--threads: CPU intra-op threads (default: $OMP_NUM_THREADS, else every CPU this process may
use, as minidl's OpenMP). --sweep runs every {environment} x {1, 2 threads} configuration in a
subprocess and compares minidl with PyTorch's best (see torch_mlp.py; bench/peers/_common.py).

Which torch: the project's .venv when it holds one (tools/setup.sh --peers: PyTorch 2.x), else
this interpreter's, else /usr/bin/python3's (Debian's python3-torch 1.13); `--torch venv|debian`
(or $MINIDL_PEER_TORCH) picks one, re-executing the script with that interpreter. The JSON's
context records which torch ran (torch_build: version, BLAS, oneDNN, threads, __config__.show()).
"""
from __future__ import annotations

import sys

import _common  # bench/peers/_common.py: options, timing, the minidl JSON, the sweep

torch = _common.import_torch("torch_cnn.py")
import torch.nn as nn  # noqa: E402

SIDE, CLASSES = 28, 10
CONV_CHANNELS, KERNEL = [32, 64], 5
HIDDEN, DROPOUT = 1024, 0.4
BATCH = 128
BATCHES = [32, 128, 256]  # the CPU cases (minidl_bench_train's cpu/cnn_adam/<B>)
STEPS_PER_SAMPLE_CUDA = 50  # the cuda/..._x50 cases
CONV_BACKENDS = {"cuda": ["cudnn", "own"], "cpu": ["cpu", "onednn"]}  # minidl's
# <dev>/cnn_adam_<backend>/... cases


def step_flops(b):
    """Convolution and GEMM FLOPs of one step (as minidl's cnn_step_flops): per conv layer
    2 M s^2 C K^2 per sample (same padding: output side s = input side) for forward, dW and
    dx (conv1: no dx), then a 2x2 max-pool halves s; per dense layer 2 in out, three times."""
    per_sample, s, c, first = 0, SIDE, 1, True
    for m in CONV_CHANNELS:
        f = 2 * m * s * s * c * KERNEL * KERNEL
        per_sample += f * (2 if first else 3)
        first, c, s = False, m, s // 2
    per_sample += 3 * 2 * (c * s * s) * HIDDEN + 3 * 2 * HIDDEN * CLASSES
    return per_sample * b


def make_model():
    layers = [nn.Unflatten(1, (1, SIDE, SIDE))]
    c, s = 1, SIDE
    for m in CONV_CHANNELS:
        layers += [nn.Conv2d(c, m, KERNEL, padding=KERNEL // 2), nn.ReLU(), nn.MaxPool2d(2)]
        c, s = m, s // 2
    layers += [nn.Flatten(), nn.Linear(c * s * s, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT),
               nn.Linear(HIDDEN, CLASSES)]
    return nn.Sequential(*layers)


def CnnStep(dev, kind, impl, batch, seed=1):
    torch.manual_seed(seed)
    return _common.TrainStep(make_model(), dev, kind, impl, batch, SIDE * SIDE, CLASSES)


def cases_for(dev, quick=False):
    """(name, optimizer, batch, steps per CUDA sample) for every case."""
    cases = [("%s/cnn_adam/%d" % (dev, b), "adam", b, 1)
             for b in ([BATCH] if quick or dev == "cuda" else BATCHES)]
    if dev == "cuda":
        cases.append(("%s/cnn_adam_x%d/%d" % (dev, STEPS_PER_SAMPLE_CUDA, BATCH), "adam", BATCH,
                      STEPS_PER_SAMPLE_CUDA))
    return cases


def minidl_names(name):
    """cuda/cnn_adam[_x50]/128 -> itself and cuda/cnn_adam_<backend>[_x50]/128 per backend."""
    name = _common.eager_name(name)  # <case>_compile (torch.compile) -> <case>
    dev, case, batch = name.split("/")
    names = [name]
    suffix = case[len("cnn_adam"):]  # "", "_x50", "_contended", ...
    names += ["%s/cnn_adam_%s%s/%s" % (dev, b, suffix, batch) for b in CONV_BACKENDS.get(dev, [])]
    if dev == "cpu" and not suffix:  # minidl's step with every value in NCHW (no blocked layouts)
        names.append("%s/cnn_adam_nchw/%s" % (dev, batch))
    return names


def compare(results, minidl_path, title, dev):
    # The MLP cases of the same JSON are torch_mlp.py's.
    return _common.compare_images_per_second(results, minidl_path, dev, title, family=r"/cnn_",
                                             minidl_names=minidl_names)


def main():
    ap = _common.peer_parser(
        __doc__, "minidl_bench_train",
        threads_help="torch.set_num_threads (default on cpu: $OMP_NUM_THREADS, else every CPU "
                     "this process may use, as minidl's OpenMP; torch's own default may be lower)",
        repeat_help="timed samples per case (default cuda: 50 single steps, 10 x50 runs; cpu: 7)",
        warmup_help="untimed steps first (default 10 cuda, 5 cpu)")
    _common.add_train_args(ap)  # --quick: batch 128 only, shorter timings
    args = _common.parse_args(ap, "torch_cnn.py")
    if args.sweep:
        return _common.sweep(args, _common.sweep_passthrough(args), __file__, "cpu/cnn_",
                             lambda best, path, title: compare(best, path, title, "cpu"))
    if args.device == "cuda" and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    extra = {"cudnn": torch.backends.cudnn.version()} if args.device == "cuda" else {}
    return _common.train_single(
        args, "torch_cnn.py", cases_for(args.device, args.quick), CnnStep, step_flops,
        lambda results, path, title: compare(results, path, title, args.device), extra)


if __name__ == "__main__":
    sys.exit(main())
