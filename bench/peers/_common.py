"""Code shared by the PyTorch peers in bench/peers/ (not a peer itself: tools/gpu-runner.sh
runs every bench/peers/*.py except those whose name starts with `_`).

  import_torch(script)      import torch from the project's .venv (PyTorch 2.x, tools/setup.sh
                            --peers) when it has one, else Debian's python3-torch
                            (/usr/bin/python3); --torch venv|debian picks one
  torch_build/_summary      which torch ran: version, BLAS, oneDNN, threads (each peer's JSON)
  peer_parser / parse_args  the options every peer takes (--device, --threads, --repeat,
                            --warmup, --filter, --out, --minidl), unknown ones ignored with a
                            warning: tools/gpu-runner.sh passes MINIDL_PEER_ARGS to every peer
  set_cpu_threads           torch.set_num_threads as minidl's OpenMP would pick it
  time_calls                per-call times (CUDA events or time.perf_counter)
  time_steps_cpu/_cuda      per-step times of a training step (the train peers)
  load_minidl               a minidl Google Benchmark JSON, grouped by case name
  compare_images_per_second minidl vs torch images/s table (the train peers)
  sweep                     the CPU configuration sweep of the train peers
  device_name, loadavg, utc_now, mapped_blas, write_json

The peers put this file's folder first on sys.path by running as scripts
(`python3 bench/peers/torch_x.py`), so `import _common` finds it.
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

torch = None  # set by import_torch


# ---------------------------------------------------------------------------- torch
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(REPO, ".venv")
DEBIAN_PYTHON = "/usr/bin/python3"
TORCH_CHOICES = ("auto", "venv", "debian")


def torch_choice():
    """Which torch the peer asked for: --torch auto|venv|debian on the command line (read here,
    before the parser exists: the parser needs torch), else $MINIDL_PEER_TORCH, else auto."""
    choice = os.environ.get("MINIDL_PEER_TORCH", "auto") or "auto"
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--torch" and i + 1 < len(argv):
            choice = argv[i + 1]
        elif a.startswith("--torch="):
            choice = a.split("=", 1)[1]
    if choice not in TORCH_CHOICES:
        sys.stderr.write("--torch / MINIDL_PEER_TORCH must be one of %s, got %r\n"
                         % (", ".join(TORCH_CHOICES), choice))
        sys.exit(2)
    return choice


def venv_has(module):
    """True when the project's .venv (tools/setup.sh) holds `module` (checked on disk: no
    interpreter started)."""
    lib = os.path.join(VENV, "lib")
    try:
        pys = [d for d in os.listdir(lib) if d.startswith("python")]
    except OSError:
        return False
    return any(os.path.exists(os.path.join(lib, d, "site-packages", module, "__init__.py"))
               for d in pys)


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def _reexec(python):
    os.environ["MINIDL_PEER_REEXEC"] = "1"
    sys.stdout.flush()
    os.execv(python, [python] + sys.argv)


def import_torch(script):
    """Returns the torch module, from the interpreter --torch / $MINIDL_PEER_TORCH names:
      auto    the project's .venv when it holds torch (tools/setup.sh --peers: PyTorch 2.x),
              else this interpreter, else /usr/bin/python3 (Debian's python3-torch 1.13)
      venv    the project's .venv only
      debian  /usr/bin/python3 (Debian's python3-torch) only
    Re-executes the calling script with the right interpreter (once: MINIDL_PEER_REEXEC marks
    the second try); exits with status 3 when the chosen torch cannot be imported."""
    global torch
    choice = torch_choice()
    venv_python = os.path.join(VENV, "bin", "python")
    if os.environ.get("MINIDL_PEER_REEXEC") != "1":
        if choice in ("auto", "venv") and not in_venv() and venv_has("torch"):
            _reexec(venv_python)
        if choice == "debian" and (sys.prefix != sys.base_prefix
                                   or os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
            _reexec(DEBIAN_PYTHON)
    try:
        import torch as _torch
    except ImportError:
        alt = DEBIAN_PYTHON
        if (choice == "auto" and os.environ.get("MINIDL_PEER_REEXEC") != "1" and os.path.exists(alt)
                and (sys.prefix != sys.base_prefix
                     or os.path.realpath(sys.executable) != os.path.realpath(alt))):
            _reexec(alt)
        sys.stderr.write("%s: PyTorch (--torch %s) is not importable by %s\n"
                         % (script, choice, sys.executable))
        sys.exit(3)
    torch = _torch
    return _torch


def torch_build():
    """Which torch produced the figures: version, where it was loaded from, its BLAS, oneDNN
    and threading as torch.__config__ reports them."""
    show = torch.__config__.show()
    info = {"version": torch.__version__, "python": sys.executable,
            "file": os.path.dirname(torch.__file__),
            "source": "venv" if in_venv() else "system",
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "mkldnn_available": bool(torch.backends.mkldnn.is_available()),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
            "config_show": show}
    m = re.search(r"BLAS_INFO=([^,\s]+)", show)
    info["blas"] = m.group(1) if m else None
    m = re.search(r"(?:oneDNN|MKL-DNN)[^\n]*?v[0-9][0-9.]*", show)
    info["onednn"] = re.sub(r"^.*?(oneDNN|MKL-DNN)", r"\1", m.group(0)).strip() if m else None
    try:
        info["parallel_info"] = torch.__config__.parallel_info()
    except AttributeError:
        pass
    return info


def torch_summary():
    """One line: torch version, source, BLAS, oneDNN, threads."""
    b = torch_build()
    return "torch %s (%s: %s; BLAS %s; %s; mkldnn %s; %d threads)" % (
        b["version"], b["source"], b["python"], b["blas"], b["onednn"] or "no oneDNN",
        "on" if b["mkldnn_available"] and b["mkldnn_enabled"] else "off", b["threads"])


def cuda_missing(script, dev):
    """True (after saying why on stderr) when --device cuda cannot run here."""
    if dev == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("%s: --device cuda but torch.cuda.is_available() is False "
                         "(torch %s, built with CUDA %s)\n"
                         % (script, torch.__version__, torch.version.cuda))
        return True
    return False


# ---------------------------------------------------------------------------- options
def peer_parser(doc, bench, threads_help, repeat_help, warmup_help):
    """An ArgumentParser with the options every peer takes; `bench` names the minidl
    executable whose JSON --minidl reads (minidl_bench_<area>)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"],
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help=threads_help)
    ap.add_argument("--repeat", type=int, default=0, help=repeat_help)
    ap.add_argument("--warmup", type=int, default=0, help=warmup_help)
    ap.add_argument("--filter", default="", help="only cases whose name matches this regex")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--minidl", help="%s JSON to compare with" % bench)
    ap.add_argument("--torch", choices=TORCH_CHOICES, default="auto",
                    help="which PyTorch: auto (the project's .venv when it has torch, else "
                         "Debian's), venv, or debian (/usr/bin/python3's python3-torch); "
                         "also $MINIDL_PEER_TORCH")
    return ap


def parse_args(ap, script):
    """ap.parse_known_args(), warning about (and ignoring) unknown arguments: MINIDL_PEER_ARGS
    goes to every peer script, so some of it may be meant for another one."""
    args, unknown = ap.parse_known_args()
    if unknown:
        sys.stderr.write("%s: ignoring unknown arguments %s\n" % (script, " ".join(unknown)))
    return args


def default_cpu_threads():
    """What OpenMP gives minidl: $OMP_NUM_THREADS, else every CPU this process may use."""
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
    except ValueError:
        threads = 0
    if threads <= 0:
        try:
            threads = len(os.sched_getaffinity(0))
        except AttributeError:
            threads = os.cpu_count() or 1
    return threads


def set_cpu_threads(dev, requested):
    """torch.set_num_threads: `requested` if > 0, else on the CPU default_cpu_threads()
    (torch's own default may be lower); on CUDA only an explicit request."""
    threads = requested
    if threads <= 0 and dev == "cpu":
        threads = default_cpu_threads()
    if threads > 0:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------- environment
def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
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


def write_json(path, obj, indent=2, announce=True):
    """Writes obj to path (a trailing newline when announce; the conv peer's files have none)."""
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        if announce:
            f.write("\n")
    if announce:
        print("\nwrote %s" % path)


# ---------------------------------------------------------------------------- timing
def time_calls(fn, dev, warmup, repeat, before=None):
    """Seconds per call of fn() for `repeat` calls after `warmup` untimed ones: on CUDA a
    torch.cuda.Event pair around each call, synchronised after it (like minidl's
    CudaEventTimer); on the CPU time.perf_counter. `before`, if given, runs before each call
    outside the timed region."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    times = []
    if dev == "cuda":
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


def time_steps_cpu(step, warmup, min_seconds, samples):
    """Seconds per step: `samples` timed runs of k steps each, k chosen so a run takes
    about min_seconds / samples; returns the per-step time of every run, and k."""
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


def time_steps_cuda(step, warmup, repeat, steps_per_sample):
    """Seconds per step: CUDA events around `steps_per_sample` steps, `repeat` times."""
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
UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def normalize_name(name):
    """'cuda/mlp_adam/128/manual_time' -> 'cuda/mlp_adam/128' (Google Benchmark's
    /manual_time, /real_time, /iterations:N... suffixes dropped)."""
    return "/".join(p for p in name.split("/") if not _SUFFIX.match(p))


class MinidlCase:
    """One minidl case's entries in a Google Benchmark JSON (all its repetitions).

    errors: the entries that failed (SkipWithError); runs: the iteration entries that did
    not fail and hold `field`, in file order; aggregates: aggregate_name -> entry (mean,
    median, stddev, cv, when run with --benchmark_repetitions)."""

    def __init__(self):
        self.entries, self.errors, self.runs, self.aggregates = [], [], [], {}

    def failed(self):
        """The error message when every entry failed, else None."""
        if self.errors and len(self.errors) == len(self.entries):
            return self.errors[0].get("error_message", "error")
        return None


def load_minidl(path, field, rename=normalize_name):
    """{case name: MinidlCase} and the JSON's context, for the entries holding `field`
    (e.g. real_time, images_per_second); names go through `rename`."""
    with open(path) as f:
        data = json.load(f)
    cases = {}
    for b in data.get("benchmarks", []):
        c = cases.setdefault(rename(b.get("run_name") or b.get("name", "")), MinidlCase())
        c.entries.append(b)
        if b.get("error_occurred"):
            c.errors.append(b)
        elif field in b:
            if b.get("run_type") == "aggregate":
                c.aggregates[b.get("aggregate_name")] = b
            elif b.get("run_type", "iteration") == "iteration":
                c.runs.append(b)
    return cases, data.get("context", {})


# ---------------------------------------------------------------------------- training peers
def load_minidl_images_per_second(path):
    """name -> {'ips': images/s, 'how': str, 'runs': [...]} or {'error': str}; and the
    JSON's context. images/s is the median of the repetitions when there are some."""
    cases, ctx = load_minidl(path, "images_per_second")
    result = {}
    for key, c in cases.items():
        if c.failed() is not None:
            result[key] = {"error": c.failed()}
            continue
        if "median" in c.aggregates:
            ips = c.aggregates["median"]["images_per_second"]
            how = "median of %d repetitions" % len(c.runs)
        elif c.runs:
            ips = statistics.median(b["images_per_second"] for b in c.runs)
            how = "one run" if len(c.runs) == 1 else "median of %d runs" % len(c.runs)
        else:
            continue
        result[key] = {"ips": ips, "how": how, "runs": [b["images_per_second"] for b in c.runs]}
    return result, ctx


def compare_images_per_second(results, minidl_path, dev, title, family=None, minidl_names=None):
    """Prints minidl vs torch images/s per case; returns the comparison for the JSON.

    results: the torch cases ({'name', 'ips', 'config' or 'impl'}); family: a regex the
    minidl cases this peer covers match (the others are not listed as 'minidl only');
    minidl_names(name): the minidl cases a torch case is compared with (default: the same
    name), e.g. one per convolution backend."""
    print()
    try:
        mk, mctx = load_minidl_images_per_second(minidl_path)
    except (OSError, ValueError) as e:
        print("minidl JSON %s unreadable: %s" % (minidl_path, e))
        return None
    keys = ["omp_max_threads", "env_OMP_WAIT_POLICY", "env_OMP_NUM_THREADS", "loadavg_at_start",
            "minidl_gpu"]
    print("minidl (%s: %s) vs %s; minidl/torch > 1: minidl is faster"
          % (os.path.basename(minidl_path),
             ", ".join("%s=%s" % (k, mctx[k]) for k in keys if k in mctx), title))
    width = max([26] + [len(n) for r in results
                        for n in (minidl_names(r["name"]) if minidl_names else [r["name"]])])
    print("%-*s %14s %14s %-40s %12s" % (width, "case", "minidl img/s", "torch img/s",
                                         "torch config", "minidl/torch"))
    comparison, missing, matched = [], [], set()
    for r in results:
        names = [n for n in (minidl_names(r["name"]) if minidl_names else [r["name"]]) if n in mk]
        if not names or "ips" not in r:
            missing.append(r["name"])
            continue
        for name in names:
            m = mk[name]
            matched.add(name)
            if "error" in m:
                print("%-*s minidl: %s" % (width, name, m["error"]))
                missing.append(name)
                continue
            ratio = m["ips"] / r["ips"] if r["ips"] > 0 else float("nan")
            comparison.append({"name": name, "minidl_images_per_second": m["ips"],
                               "minidl_how": m["how"], "torch_images_per_second": r["ips"],
                               "torch_config": r.get("config", r.get("impl")),
                               "minidl_over_torch": ratio})
            if name != r["name"]:
                comparison[-1]["torch_case"] = r["name"]
            print("%-*s %14.0f %14.0f %-40s %12.2f"
                  % (width, name, m["ips"], r["ips"], r.get("config", r.get("impl", ""))[:40], ratio))
    only = sorted(k for k in mk if k.startswith(dev + "/") and k not in matched
                  and (family is None or re.search(family, k))
                  and k not in {r["name"] for r in results})
    if missing:
        print("no minidl entry for: %s" % ", ".join(missing))
    if only:
        print("minidl only (no PyTorch peer here): %s" % ", ".join(only))
    return {"file": os.path.basename(minidl_path), "context": mctx, "comparison": comparison,
            "no_minidl_entry": missing, "minidl_only": only}


def make_optimizer(kind, impl, params):
    """torch.optim.Adam(lr=1e-3) or SGD(lr=1e-2, momentum=0.9), as minidl's train benchmark;
    impl: default, foreach or fused."""
    kwargs = {}
    if impl == "foreach":
        kwargs["foreach"] = True
    elif impl == "fused":
        kwargs["fused"] = True
    if kind == "adam":
        return torch.optim.Adam(params, lr=1e-3, **kwargs)
    return torch.optim.SGD(params, lr=1e-2, momentum=0.9, **kwargs)


class TrainStep:
    """One training step of `model` as minidl's train benchmark takes it: zero_grad, softmax
    cross-entropy forward, backward, optimizer step, on one fixed synthetic batch (N(0, 1)
    inputs [batch, features], labels in 0..classes-1) already on `dev`."""

    def __init__(self, model, dev, kind, impl, batch, features, classes):
        self.model = model.to(dev).train()
        self.opt = make_optimizer(kind, impl, self.model.parameters())
        g = torch.Generator(device="cpu").manual_seed(7)
        self.x = torch.randn(batch, features, generator=g).to(dev)
        self.y = torch.randint(0, classes, (batch,), generator=g).to(dev)
        self.loss = None

    def run(self):
        self.opt.zero_grad(set_to_none=True)
        self.loss = torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        self.loss.backward()
        self.opt.step()


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


# The CPU configuration sweep of the train peers: environments x intra-op threads.
SWEEP_ENVS = [
    ("default", {}),
    ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("OPENBLAS_NUM_THREADS=1", {"OPENBLAS_NUM_THREADS": "1"}),
    ("PASSIVE+OPENBLAS_NUM_THREADS=1", {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}),
]
SWEEP_THREADS = [1, 2]


def sweep(args, passthrough, script_path, case_prefix, compare):
    """Re-runs script_path in one subprocess per configuration (environment x threads, x BLAS
    build with args.sweep_blas; torch reads these when it loads, hence the subprocesses),
    prints each configuration's images/s and the best per case, and compares minidl with
    that best through compare(best, minidl_path, title). case_prefix is dropped from the
    table's column names."""
    script = os.path.basename(script_path)
    if args.device != "cpu":
        sys.stderr.write("%s: --sweep is for --device cpu\n" % script)
        return 2
    blas = blas_choices() if args.sweep_blas else [("system", None)]
    print("PyTorch %s CPU configuration sweep; system libblas.so.3 -> %s; load %s"
          % (torch.__version__, system_blas_alternative(), loadavg()))
    print(torch_summary())
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
            cmd = [sys.executable, os.path.abspath(script_path), "--device", "cpu", "--threads",
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
    print("%-52s %s" % ("configuration", " ".join("%16s" % n.replace(case_prefix, "") for n in names)))
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
                       "torch_build": torch_build(),
                       "device": "cpu", "device_name": device_name("cpu"),
                       "system_libblas": system_blas_alternative(), "host": platform.node(),
                       "date": utc_now()},
           "configs": runs, "best": best}
    if args.minidl:
        out["minidl"] = compare(best, args.minidl, "PyTorch's best configuration per case")
    if args.out:
        write_json(args.out, out)
    return 0 if best else 1


def sweep_passthrough(args, flags=("quick", "no_compile"),
                      options=("repeat", "warmup", "seconds", "impl", "filter", "contended")):
    """The single-run options of `args` a sweep hands to each child."""
    passthrough = []
    for flag in flags:
        if getattr(args, flag):
            passthrough.append("--" + flag.replace("_", "-"))
    for flag in options:
        v = getattr(args, flag)
        if v and v != "all":
            passthrough += ["--" + flag, str(v)]
    return passthrough


TRAIN_ENV_VARS = ["OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS",
                  "MKL_NUM_THREADS", "LD_LIBRARY_PATH"]


class BusyLoop:
    """The competing busy process of the contended cases, as minidl's (bench/busy_loop.hpp):
    `/bin/sh -c 'while :; do :; done'`, pinned to the last CPU this process may use or not;
    started before the case's warm-up, killed after its timing."""

    def __init__(self, pinned):
        self.pinned, self.proc, self.cpu = pinned, None, None
        if pinned:
            try:
                self.cpu = max(os.sched_getaffinity(0))
            except (AttributeError, ValueError):
                self.cpu = None

    def __enter__(self):
        cpu = self.cpu

        def pin():
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
        self.proc = subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"], preexec_fn=pin)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        return False


CONTENTION = {"": None, "_contended": False, "_contended_pinned": True}


def contended_names(args):
    """The contention suffixes to time: "" (quiet) and, with --contended, _contended (busy
    loop unpinned) and _contended_pinned."""
    mode = getattr(args, "contended", None)
    if not mode:
        return [""]
    return [""] + {"unpinned": ["_contended"], "pinned": ["_contended_pinned"],
                   "both": ["_contended", "_contended_pinned"]}[mode]


def with_suffix(name, suffix):
    dev, case, batch = name.split("/")
    return "%s/%s%s/%s" % (dev, case, suffix, batch)


def compile_available(dev):
    """torch.compile exists (PyTorch 2.x) and is not switched off (--no-compile)."""
    return hasattr(torch, "compile") and dev == "cpu"


def _time_case(args, dev, cname, kind, impl, batch, steps, make_step, step_flops, compiled,
               busy=None):
    """One timed configuration of a case: a dict with images_per_second etc., or with error.
    busy: None (quiet) or the pinning of a BusyLoop running beside the warm-up and timing."""
    step = None
    loop = None
    try:
        step = make_step(dev, kind, impl, batch)
        if compiled:
            # forward and backward through TorchInductor (AOTAutograd); the optimizer step
            # stays eager with the impl that was fastest uncompiled.
            step.model = torch.compile(step.model)
        if busy is not None:
            loop = BusyLoop(busy).__enter__()
        t0 = time.perf_counter()
        if dev == "cuda":
            times = time_steps_cuda(step, args.warmup or 10,
                                    args.repeat or (50 if steps == 1 else 10), steps)
            k = steps
        else:
            times, k = time_steps_cpu(step, args.warmup or 5,
                                      args.seconds if args.seconds > 0 else (0.5 if args.quick else 2.0),
                                      args.repeat or (5 if args.quick else 7))
        wall = time.perf_counter() - t0
        loss = float(step.loss.item())
    except Exception as e:  # one broken case must not hide the rest
        print("%-26s %-8s ERROR %s: %s" % (cname, impl, type(e).__name__, str(e).splitlines()[0][:200]
                                            if str(e) else ""))
        return {"impl": impl, "error": "%s: %s" % (type(e).__name__, e)}
    finally:
        if loop is not None:
            loop.__exit__(None, None, None)
        step = None
        if dev == "cuda":
            torch.cuda.synchronize()
    med = statistics.median(times)
    r = {"impl": impl, "us_per_step": med * 1e6, "min_us": min(times) * 1e6,
         "max_us": max(times) * 1e6, "samples": len(times), "steps_per_sample": k,
         "images_per_second": batch / med, "gflops": step_flops(batch) / med * 1e-9,
         "loss": loss}
    if compiled:
        r["compiled"] = True
        r["seconds_with_compile"] = wall
    print("%-26s %-8s %12.0f %12.1f %10.1f %9.2f %8s" % (cname, impl, r["images_per_second"],
                                                        r["us_per_step"], r["min_us"], r["gflops"],
                                                        "%dx%d" % (len(times), k)))
    sys.stdout.flush()
    return r


COMPILE_SUFFIX = "_compile"  # <dev>/<case>_compile/<batch>: the torch.compile twin of a case


def compiled_name(name):
    dev, case, batch = name.split("/")
    return "%s/%s%s/%s" % (dev, case, COMPILE_SUFFIX, batch)


def eager_name(name):
    """cpu/mlp_adam_compile/128 -> cpu/mlp_adam/128 (minidl has no compiled twin)."""
    dev, case, batch = name.split("/")
    if case.endswith(COMPILE_SUFFIX):
        case = case[:-len(COMPILE_SUFFIX)]
    return "%s/%s/%s" % (dev, case, batch)


def run_train_cases(args, dev, cases, make_step, step_flops):
    """Times each case (name, optimizer kind, batch, steps per CUDA sample) with every
    optimizer implementation (args.impl: all or one) and keeps the fastest; then, on the CPU
    with torch.compile (PyTorch 2.x, not --no-compile), its twin <case>_compile: the model
    through torch.compile with the fastest optimizer implementation.
    make_step(dev, kind, impl, batch) -> an object with .model, run() and .loss after it."""
    kinds = sorted({c[1] for c in cases})
    impls = {kind: optimizer_impls(kind, dev) for kind in kinds}
    if args.impl != "all":
        impls = {k: [i for i in v if i == args.impl] for k, v in impls.items()}
    results = []
    print("%-26s %-8s %12s %12s %10s %9s %8s" % ("case", "impl", "img/s", "median us", "min us",
                                                 "GFLOP/s", "samples"))
    want_compile = compile_available(dev) and not getattr(args, "no_compile", False)
    for cname, kind, batch, steps in cases:
        per_impl = [_time_case(args, dev, cname, kind, impl, batch, steps, make_step, step_flops,
                               False) for impl in impls[kind]]
        good = [p for p in per_impl if "error" not in p]
        res = {"name": cname, "optimizer": kind, "batch": batch, "steps_per_sample": steps,
               "impls": per_impl}
        if good:
            best = max(good, key=lambda p: p["images_per_second"])
            res.update({"ips": best["images_per_second"], "impl": best["impl"],
                        "us_per_step": best["us_per_step"]})
        results.append(res)
        if not good:
            continue
        # The twins, each with the fastest optimizer implementation: contended (a busy loop
        # beside it), torch.compile, and torch.compile contended.
        twins = [(sfx, False) for sfx in contended_names(args)[1:] if dev == "cpu"]
        if want_compile:
            twins += [(sfx, True) for sfx in contended_names(args) if dev == "cpu"]
        for sfx, compiled in twins:
            tname = with_suffix(cname, sfx)
            if compiled:
                tname = compiled_name(tname)
            r = _time_case(args, dev, tname, kind, res["impl"], batch, steps, make_step,
                           step_flops, compiled, CONTENTION[sfx])
            tres = {"name": tname, "optimizer": kind, "batch": batch, "steps_per_sample": steps,
                    "impls": [r], "compiled": compiled, "contended": sfx[1:] or None,
                    "optional": True}
            if "error" not in r:
                tres.update({"ips": r["images_per_second"],
                             "impl": ("compile+" if compiled else "") + r["impl"],
                             "us_per_step": r["us_per_step"]})
            results.append(tres)
    return results


def train_context(dev, args):
    ctx = {
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "torch_build": torch_build(),
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": dev,
        "device_name": device_name(dev),
        "host": platform.node(),
        "date": utc_now(),
        "threads": torch.get_num_threads(),
        "env": {v: os.environ.get(v) for v in TRAIN_ENV_VARS if os.environ.get(v) is not None},
        "loadavg_at_start": loadavg(),
        "quick": args.quick,
        "timing": ("CUDA events around 1 or 50 steps, synchronised after; median sample"
                   if dev == "cuda" else "time.perf_counter around runs of k steps; median run"),
    }
    if dev == "cpu":
        ctx["blas_mapped"] = mapped_blas()
        ctx["system_libblas"] = system_blas_alternative()
    return ctx


def train_single(args, script, cases, make_step, step_flops, compare, extra_context=None):
    """One configuration of a train peer: sets the threads, times `cases` (see
    run_train_cases), compares with --minidl through compare(results, path, title), writes
    --out. Returns the exit status (1 when a case has no result)."""
    dev = args.device
    if cuda_missing(script, dev):
        return 2
    set_cpu_threads(dev, args.threads)
    ctx = train_context(dev, args)
    ctx.update(extra_context or {})
    print("PyTorch %s peer of minidl_bench_train on %s (%s%s); load %s; env %s"
          % (torch.__version__, ctx["device_name"], dev,
             ", %d threads" % torch.get_num_threads() if dev == "cpu" else ", CUDA %s" % torch.version.cuda,
             ctx["loadavg_at_start"], ctx["env"] or "{}"))
    print(torch_summary())
    if dev == "cpu":
        print("BLAS mapped: %s" % ", ".join(ctx["blas_mapped"]))
        if os.environ.get("MINIDL_PEER_SWEEP_CHILD") != "1":
            print("note: PyTorch's CPU speed here depends several-fold on OMP_WAIT_POLICY, "
                  "OPENBLAS_NUM_THREADS and --threads; --sweep finds its best configuration")
    if args.filter:
        cases = [c for c in cases if re.search(args.filter, c[0])]
    results = run_train_cases(args, dev, cases, make_step, step_flops)
    ctx["blas_mapped"] = mapped_blas() if dev == "cpu" else None
    ctx["loadavg_at_end"] = loadavg()
    out = {"context": ctx, "cases": results}
    if args.minidl:
        out["minidl"] = compare(results, args.minidl, "PyTorch (best optimizer implementation per case)")
    if args.out:
        write_json(args.out, out)
    return 1 if any("ips" not in r and not r.get("optional") for r in results) else 0


def add_train_args(ap):
    """The train peers' own options (after peer_parser's)."""
    ap.add_argument("--quick", action="store_true", help="batch 128 only, short timings: a smoke test")
    ap.add_argument("--seconds", type=float, default=0.0,
                    help="cpu: total timed seconds per case and implementation (default 2, quick 0.5)")
    ap.add_argument("--impl", default="all", choices=["all", "default", "foreach", "fused"],
                    help="optimizer implementation(s) to time (default: every one available)")
    ap.add_argument("--contended", nargs="?", const="both", choices=["unpinned", "pinned", "both"],
                    help="cpu: also time each case with a busy loop (sh -c 'while :; do :; done') "
                         "beside it, unpinned (<case>_contended), pinned to the last CPU "
                         "(<case>_contended_pinned) or both (the default), as minidl_bench_train's "
                         "contended cases")
    ap.add_argument("--no-compile", action="store_true",
                    help="cpu: skip the torch.compile twin of each case (<case>_compile)")
    ap.add_argument("--sweep", action="store_true",
                    help="cpu: run every environment x threads configuration in a subprocess")
    ap.add_argument("--sweep-blas", action="store_true",
                    help="with --sweep: also every BLAS build, via LD_LIBRARY_PATH per subprocess")
