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
minidl's time, PyTorch's and torch/minidl (> 1: minidl is faster), matched by name; on CUDA
each torch case is compared with both minidl backends (cuda_cudnn/..., cuda_own/...).

Runs with whichever python has torch: if `import torch` fails it re-executes itself with
/usr/bin/python3 (Debian's python3-torch) when that is another interpreter.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    _alt = "/usr/bin/python3"
    if (os.environ.get("MINIDL_PEER_REEXEC") != "1" and os.path.exists(_alt)
            and os.path.realpath(sys.executable) != os.path.realpath(_alt)):
        os.environ["MINIDL_PEER_REEXEC"] = "1"
        os.execv(_alt, [_alt] + sys.argv)
    sys.stderr.write("torch_conv.py: PyTorch is not importable by %s\n" % sys.executable)
    sys.exit(3)

SHAPES = [
    ("cnn_conv1", (128, 1, 28, 28), (32, 1, 5, 5)),
    ("cnn_conv2", (128, 32, 14, 14), (64, 32, 5, 5)),
    ("resnet3x3", (32, 64, 56, 56), (64, 64, 3, 3)),
]
PARTS = ["conv_fwd", "conv_bwd_data", "conv_bwd_filter", "conv_fwd_bwd"]
_SUFFIX = re.compile(r"^(manual_time|real_time|process_time|min_time:.*|min_warmup_time:.*|"
                     r"iterations:.*|repeats:.*|threads:.*)$")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def time_calls(fn, dev, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    if dev == "cuda":
        torch.cuda.synchronize()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(repeat):
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) * 1e-3)
    else:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


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


def normalize_name(name):
    return "/".join(p for p in name.split("/") if not _SUFFIX.match(p))


def load_minidl(path):
    with open(path) as f:
        data = json.load(f)
    out = {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred") or "real_time" not in b:
            continue
        if b.get("run_type", "iteration") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        key = normalize_name(b.get("run_name") or b.get("name", ""))
        out[key] = b["real_time"] * _UNIT_MS.get(b.get("time_unit", "ns"), 1e-6)
    return out, data.get("context", {})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"],
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads on the CPU (default: $OMP_NUM_THREADS, else every "
                         "CPU this process may use, as minidl's OpenMP does)")
    ap.add_argument("--repeat", type=int, default=0, help="timed calls (default 30 cuda, 5 cpu)")
    ap.add_argument("--warmup", type=int, default=0, help="untimed calls (default 5 cuda, 1 cpu)")
    ap.add_argument("--filter", default="", help="only cases whose name matches this regex")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--minidl", help="minidl_bench_conv JSON to compare with")
    args = ap.parse_args()

    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("torch_conv.py: --device cuda but CUDA is unavailable to torch %s\n"
                         % torch.__version__)
        return 2
    threads = args.threads
    if dev == "cpu" and threads <= 0:
        try:
            threads = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
        except ValueError:
            threads = 0
        if threads <= 0:
            threads = len(os.sched_getaffinity(0))
    if threads > 0:
        torch.set_num_threads(threads)
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    repeat = args.repeat or (30 if dev == "cuda" else 5)
    warmup = args.warmup or (5 if dev == "cuda" else 1)

    context = {
        "peer": "pytorch", "torch_version": torch.__version__, "device": dev,
        "device_name": torch.cuda.get_device_name() if dev == "cuda" else platform.processor(),
        "threads": torch.get_num_threads() if dev == "cpu" else None,
        "cudnn": torch.backends.cudnn.version() if dev == "cuda" else None,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "repeat": repeat, "warmup": warmup,
    }
    print("PyTorch %s peer of minidl_bench_conv on %s%s; median of %d calls after %d warm-up"
          % (torch.__version__, dev, " (%d threads)" % torch.get_num_threads() if dev == "cpu"
             else "", repeat, warmup))
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
                    times = time_calls(fn, dev, warmup, repeat)
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
            prefixes = ["cpu"] if dev == "cpu" else ["cuda_cudnn", "cuda_own"]
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
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
