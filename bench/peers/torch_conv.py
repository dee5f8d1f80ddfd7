#!/usr/bin/env python3
"""PyTorch peer of minidl_bench_conv: the same convolutions, timed the same way.

Cases (named like minidl's, `<device>/<part>/<shape>`), all float32 NCHW, `same` padding:

  cnn_conv1   x [128, 1, 28, 28],  w [32, 1, 5, 5]    (the Fashion-MNIST CNN's first conv)
  cnn_conv2   x [128, 32, 14, 14], w [64, 32, 5, 5]   (its second)
  resnet3x3   x [32, 64, 56, 56],  w [64, 64, 3, 3]   (a ResNet stage-1 conv)

  <dev>/conv_fwd/<shape>         F.conv2d(x, w, b, padding=p)                        (F FLOPs)
  <dev>/conv_bwd_data/<shape>    aten.convolution_backward, output_mask (1, 0, 0)    (F)
  <dev>/conv_bwd_filter/<shape>  aten.convolution_backward, output_mask (0, 1, 1)    (F)
  <dev>/conv_fwd_bwd/<shape>     the three in turn: one training step's conv work    (3 F)

F = 2 B M P Q C K1 K2. GFLOP/s is 10^9 FLOP/s. CUDA cases use cuDNN with
torch.backends.cudnn.benchmark = True (its own algorithm search, like minidl's) and TF32
off (minidl runs FP32 math); each call is timed with a CUDA event pair, CPU calls with
time.perf_counter; the median over --repeat calls after --warmup is reported.

  python3 bench/peers/torch_conv.py [--device cuda|cpu] [--threads N] [--repeat R]
      [--warmup W] [--filter REGEX] [--out FILE.json] [--minidl MINIDL.json]

--minidl takes `minidl_bench_conv --benchmark_out=F --benchmark_out_format=json` and prints
minidl's time, PyTorch's and torch/minidl (> 1: minidl is faster), matched by name; on the CPU
each torch case is compared with both minidl CPU backends (cpu/..., cpu_onednn/..., and
cpu_onednn_nchw8c/... and cpu_onednn_nchw16c/...: oneDNN on the blocked tensors minidl's
layer graph passes), on CUDA
with both minidl backends (cuda_cudnn/..., cuda_own/...) and with the benchmark's direct
cuDNN calls (cuda_cudnn_direct/...).

Which torch: the project's .venv when it holds one (tools/setup.sh --peers: PyTorch 2.x), else
this interpreter's, else /usr/bin/python3's (Debian's python3-torch 1.13); `--torch venv|debian`
(or $MINIDL_PEER_TORCH) picks one, re-executing the script with that interpreter. The JSON's
context records which torch ran (torch_build: version, BLAS, oneDNN, threads, __config__.show()).
"""
from __future__ import annotations

import os
import re
import statistics
import sys

import _common  # bench/peers/_common.py: options, timing, the minidl JSON

torch = _common.import_torch("torch_conv.py")
import torch.nn.functional as F  # noqa: E402

SHAPES = [
    ("cnn_conv1", (128, 1, 28, 28), (32, 1, 5, 5)),
    ("cnn_conv2", (128, 32, 14, 14), (64, 32, 5, 5)),
    ("resnet3x3", (32, 64, 56, 56), (64, 64, 3, 3)),
]
PARTS = ["conv_fwd", "conv_bwd_data", "conv_bwd_filter", "conv_fwd_bwd"]


def make_case(dev, xs, ws, part):
    g = torch.Generator(device=dev).manual_seed(2)
    x = torch.empty(xs, device=dev).normal_(0.0, 1.0, generator=g)
    w = torch.empty(ws, device=dev).normal_(0.0, 0.1, generator=g)
    b = torch.empty(ws[0], device=dev).normal_(0.0, 1.0, generator=g)
    pad = [(ws[2] - 1) // 2, (ws[3] - 1) // 2]  # odd kernels: `same` is symmetric
    y = F.conv2d(x, w, b, padding=pad)
    dy = torch.empty_like(y).normal_(0.0, 1.0, generator=g)
    bwd = torch.ops.aten.convolution_backward

    def fwd():
        return F.conv2d(x, w, b, padding=pad)

    def bwd_data():
        return bwd(dy, x, w, [ws[0]], [1, 1], pad, [1, 1], False, [0, 0], 1, [True, False, False])

    def bwd_filter():
        return bwd(dy, x, w, [ws[0]], [1, 1], pad, [1, 1], False, [0, 0], 1, [False, True, True])

    def fwd_bwd():
        fwd()
        bwd_data()
        bwd_filter()

    flops = 2.0 * y.shape[0] * y.shape[1] * y.shape[2] * y.shape[3] * ws[1] * ws[2] * ws[3]
    fn = {"conv_fwd": fwd, "conv_bwd_data": bwd_data, "conv_bwd_filter": bwd_filter,
          "conv_fwd_bwd": fwd_bwd}[part]
    return fn, (3 * flops if part == "conv_fwd_bwd" else flops)


def load_minidl(path):
    """name -> milliseconds (the median of the repetitions, else the run), and the context."""
    cases, ctx = _common.load_minidl(path, "real_time")
    out = {}
    for key, c in cases.items():
        b = c.aggregates.get("median") or (c.runs[-1] if c.runs else None)
        if b is not None:
            out[key] = b["real_time"] * _common.UNIT_SECONDS.get(b.get("time_unit", "ns"), 1e-9) * 1e3
    return out, ctx


def main():
    ap = _common.peer_parser(
        __doc__, "minidl_bench_conv",
        threads_help="torch.set_num_threads on the CPU (default: $OMP_NUM_THREADS, else every "
                     "CPU this process may use, as minidl's OpenMP does)",
        repeat_help="timed calls (default 30 cuda, 5 cpu)",
        warmup_help="untimed calls (default 5 cuda, 1 cpu)")
    args = _common.parse_args(ap, "torch_conv.py")

    dev = args.device
    if _common.cuda_missing("torch_conv.py", dev):
        return 2
    _common.set_cpu_threads(dev, args.threads)
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    repeat = args.repeat or (30 if dev == "cuda" else 5)
    warmup = args.warmup or (5 if dev == "cuda" else 1)

    context = {
        "peer": "pytorch", "torch_version": torch.__version__, "device": dev,
        "torch_build": _common.torch_build(),
        "device_name": _common.device_name(dev),
        "threads": torch.get_num_threads() if dev == "cpu" else None,
        "cudnn": torch.backends.cudnn.version() if dev == "cuda" else None,
        "date": _common.utc_now(),
        "repeat": repeat, "warmup": warmup,
    }
    print("PyTorch %s peer of minidl_bench_conv on %s%s; median of %d calls after %d warm-up"
          % (torch.__version__, dev, " (%d threads)" % torch.get_num_threads() if dev == "cpu"
             else "", repeat, warmup))
    print(_common.torch_summary())
    print("%-34s %10s %10s %10s" % ("case", "median ms", "min ms", "GFLOP/s"))
    results = []
    for sname, xs, ws in SHAPES:
        for part in PARTS:
            name = "%s/%s/%s" % (dev, part, sname)
            if args.filter and not re.search(args.filter, name):
                continue
            try:
                fn, flops = make_case(dev, xs, ws, part)
                with torch.no_grad():
                    times = _common.time_calls(fn, dev, warmup, repeat)
            except Exception as e:  # one broken case must not hide the rest
                print("%-34s ERROR %s: %s" % (name, type(e).__name__, e))
                results.append({"name": name, "error": str(e)})
                continue
            med = statistics.median(times)
            r = {"name": name, "time_ms": med * 1e3, "min_ms": min(times) * 1e3,
                 "gflops": flops / med * 1e-9, "flops": flops, "calls": len(times)}
            results.append(r)
            print("%-34s %10.2f %10.2f %10.1f" % (name, r["time_ms"], r["min_ms"], r["gflops"]))
            sys.stdout.flush()
    out = {"context": context, "cases": results}

    if args.minidl:
        mk, mctx = load_minidl(args.minidl)
        print("\nminidl (%s) vs PyTorch: torch/minidl > 1 means minidl is faster"
              % os.path.basename(args.minidl))
        print("%-40s %10s %9s %10s %9s %13s" % ("case", "minidl ms", "GFLOP/s", "torch ms",
                                               "GFLOP/s", "torch/minidl"))
        comparison = []
        for r in results:
            if "error" in r:
                continue
            rest = r["name"].split("/", 1)[1]
            prefixes = (["cpu", "cpu_onednn", "cpu_onednn_nchw8c", "cpu_onednn_nchw16c"]
                        if dev == "cpu"
                        else ["cuda_cudnn", "cuda_own", "cuda_cudnn_direct"])
            for pre in prefixes:
                m = mk.get(pre + "/" + rest)
                if m is None:
                    continue
                ratio = r["time_ms"] / m
                comparison.append({"name": pre + "/" + rest, "minidl_ms": m,
                                   "torch_ms": r["time_ms"], "torch_over_minidl": ratio})
                print("%-40s %10.2f %9.1f %10.2f %9.1f %13.2f"
                      % (pre + "/" + rest, m, r["flops"] / (m * 1e-3) * 1e-9, r["time_ms"],
                         r["gflops"], ratio))
        out["comparison"] = comparison
        out["minidl_context"] = mctx
    if args.out:
        _common.write_json(args.out, out, indent=1, announce=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
