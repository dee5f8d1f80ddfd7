#!/usr/bin/env python3
"""PyTorch peer of minidl_bench_kernels: the same activation and loss work, timed the same way.

Cases (named like minidl's, `<device>/<case>/<size>`):

  <dev>/copy_ref/67108864          dst.copy_(src): the copy yardstick (2 n 4 bytes)
  <dev>/relu_forward/67108864      torch.relu(x)                          (2 n 4 bytes)
  <dev>/relu_backward/67108864     aten.threshold_backward(dy, x, 0)      (3 n 4 bytes)
  <dev>/sigmoid_forward/67108864   torch.sigmoid(x)                       (2 n 4 bytes)
  <dev>/sigmoid_backward/67108864  aten.sigmoid_backward(dy, y)           (3 n 4 bytes)
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
    sys.stderr.write("torch_kernels.py: PyTorch is not importable by %s%s\n"
                     % (sys.executable, "" if not os.path.exists(_alt) else " nor by " + _alt))
    sys.exit(3)

ELEMENTWISE_N = 1 << 26
CE_SHAPES = [(4096, 1000), (65536, 10), (128, 10)]
QUICK_N = 1 << 20
QUICK_CE_SHAPES = [(512, 100), (4096, 10), (128, 10)]


# ---------------------------------------------------------------------------- timing
def time_calls(fn, device, warmup, repeat, before=None):
    """Seconds per call of fn() for `repeat` calls after `warmup` untimed ones.

    `before`, if given, runs before each call outside the timed region."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    times = []
    if device == "cuda":
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        for _ in range(repeat):
            if before:
                before()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) * 1e-3)
    else:
        for _ in range(repeat):
            if before:
                before()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


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

    return [
        ("%s/copy_ref/%d" % (dev, n), 2 * n4, copy_ref),
        ("%s/relu_forward/%d" % (dev, n), 2 * n4, relu_forward),
        ("%s/relu_backward/%d" % (dev, n), 3 * n4, relu_backward),
        ("%s/sigmoid_forward/%d" % (dev, n), 2 * n4, sigmoid_forward),
        ("%s/sigmoid_backward/%d" % (dev, n), 3 * n4, sigmoid_backward),
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
_SUFFIX = re.compile(r"^(manual_time|real_time|process_time|min_time:.*|min_warmup_time:.*|"
                     r"iterations:.*|repeats:.*|threads:.*)$")
_UNIT_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def normalize_name(name):
    """'cuda/softmax_ce/4096x1000/manual_time' -> 'cuda/softmax_ce/4096x1000';
    also 'dev/case/4096/1000' (Google Benchmark Args) -> 'dev/case/4096x1000'."""
    parts = [p for p in name.split("/") if not _SUFFIX.match(p)]
    if len(parts) > 3 and all(p.isdigit() for p in parts[2:]):
        parts = parts[:2] + ["x".join(parts[2:])]
    return "/".join(parts)


def load_minidl(path):
    """name -> {'us': float, 'gbps': float|None, 'how': str} or {'error': str}."""
    with open(path) as f:
        data = json.load(f)
    groups = {}
    for b in data.get("benchmarks", []):
        key = normalize_name(b.get("run_name") or b.get("name", ""))
        groups.setdefault(key, []).append(b)
    result = {}
    for key, entries in groups.items():
        bad = [b for b in entries if b.get("error_occurred")]
        if bad and len(bad) == len(entries):
            result[key] = {"error": bad[0].get("error_message", "error")}
            continue
        ok = [b for b in entries if not b.get("error_occurred") and "real_time" in b]
        aggs = {b.get("aggregate_name"): b for b in ok if b.get("run_type") == "aggregate"}
        pick = aggs.get("median") or aggs.get("mean")
        if pick is not None:
            chosen, how = [pick], "%s of repetitions" % pick.get("aggregate_name")
        else:
            chosen = [b for b in ok if b.get("run_type", "iteration") == "iteration"]
            how = "mean over iterations" if len(chosen) == 1 else "median of %d runs" % len(chosen)
        if not chosen:
            continue
        us = statistics.median(b["real_time"] * _UNIT_US.get(b.get("time_unit", "ns"), 1e-3)
                               for b in chosen)
        gbps = None
        bps = [b["bytes_per_second"] for b in chosen if "bytes_per_second" in b]
        if bps:
            gbps = statistics.median(bps) * 1e-9
        elif all("GB/s" in b for b in chosen):
            gbps = statistics.median(b["GB/s"] for b in chosen)
        result[key] = {"us": us, "gbps": gbps, "how": how}
    return result, data.get("context", {})


# ---------------------------------------------------------------------------- main
def device_name(dev):
    if dev == "cuda":
        return torch.cuda.get_device_name(torch.cuda.current_device())
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"],
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads for CPU cases (default: what OpenMP gives minidl: "
                         "$OMP_NUM_THREADS, else every CPU this process may use; torch's own "
                         "default is the physical cores)")
    ap.add_argument("--repeat", type=int, default=0,
                    help="timed calls per case (default 50 on cuda, 10 on cpu)")
    ap.add_argument("--warmup", type=int, default=0, help="untimed calls first (default 5 cuda, 2 cpu)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (2^20 elements; CE 512x100, 4096x10, 128x10): a smoke test")
    ap.add_argument("--outputs", choices=["auto", "new", "preallocated"], default="auto",
                    help="elementwise outputs: new per call (torch.relu(x)) or preallocated "
                         "(out= variants, like minidl); auto: new on cuda, preallocated on cpu")
    ap.add_argument("--filter", default="", help="only cases whose name matches this regex")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--minidl", help="minidl_bench_kernels JSON to compare with")
    args = ap.parse_args()

    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("torch_kernels.py: --device cuda but torch.cuda.is_available() is False "
                         "(torch %s, built with CUDA %s)\n" % (torch.__version__, torch.version.cuda))
        return 2
    if dev == "cpu":
        threads = args.threads
        if threads <= 0:
            try:
                threads = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
            except ValueError:
                threads = 0
        if threads <= 0:
            try:
                threads = len(os.sched_getaffinity(0))
            except AttributeError:
                threads = os.cpu_count() or 1
        torch.set_num_threads(threads)
    elif args.threads > 0:
        torch.set_num_threads(args.threads)
    repeat = args.repeat or (50 if dev == "cuda" else 10)
    warmup = args.warmup or (5 if dev == "cuda" else 2)
    n = QUICK_N if args.quick else ELEMENTWISE_N
    shapes = QUICK_CE_SHAPES if args.quick else CE_SHAPES
    prealloc = args.outputs == "preallocated" or (args.outputs == "auto" and dev == "cpu")
    cases = elementwise_cases(dev, n, prealloc) + ce_cases(dev, shapes)
    if args.filter:
        cases = [c for c in cases if re.search(args.filter, c[0])]

    name = device_name(dev)
    context = {
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": dev,
        "device_name": name,
        "host": platform.node(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
    print("%-34s %11s %11s %9s   %s" % ("case", "median us", "min us", "GB/s", "op"))

    results = []
    for cname, nbytes, setup in cases:
        try:
            fn, before, op = setup()
            times = time_calls(fn, dev, warmup, repeat, before)
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
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print("\nwrote %s" % args.out)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
