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

Runs with whichever python has torch: if `import torch` fails it re-executes itself with
/usr/bin/python3 (Debian's python3-torch) when that is another interpreter.
"""
from __future__ import annotations

import argparse
import datetime
import inspect
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    _alt = "/usr/bin/python3"
    if (os.environ.get("MINIDL_PEER_REEXEC") != "1" and os.path.exists(_alt)
            and os.path.realpath(sys.executable) != os.path.realpath(_alt)):
        os.environ["MINIDL_PEER_REEXEC"] = "1"
        os.execv(_alt, [_alt] + sys.argv)
    sys.stderr.write("torch_mlp.py: PyTorch is not importable by %s%s\n"
                     % (sys.executable, "" if not os.path.exists(_alt) else " nor by " + _alt))
    sys.exit(3)

FEATURES, HIDDEN1, HIDDEN2, CLASSES = 784, 256, 128, 10
BATCHES = [128, 1024]
OPTIMIZERS = ["adam", "sgd"]
STEPS_PER_SAMPLE_CUDA = 50  # the cuda/..._x50 cases
SWEEP_ENVS = [
    ("default", {}),
    ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("OPENBLAS_NUM_THREADS=1", {"OPENBLAS_NUM_THREADS": "1"}),
    ("PASSIVE+OPENBLAS_NUM_THREADS=1", {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}),
]
SWEEP_THREADS = [1, 2]
ENV_VARS = ["OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS", "LD_LIBRARY_PATH"]


def step_flops(b):
    """GEMM FLOPs of one step (as minidl's counter): forward, dW, and dx except the first layer."""
    l1, l2, l3 = FEATURES * HIDDEN1, HIDDEN1 * HIDDEN2, HIDDEN2 * CLASSES
    return (2 * (l1 + l2 + l3) * 2 + 2 * (l2 + l3)) * b


# ---------------------------------------------------------------------------- the step
def make_optimizer(kind, impl, params):
    kwargs = {}
    if impl == "foreach":
        kwargs["foreach"] = True
    elif impl == "fused":
        kwargs["fused"] = True
    if kind == "adam":
        return torch.optim.Adam(params, lr=1e-3, **kwargs)
    return torch.optim.SGD(params, lr=1e-2, momentum=0.9, **kwargs)


def optimizer_impls(kind, dev):
    """The implementations of torch.optim.<kind> this torch accepts on `dev`."""
    cls = torch.optim.Adam if kind == "adam" else torch.optim.SGD
    sig = inspect.signature(cls.__init__).parameters
    impls = ["default"]
    if "foreach" in sig:
        impls.append("foreach")
    if "fused" in sig:
        impls.append("fused")
    ok = []
    for impl in impls:  # probe: fused is CUDA-only in older releases
        try:
            p = torch.nn.Parameter(torch.zeros(4, device=dev))
            p.grad = torch.ones(4, device=dev)
            make_optimizer(kind, impl, [p]).step()
            ok.append(impl)
        except (RuntimeError, ValueError, TypeError):
            pass
    return ok


class MlpStep:
    def __init__(self, dev, kind, impl, batch, seed=1):
        torch.manual_seed(seed)
        self.model = nn.Sequential(
            nn.Linear(FEATURES, HIDDEN1), nn.ReLU(),
            nn.Linear(HIDDEN1, HIDDEN2), nn.ReLU(),
            nn.Linear(HIDDEN2, CLASSES)).to(dev)
        self.opt = make_optimizer(kind, impl, self.model.parameters())
        g = torch.Generator(device="cpu").manual_seed(7)
        self.x = torch.randn(batch, FEATURES, generator=g).to(dev)
        self.y = torch.randint(0, CLASSES, (batch,), generator=g).to(dev)
        self.loss = None

    def run(self):
        self.opt.zero_grad(set_to_none=True)
        self.loss = F.cross_entropy(self.model(self.x), self.y)
        self.loss.backward()
        self.opt.step()


# ---------------------------------------------------------------------------- timing
def time_cpu(step, warmup, min_seconds, samples):
    """Seconds per step: `samples` timed runs of k steps each, k chosen so a run takes
    about min_seconds / samples; returns the per-step time of every run."""
    for _ in range(warmup):
        step.run()
    # Calibrate on a run of steps, not one: a single step is noisy where cores are shared.
    target = min_seconds / samples
    n, t0 = 0, time.perf_counter()
    while True:
        step.run()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min(0.25, target) or n >= 1000:
            break
    one = max(elapsed / n, 1e-6)
    k = max(1, int(round(target / one)))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(k):
            step.run()
        times.append((time.perf_counter() - t0) / k)
    return times, k


def time_cuda(step, warmup, repeat, steps_per_sample):
    for _ in range(warmup):
        step.run()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeat):
        start.record()
        for _ in range(steps_per_sample):
            step.run()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e-3 / steps_per_sample)
    return times


# ---------------------------------------------------------------------------- minidl JSON
_SUFFIX = re.compile(r"^(manual_time|real_time|process_time|min_time:.*|min_warmup_time:.*|"
                     r"iterations:.*|repeats:.*|threads:.*)$")


def normalize_name(name):
    """'cuda/mlp_adam/128/manual_time' -> 'cuda/mlp_adam/128'."""
    return "/".join(p for p in name.split("/") if not _SUFFIX.match(p))


def load_minidl(path):
    """name -> {'ips': images/s, 'how': str} or {'error': str}; and the JSON's context."""
    with open(path) as f:
        data = json.load(f)
    groups = {}
    for b in data.get("benchmarks", []):
        groups.setdefault(normalize_name(b.get("run_name") or b.get("name", "")), []).append(b)
    result = {}
    for key, entries in groups.items():
        bad = [b for b in entries if b.get("error_occurred")]
        if bad and len(bad) == len(entries):
            result[key] = {"error": bad[0].get("error_message", "error")}
            continue
        ok = [b for b in entries if not b.get("error_occurred") and "images_per_second" in b]
        aggs = {b.get("aggregate_name"): b for b in ok if b.get("run_type") == "aggregate"}
        runs = [b for b in ok if b.get("run_type", "iteration") == "iteration"]
        if "median" in aggs:
            ips, how = aggs["median"]["images_per_second"], "median of %d repetitions" % len(runs)
        elif runs:
            ips = statistics.median(b["images_per_second"] for b in runs)
            how = "one run" if len(runs) == 1 else "median of %d runs" % len(runs)
        else:
            continue
        result[key] = {"ips": ips, "how": how,
                       "runs": [b["images_per_second"] for b in runs]}
    return result, data.get("context", {})


def compare(results, minidl_path, dev, title):
    """Prints minidl vs torch per case; returns the comparison for the JSON."""
    print()
    try:
        mk, mctx = load_minidl(minidl_path)
    except (OSError, ValueError) as e:
        print("minidl JSON %s unreadable: %s" % (minidl_path, e))
        return None
    keys = ["omp_max_threads", "env_OMP_WAIT_POLICY", "env_OMP_NUM_THREADS", "loadavg_at_start",
            "minidl_gpu"]
    print("minidl (%s: %s) vs %s; minidl/torch > 1: minidl is faster"
          % (os.path.basename(minidl_path),
             ", ".join("%s=%s" % (k, mctx[k]) for k in keys if k in mctx), title))
    print("%-26s %14s %14s %-40s %12s" % ("case", "minidl img/s", "torch img/s", "torch config",
                                          "minidl/torch"))
    comparison, missing = [], []
    for r in results:
        m = mk.get(r["name"])
        if m is None or "ips" not in r:
            missing.append(r["name"])
            continue
        if "error" in m:
            print("%-26s minidl: %s" % (r["name"], m["error"]))
            missing.append(r["name"])
            continue
        ratio = m["ips"] / r["ips"] if r["ips"] > 0 else float("nan")
        comparison.append({"name": r["name"], "minidl_images_per_second": m["ips"],
                           "minidl_how": m["how"], "torch_images_per_second": r["ips"],
                           "torch_config": r.get("config", r.get("impl")),
                           "minidl_over_torch": ratio})
        print("%-26s %14.0f %14.0f %-40s %12.2f" % (r["name"], m["ips"], r["ips"],
                                                    r.get("config", r.get("impl", ""))[:40], ratio))
    only = sorted(k for k in mk if k.startswith(dev + "/") and k not in {r["name"] for r in results})
    if missing:
        print("no minidl entry for: %s" % ", ".join(missing))
    if only:
        print("minidl only (no PyTorch peer here): %s" % ", ".join(only))
    return {"file": os.path.basename(minidl_path), "context": mctx, "comparison": comparison,
            "no_minidl_entry": missing, "minidl_only": only}


# ---------------------------------------------------------------------------- environment
def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def mapped_blas():
    """The BLAS / LAPACK / OpenMP files this process has mapped (real paths)."""
    found = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and re.search(r"blas|lapack|libgomp|libomp|mkl|dnnl", parts[5]):
                    found.add(os.path.realpath(parts[5]))
    except OSError:
        pass
    return sorted(found)


def blas_choices():
    """(name, LD_LIBRARY_PATH prefix or None) for the BLAS builds present on this machine."""
    arch = "%s-linux-gnu" % platform.machine()
    base = "/usr/lib/" + arch
    out = [("system", None)]
    for name, dirs in [("openblas-pthread", [base + "/openblas-pthread"]),
                       ("openblas-openmp", [base + "/openblas-openmp"]),
                       ("reference", [base + "/blas", base + "/lapack"])]:
        if os.path.exists(os.path.join(dirs[0], "libblas.so.3")):
            out.append((name, ":".join(d for d in dirs if os.path.isdir(d))))
    return out


def system_blas_alternative():
    arch = "%s-linux-gnu" % platform.machine()
    try:
        return os.path.realpath("/usr/lib/%s/libblas.so.3" % arch)
    except OSError:
        return "?"


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


# ---------------------------------------------------------------------------- one configuration
def run_cases(args, dev):
    cases = []
    for batch in ([128, 1024] if not args.quick else [128]):
        for kind in OPTIMIZERS:
            cases.append(("%s/mlp_%s/%d" % (dev, kind, batch), kind, batch, 1))
            if dev == "cuda":
                cases.append(("%s/mlp_%s_x%d/%d" % (dev, kind, STEPS_PER_SAMPLE_CUDA, batch), kind,
                              batch, STEPS_PER_SAMPLE_CUDA))
    if args.filter:
        cases = [c for c in cases if re.search(args.filter, c[0])]
    impls = {kind: optimizer_impls(kind, dev) for kind in OPTIMIZERS}
    if args.impl != "all":
        impls = {k: [i for i in v if i == args.impl] for k, v in impls.items()}
    results = []
    print("%-26s %-8s %12s %12s %10s %9s %8s" % ("case", "impl", "img/s", "median us", "min us",
                                                 "GFLOP/s", "samples"))
    for cname, kind, batch, steps in cases:
        per_impl = []
        for impl in impls[kind]:
            try:
                step = MlpStep(dev, kind, impl, batch)
                if dev == "cuda":
                    times = time_cuda(step, args.warmup or 10, args.repeat or (50 if steps == 1 else 10),
                                      steps)
                    k = steps
                else:
                    times, k = time_cpu(step, args.warmup or 5,
                                        args.seconds if args.seconds > 0 else (0.5 if args.quick else 2.0),
                                        args.repeat or (5 if args.quick else 7))
                loss = float(step.loss.item())
            except Exception as e:  # one broken case must not hide the rest
                print("%-26s %-8s ERROR %s: %s" % (cname, impl, type(e).__name__, e))
                per_impl.append({"impl": impl, "error": "%s: %s" % (type(e).__name__, e)})
                continue
            finally:
                step = None
                if dev == "cuda":
                    torch.cuda.synchronize()
            med = statistics.median(times)
            r = {"impl": impl, "us_per_step": med * 1e6, "min_us": min(times) * 1e6,
                 "max_us": max(times) * 1e6, "samples": len(times), "steps_per_sample": k,
                 "images_per_second": batch / med, "gflops": step_flops(batch) / med * 1e-9,
                 "loss": loss}
            per_impl.append(r)
            print("%-26s %-8s %12.0f %12.1f %10.1f %9.2f %8s" % (cname, impl, r["images_per_second"],
                                                                r["us_per_step"], r["min_us"], r["gflops"],
                                                                "%dx%d" % (len(times), k)))
            sys.stdout.flush()
        good = [p for p in per_impl if "error" not in p]
        res = {"name": cname, "optimizer": kind, "batch": batch, "steps_per_sample": steps,
               "impls": per_impl}
        if good:
            best = max(good, key=lambda p: p["images_per_second"])
            res.update({"ips": best["images_per_second"], "impl": best["impl"],
                        "us_per_step": best["us_per_step"]})
        results.append(res)
    return results


def context_for(dev, args):
    ctx = {
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": dev,
        "device_name": device_name(dev),
        "host": platform.node(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "threads": torch.get_num_threads(),
        "env": {v: os.environ.get(v) for v in ENV_VARS if os.environ.get(v) is not None},
        "loadavg_at_start": loadavg(),
        "quick": args.quick,
        "timing": ("CUDA events around 1 or 50 steps, synchronised after; median sample"
                   if dev == "cuda" else "time.perf_counter around runs of k steps; median run"),
    }
    if dev == "cpu":
        ctx["blas_mapped"] = mapped_blas()
        ctx["system_libblas"] = system_blas_alternative()
    return ctx


def single(args):
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("torch_mlp.py: --device cuda but torch.cuda.is_available() is False "
                         "(torch %s, built with CUDA %s)\n" % (torch.__version__, torch.version.cuda))
        return 2
    threads = args.threads
    if threads <= 0 and dev == "cpu":
        try:
            threads = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
        except ValueError:
            threads = 0
        if threads <= 0:
            try:
                threads = len(os.sched_getaffinity(0))
            except AttributeError:
                threads = os.cpu_count() or 1
    if threads > 0:
        torch.set_num_threads(threads)
    ctx = context_for(dev, args)
    print("PyTorch %s peer of minidl_bench_train on %s (%s%s); load %s; env %s"
          % (torch.__version__, ctx["device_name"], dev,
             ", %d threads" % torch.get_num_threads() if dev == "cpu" else ", CUDA %s" % torch.version.cuda,
             ctx["loadavg_at_start"], ctx["env"] or "{}"))
    if dev == "cpu":
        print("BLAS mapped: %s" % ", ".join(ctx["blas_mapped"]))
        if os.environ.get("MINIDL_PEER_SWEEP_CHILD") != "1":
            print("note: PyTorch's CPU speed here depends several-fold on OMP_WAIT_POLICY, "
                  "OPENBLAS_NUM_THREADS and --threads; --sweep finds its best configuration")
    results = run_cases(args, dev)
    ctx["blas_mapped"] = mapped_blas() if dev == "cpu" else None
    ctx["loadavg_at_end"] = loadavg()
    out = {"context": ctx, "cases": results}
    if args.minidl:
        out["minidl"] = compare(results, args.minidl, dev,
                                "PyTorch (best optimizer implementation per case)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print("\nwrote %s" % args.out)
    return 1 if any("ips" not in r for r in results) else 0


# ---------------------------------------------------------------------------- the sweep
def sweep(args, passthrough):
    if args.device != "cpu":
        sys.stderr.write("torch_mlp.py: --sweep is for --device cpu\n")
        return 2
    blas = blas_choices() if args.sweep_blas else [("system", None)]
    print("PyTorch %s CPU configuration sweep; system libblas.so.3 -> %s; load %s"
          % (torch.__version__, system_blas_alternative(), loadavg()))
    configs = []
    for (bname, ldpath), (ename, env), threads in itertools.product(blas, SWEEP_ENVS, SWEEP_THREADS):
        label = "%s, %d thr%s" % (ename, threads, "" if bname == "system" else ", blas=" + bname)
        configs.append((label, bname, ldpath, env, threads))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, bname, ldpath, env, threads) in enumerate(configs):
            env_full = dict(os.environ)
            for v in ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
                env_full.pop(v, None)
            env_full.update(env)
            env_full["MINIDL_PEER_REEXEC"] = "1"
            env_full["MINIDL_PEER_SWEEP_CHILD"] = "1"
            if ldpath:
                env_full["LD_LIBRARY_PATH"] = ldpath + (
                    ":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")
            out = os.path.join(tmp, "c%d.json" % i)
            cmd = [sys.executable, os.path.abspath(__file__), "--device", "cpu", "--threads",
                   str(threads), "--out", out] + passthrough
            print("\n=== [%d/%d] %s" % (i + 1, len(configs), label))
            sys.stdout.flush()
            t0 = time.time()
            p = subprocess.run(cmd, env=env_full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            sys.stdout.write("".join("    " + l + "\n" for l in p.stdout.splitlines()))
            rec = {"config": label, "blas": bname, "env": env, "threads": threads, "rc": p.returncode,
                   "seconds": time.time() - t0}
            try:
                with open(out) as f:
                    data = json.load(f)
                rec["cases"] = data["cases"]
                rec["context"] = data["context"]
            except (OSError, ValueError):
                rec["cases"] = []
            runs.append(rec)
    names = []
    for r in runs:
        for c in r["cases"]:
            if c["name"] not in names:
                names.append(c["name"])
    # Table: configuration x case, images/s (best optimizer implementation).
    print("\nimages/s per configuration (best optimizer implementation; load at start):")
    print("%-52s %s" % ("configuration", " ".join("%16s" % n.replace("cpu/mlp_", "") for n in names)))
    for r in runs:
        by = {c["name"]: c for c in r["cases"]}
        cells = []
        for n in names:
            c = by.get(n)
            cells.append("%16s" % ("%.0f" % c["ips"] if c and "ips" in c else "-"))
        print("%-52s %s   load %s" % (r["config"][:52], " ".join(cells),
                                      r.get("context", {}).get("loadavg_at_start", "?")))
    best = []
    for n in names:
        cand = [(c["ips"], r["config"], c) for r in runs for c in r["cases"] if c["name"] == n and "ips" in c]
        if not cand:
            continue
        ips, cfg, c = max(cand, key=lambda t: t[0])
        best.append({"name": n, "ips": ips, "config": "%s [%s]" % (cfg, c["impl"]),
                     "us_per_step": c["us_per_step"]})
    print("\nbest PyTorch configuration per case:")
    for b in best:
        print("  %-24s %10.0f img/s  %s" % (b["name"], b["ips"], b["config"]))
    blas_seen = sorted({p for r in runs for p in r.get("context", {}).get("blas_mapped", [])
                        if re.search("blas|lapack", p)})
    print("BLAS files mapped by the children: %s" % ", ".join(blas_seen))
    out = {"context": {"peer": "pytorch", "mode": "sweep", "torch_version": torch.__version__,
                       "device": "cpu", "device_name": device_name("cpu"),
                       "system_libblas": system_blas_alternative(), "host": platform.node(),
                       "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
           "configs": runs, "best": best}
    if args.minidl:
        out["minidl"] = compare(best, args.minidl, "cpu", "PyTorch's best configuration per case")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print("\nwrote %s" % args.out)
    return 0 if best else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"],
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads (default on cpu: $OMP_NUM_THREADS, else every CPU "
                         "this process may use, as minidl's OpenMP; torch's own default may be lower)")
    ap.add_argument("--quick", action="store_true", help="batch 128 only, short timings: a smoke test")
    ap.add_argument("--repeat", type=int, default=0,
                    help="timed samples per case (default cuda: 50 single steps, 10 x50 runs; cpu: 7)")
    ap.add_argument("--warmup", type=int, default=0, help="untimed steps first (default 10 cuda, 5 cpu)")
    ap.add_argument("--seconds", type=float, default=0.0,
                    help="cpu: total timed seconds per case and implementation (default 2, quick 0.5)")
    ap.add_argument("--impl", default="all", choices=["all", "default", "foreach", "fused"],
                    help="optimizer implementation(s) to time (default: every one available)")
    ap.add_argument("--filter", default="", help="only cases whose name matches this regex")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--minidl", help="minidl_bench_train JSON to compare with")
    ap.add_argument("--sweep", action="store_true",
                    help="cpu: run every environment x threads configuration in a subprocess")
    ap.add_argument("--sweep-blas", action="store_true",
                    help="with --sweep: also every BLAS build, via LD_LIBRARY_PATH per subprocess")
    args, unknown = ap.parse_known_args()
    if unknown:  # MINIDL_PEER_ARGS goes to every peer script; ignore what is meant for others
        sys.stderr.write("torch_mlp.py: ignoring unknown arguments %s\n" % " ".join(unknown))
    if args.sweep:
        passthrough = []
        for flag in ("quick",):
            if getattr(args, flag):
                passthrough.append("--" + flag)
        for flag in ("repeat", "warmup", "seconds", "impl", "filter"):
            v = getattr(args, flag)
            if v and v != "all":
                passthrough += ["--" + flag, str(v)]
        return sweep(args, passthrough)
    return single(args)


if __name__ == "__main__":
    sys.exit(main())
