#!/usr/bin/env python3
"""PyTorch peer of minidl_bench_kernels: the same activation and loss work, timed the same way.

Cases (named like minidl's, `<device>/<case>/<size>`):

  <dev>/copy_ref/67108864          dst.copy_(src): the copy yardstick (2 n 4 bytes)
  <dev>/relu_forward/67108864      torch.relu(x)                          (2 n 4 bytes)
  <dev>/relu_backward/67108864     aten.threshold_backward(dy, x, 0)      (3 n 4 bytes)
  <dev>/sigmoid_forward/67108864   torch.sigmoid(x)                       (2 n 4 bytes)
  <dev>/sigmoid_backward/67108864  aten.sigmoid_backward(dy, y)           (3 n 4 bytes)
  <dev>/tanh_forward/67108864      torch.tanh(x)                          (2 n 4 bytes)
  <dev>/tanh_backward/67108864     aten.tanh_backward(dy, y)              (3 n 4 bytes)
  <dev>/softmax_ce/<N>x<K>         F.cross_entropy(logits, labels) + .backward(), mean
                                   reduction, N x K float32 logits      (2 N K 4 + N 4 bytes)
                                   for 4096x1000, 65536x10, 128x10

Bytes follow minidl's convention (every byte an ideal kernel moves); GB/s is 10^9 bytes/s.
The elementwise ops make a new output per call on CUDA (the caching allocator makes that
free) and, by default, write into a preallocated one through their out= variants on the CPU
(clamp_min(x, 0, out=y) is torch.relu's kernel), because there each new 256 MiB output is a
fresh mmap whose page faults cost several times the kernel; --outputs picks either anywhere.

Timing: CUDA cases record a torch.cuda.Event pair around each call and synchronise after it
(like minidl's CudaEventTimer), so a call's time is GPU time from the first launch to the last
kernel's end, including any gaps while the host launches the next kernel. CPU cases time each
call with time.perf_counter. After the warm-up calls, the median over --repeat calls is
reported (minidl's Google Benchmark `real_time` is the mean over its iterations; both are in
the JSON).

  python3 bench/peers/torch_kernels.py [--device cuda|cpu] [--threads N] [--repeat R]
      [--warmup W] [--quick] [--outputs auto|new|preallocated] [--filter REGEX]
      [--out FILE.json] [--minidl MINIDL.json]

--minidl takes the JSON of `minidl_bench_kernels --benchmark_out=F --benchmark_out_format=json`
and prints minidl's time, PyTorch's time and torch/minidl (> 1: minidl is faster), matched by
name (Google Benchmark's `/manual_time`, `/real_time`, `/iterations:N`... suffixes are ignored).
Unmatched names are listed, never fatal.

Which torch: the project's .venv when it holds one (tools/setup.sh --peers: PyTorch 2.x), else
this interpreter's, else /usr/bin/python3's (Debian's python3-torch 1.13); `--torch venv|debian`
(or $MINIDL_PEER_TORCH) picks one, re-executing the script with that interpreter. The JSON's
context records which torch ran (torch_build: version, BLAS, oneDNN, threads, __config__.show()).
"""
from __future__ import annotations

import os
import platform
import re
import statistics
import sys

import _common  # bench/peers/_common.py: options, timing, the minidl JSON

torch = _common.import_torch("torch_kernels.py")
import torch.nn.functional as F  # noqa: E402

ELEMENTWISE_N = 1 << 26
CE_SHAPES = [(4096, 1000), (65536, 10), (128, 10)]
QUICK_N = 1 << 20
QUICK_CE_SHAPES = [(512, 100), (4096, 10), (128, 10)]


# ---------------------------------------------------------------------------- cases
def elementwise_cases(dev, n, prealloc):
    """(name, bytes, setup) for the elementwise cases; setup() -> (fn, before, op).

    prealloc False: out of place (torch.relu(x)), a new output per call, which on CUDA comes
    from the caching allocator. prealloc True: the out= variants write into one output
    allocated up front, as minidl does; needed on the CPU, where each new 256 MiB output is
    a fresh mmap whose page faults cost several times the kernel itself."""
    n4 = n * 4

    def inputs():
        g = torch.Generator(device=dev).manual_seed(1)
        x = torch.empty(n, device=dev).uniform_(-4.0, 4.0, generator=g)
        dy = torch.empty(n, device=dev).normal_(0.0, 1.0, generator=g)
        return x, dy

    def copy_ref():
        x, _ = inputs()
        dst = torch.empty_like(x)
        return (lambda: dst.copy_(x)), None, "dst.copy_(src)"

    def relu_forward():
        x, _ = inputs()
        if prealloc:
            out = torch.empty_like(x)
            # torch.relu is clamp_min(x, 0) on CPU and CUDA; relu has no out= variant.
            return (lambda: torch.clamp_min(x, 0, out=out)), None, "torch.clamp_min(x, 0, out=y)"
        return (lambda: torch.relu(x)), None, "torch.relu(x)"

    def relu_backward():
        x, dy = inputs()
        op = torch.ops.aten.threshold_backward
        if prealloc:
            out = torch.empty_like(x)
            return ((lambda: op.grad_input(dy, x, 0, grad_input=out)), None,
                    "aten.threshold_backward.grad_input(dy, x, 0, grad_input=dz)")
        return (lambda: op(dy, x, 0)), None, "aten.threshold_backward(dy, x, 0)"

    def sigmoid_forward():
        x, _ = inputs()
        if prealloc:
            out = torch.empty_like(x)
            return (lambda: torch.sigmoid(x, out=out)), None, "torch.sigmoid(x, out=y)"
        return (lambda: torch.sigmoid(x)), None, "torch.sigmoid(x)"

    def sigmoid_backward():
        x, dy = inputs()
        y = torch.sigmoid(x)
        op = torch.ops.aten.sigmoid_backward
        if prealloc:
            out = torch.empty_like(x)
            return ((lambda: op.grad_input(dy, y, grad_input=out)), None,
                    "aten.sigmoid_backward.grad_input(dy, y, grad_input=dz)")
        return (lambda: op(dy, y)), None, "aten.sigmoid_backward(dy, y)"

    def tanh_forward():
        x, _ = inputs()
        if prealloc:
            out = torch.empty_like(x)
            return (lambda: torch.tanh(x, out=out)), None, "torch.tanh(x, out=y)"
        return (lambda: torch.tanh(x)), None, "torch.tanh(x)"

    def tanh_backward():
        x, dy = inputs()
        y = torch.tanh(x)
        op = torch.ops.aten.tanh_backward
        if prealloc:
            out = torch.empty_like(x)
            return ((lambda: op.grad_input(dy, y, grad_input=out)), None,
                    "aten.tanh_backward.grad_input(dy, y, grad_input=dz)")
        return (lambda: op(dy, y)), None, "aten.tanh_backward(dy, y)"

    return [
        ("%s/copy_ref/%d" % (dev, n), 2 * n4, copy_ref),
        ("%s/relu_forward/%d" % (dev, n), 2 * n4, relu_forward),
        ("%s/relu_backward/%d" % (dev, n), 3 * n4, relu_backward),
        ("%s/sigmoid_forward/%d" % (dev, n), 2 * n4, sigmoid_forward),
        ("%s/sigmoid_backward/%d" % (dev, n), 3 * n4, sigmoid_backward),
        ("%s/tanh_forward/%d" % (dev, n), 2 * n4, tanh_forward),
        ("%s/tanh_backward/%d" % (dev, n), 3 * n4, tanh_backward),
    ]


def ce_cases(dev, shapes):
    out = []
    for rows, cols in shapes:
        def setup(rows=rows, cols=cols):
            g = torch.Generator(device=dev).manual_seed(2)
            logits = torch.empty(rows, cols, device=dev).normal_(0.0, 3.0, generator=g)
            logits.requires_grad_(True)
            # PyTorch reads int64 labels where minidl reads int32: N*4 more bytes, negligible
            # next to the N*K*8 of logits and gradient (the byte count keeps minidl's N*4).
            labels = (torch.arange(rows, device=dev, dtype=torch.int64) * 7) % cols

            def fn():
                loss = F.cross_entropy(logits, labels)  # mean reduction
                loss.backward()

            def before():
                logits.grad = None  # a fresh gradient each call, as minidl writes one

            # Autograd allocates the log-softmax output and the gradient on every call:
            # unavoidable here (on the CPU, 16 MB blocks at 4096x1000 are fresh mmaps).

            return fn, before, "F.cross_entropy(logits, int64 labels).backward()"

        nbytes = 2 * rows * cols * 4 + rows * 4
        out.append(("%s/softmax_ce/%dx%d" % (dev, rows, cols), nbytes, setup))
    return out


# ---------------------------------------------------------------------------- minidl JSON
def normalize_name(name):
    """'cuda/softmax_ce/4096x1000/manual_time' -> 'cuda/softmax_ce/4096x1000';
    also 'dev/case/4096/1000' (Google Benchmark Args) -> 'dev/case/4096x1000'."""
    parts = _common.normalize_name(name).split("/")
    if len(parts) > 3 and all(p.isdigit() for p in parts[2:]):
        parts = parts[:2] + ["x".join(parts[2:])]
    return "/".join(parts)


def load_minidl(path):
    """name -> {'us': float, 'gbps': float|None, 'how': str} or {'error': str}."""
    cases, ctx = _common.load_minidl(path, "real_time", rename=normalize_name)
    result = {}
    for key, c in cases.items():
        if c.failed() is not None:
            result[key] = {"error": c.failed()}
            continue
        pick = c.aggregates.get("median") or c.aggregates.get("mean")
        if pick is not None:
            chosen, how = [pick], "%s of repetitions" % pick.get("aggregate_name")
        else:
            chosen = c.runs
            how = "mean over iterations" if len(chosen) == 1 else "median of %d runs" % len(chosen)
        if not chosen:
            continue
        us = statistics.median(b["real_time"] * _common.UNIT_SECONDS.get(b.get("time_unit", "ns"), 1e-9) * 1e6
                               for b in chosen)
        gbps = None
        bps = [b["bytes_per_second"] for b in chosen if "bytes_per_second" in b]
        if bps:
            gbps = statistics.median(bps) * 1e-9
        elif all("GB/s" in b for b in chosen):
            gbps = statistics.median(b["GB/s"] for b in chosen)
        result[key] = {"us": us, "gbps": gbps, "how": how}
    return result, ctx


# ---------------------------------------------------------------------------- main
def main():
    ap = _common.peer_parser(
        __doc__, "minidl_bench_kernels",
        threads_help="torch.set_num_threads for CPU cases (default: what OpenMP gives minidl: "
                     "$OMP_NUM_THREADS, else every CPU this process may use; torch's own "
                     "default is the physical cores)",
        repeat_help="timed calls per case (default 50 on cuda, 10 on cpu)",
        warmup_help="untimed calls first (default 5 cuda, 2 cpu)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (2^20 elements; CE 512x100, 4096x10, 128x10): a smoke test")
    ap.add_argument("--outputs", choices=["auto", "new", "preallocated"], default="auto",
                    help="elementwise outputs: new per call (torch.relu(x)) or preallocated "
                         "(out= variants, like minidl); auto: new on cuda, preallocated on cpu")
    args = _common.parse_args(ap, "torch_kernels.py")

    dev = args.device
    if _common.cuda_missing("torch_kernels.py", dev):
        return 2
    _common.set_cpu_threads(dev, args.threads)
    repeat = args.repeat or (50 if dev == "cuda" else 10)
    warmup = args.warmup or (5 if dev == "cuda" else 2)
    n = QUICK_N if args.quick else ELEMENTWISE_N
    shapes = QUICK_CE_SHAPES if args.quick else CE_SHAPES
    prealloc = args.outputs == "preallocated" or (args.outputs == "auto" and dev == "cpu")
    cases = elementwise_cases(dev, n, prealloc) + ce_cases(dev, shapes)
    if args.filter:
        cases = [c for c in cases if re.search(args.filter, c[0])]

    name = _common.device_name(dev)
    context = {
        "peer": "pytorch",
        "torch_version": torch.__version__, "torch_build": _common.torch_build(),
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": dev,
        "device_name": name,
        "host": platform.node(),
        "date": _common.utc_now(),
        "threads": torch.get_num_threads() if dev == "cpu" else None,
        "repeat": repeat,
        "warmup": warmup,
        "quick": args.quick,
        "elementwise_outputs": "preallocated" if prealloc else "new per call",
        "timing": ("CUDA events around each call, synchronised after it" if dev == "cuda"
                   else "time.perf_counter around each call"),
    }
    if dev == "cuda":
        context["cudnn"] = torch.backends.cudnn.version()
    print("PyTorch %s peer of minidl_bench_kernels on %s (%s%s); median of %d calls after %d warm-up;"
          " elementwise outputs %s"
          % (torch.__version__, name, dev,
             ", %d threads" % torch.get_num_threads() if dev == "cpu" else
             ", CUDA %s" % torch.version.cuda, repeat, warmup, context["elementwise_outputs"]))
    print(_common.torch_summary())
    print("%-34s %11s %11s %9s   %s" % ("case", "median us", "min us", "GB/s", "op"))

    results = []
    for cname, nbytes, setup in cases:
        try:
            fn, before, op = setup()
            times = _common.time_calls(fn, dev, warmup, repeat, before)
        except Exception as e:  # report and go on: one broken case must not hide the rest
            print("%-34s ERROR %s: %s" % (cname, type(e).__name__, e))
            results.append({"name": cname, "error": "%s: %s" % (type(e).__name__, e)})
            continue
        finally:
            if dev == "cuda":
                torch.cuda.synchronize()
        med = statistics.median(times)
        r = {
            "name": cname,
            "op": op,
            "time_us": med * 1e6,
            "mean_us": statistics.mean(times) * 1e6,
            "min_us": min(times) * 1e6,
            "max_us": max(times) * 1e6,
            "calls": len(times),
            "bytes": nbytes,
            "gb_per_s": nbytes / med * 1e-9,
        }
        results.append(r)
        print("%-34s %11.1f %11.1f %9.1f   %s" % (cname, r["time_us"], r["min_us"], r["gb_per_s"], op))
        sys.stdout.flush()
        fn = before = None
    if dev == "cuda":
        torch.cuda.empty_cache()

    out = {"context": context, "cases": results}

    if args.minidl:
        print()
        try:
            mk, mctx = load_minidl(args.minidl)
        except (OSError, ValueError) as e:
            print("minidl JSON %s unreadable: %s" % (args.minidl, e))
            mk, mctx = None, {}
        if mk is not None:
            comparison, torch_only = [], []
            mgpu = mctx.get("minidl_gpu")
            print("minidl (%s%s; its real_time, a mean) vs PyTorch (median): torch/minidl > 1 means"
                  " minidl is faster" % (os.path.basename(args.minidl), ", GPU " + mgpu if mgpu else ""))
            print("%-34s %11s %8s %11s %8s %13s" % ("case", "minidl us", "GB/s", "torch us", "GB/s",
                                                    "torch/minidl"))
            for r in results:
                m = mk.get(r["name"])
                if m is None or "error" in r:
                    torch_only.append(r["name"])
                    continue
                if "error" in m:
                    print("%-34s minidl: %s" % (r["name"], m["error"]))
                    torch_only.append(r["name"])
                    continue
                ratio = r["time_us"] / m["us"] if m["us"] > 0 else float("nan")
                mg = m["gbps"] if m["gbps"] is not None else r["bytes"] / (m["us"] * 1e-6) * 1e-9
                comparison.append({"name": r["name"], "minidl_us": m["us"], "minidl_gb_per_s": mg,
                                   "minidl_time": m["how"], "torch_us": r["time_us"],
                                   "torch_gb_per_s": r["gb_per_s"], "torch_over_minidl": ratio})
                print("%-34s %11.1f %8.1f %11.1f %8.1f %13.2f"
                      % (r["name"], m["us"], mg, r["time_us"], r["gb_per_s"], ratio))
            prefix = dev + "/"
            matched = {c["name"] for c in comparison} | set(torch_only)
            minidl_only = sorted(k for k in mk if k.startswith(prefix) and k not in matched)
            if torch_only:
                print("no minidl entry for: %s" % ", ".join(torch_only))
            if minidl_only:
                print("minidl only (no PyTorch peer here): %s" % ", ".join(minidl_only))
            if not comparison:
                print("nothing matched (different device or --quick sizes?)")
            out["minidl"] = {"file": os.path.basename(args.minidl), "context": mctx,
                             "comparison": comparison, "no_minidl_entry": torch_only,
                             "minidl_only": minidl_only}

    if args.out:
        _common.write_json(args.out, out)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
