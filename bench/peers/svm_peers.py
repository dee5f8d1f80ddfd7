#!/usr/bin/env python3
# minidl-bench-area: svm
# minidl-peer-module: sklearn
"""minidl's SVC against the CPU SVMs a user can install, in one run, at several sizes.

The task of issue 13: the first N Fashion-MNIST training images, standardised per pixel
with their own mean and (population) standard deviation (a constant pixel becomes 0), the
10000 test images with the same statistics, RBF kernel, C = 10, gamma = "scale" (1 / (784
Var X) over the standardised training values, computed once here and passed to every
solver as a number), tol 1e-3, one-vs-one, kernel cache 1000 MB where a solver has one.

Solvers (each in its own process, under --time-limit seconds; one that runs out is
reported as such, and the larger sizes are skipped for it):
  minidl        minidl-svm-train / minidl-svm-predict (--minidl-bin folder) on LIBSVM files
  svm-train     LIBSVM's svm-train (its defaults: -h 1) / svm-predict (Debian's libsvm-tools)
  sklearn       scikit-learn's SVC (LIBSVM inside, one thread)
  sklearnex     scikit-learn-intelex's SVC (oneDAL), all cores
  thundersvm    ThunderSVM's Python package, when it imports (PyPI's thundersvm 0.3.12
                wheel loads libcusparse.so.9.0, CUDA 9: it does not import without it)
The data are written once per size as LIBSVM text (not timed); the Python solvers read
the same standardised arrays. Prints, per solver, the fit and the whole process (wall
seconds), predict seconds, accuracy and support vectors, and per size two ratios of each
peer over minidl (> 1: minidl is faster):
  fit only        like for like: minidl's fit phase (minidl-svm-train --timings: the
                  solver, without reading the text and writing the model) against the
                  Python solvers' fit() (timed inside the child, on arrays already loaded);
                  svm-train has no fit-only figure.
  whole process   minidl-svm-train's whole process (start, read the LIBSVM text, fit,
                  write the model) against svm-train's (the same work) and the Python
                  child's (interpreter start, imports, loading the .npz, fit; its predict
                  subtracted), wall-clock; CPU seconds (user + system) beside it for
                  svm-train, whose figure is whole-process too.

  python3 bench/peers/svm_peers.py [--sizes 10000,60000] [--time-limit 1800]
         [--solvers minidl,svm-train,sklearn,sklearnex,thundersvm] [--minidl-bin build/bin]
         [--data DIR] [--work DIR] [--out results.json]
Run the Python solvers with an interpreter that has them (tools/setup.sh --peers, or a
venv with numpy, scikit-learn and scikit-learn-intelex): --python PATH.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ALL_SOLVERS = ["minidl", "svm-train", "sklearn", "sklearnex", "thundersvm"]

# The Python solvers run this as a child: python3 svm_peers.py --child SOLVER NPZ GAMMA OUT
CHILD = "--child"


def write_libsvm(path, x, y):
    with open(path, "w") as f:
        for row, label in zip(x, y):
            nz = row.nonzero()[0]
            f.write("%d %s\n" % (label, " ".join("%d:%.9g" % (j + 1, row[j]) for j in nz)))


def prepare(data_dir, n, work):
    """Writes train/test LIBSVM files and an .npz for size n; returns (paths, gamma)."""
    import numpy as np
    from sklearn_svm import load
    x_train, y_train, x_test, y_test = load(data_dir, n)
    var = float(x_train.astype(np.float64).var())
    gamma = 1.0 / (x_train.shape[1] * var) if var > 0 else 1.0
    paths = {k: os.path.join(work, "%s_%d%s" % (k, n, ext))
             for k, ext in (("train", ".txt"), ("test", ".txt"), ("npz", ".npz"))}
    if not os.path.exists(paths["npz"]):
        write_libsvm(paths["train"], x_train, y_train)
        write_libsvm(paths["test"], x_test, y_test)
        np.savez(paths["npz"], x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return paths, gamma


def children_cpu():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_timed(cmd, limit, env=None):
    """(seconds, completed process or None when the time limit ran out, CPU seconds)."""
    t0 = time.perf_counter()
    c0 = children_cpu()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, None, children_cpu() - c0
    return time.perf_counter() - t0, p, children_cpu() - c0


def accuracy_of(pred_path, test_path):
    with open(pred_path) as f:
        lines = f.read().split("\n")
    if lines and lines[0].startswith("labels"):
        lines = lines[1:]
    pred = [float(l.split()[0]) for l in lines if l.strip()]
    with open(test_path) as f:
        truth = [float(l.split()[0]) for l in f if l.strip()]
    return sum(p == t for p, t in zip(pred, truth)) / len(truth)


def count_sv(model_path):
    with open(model_path) as f:
        for line in f:
            if line.startswith("total_sv"):
                return int(line.split()[1])
    return None


def parse_timings(stderr):
    """minidl's --timings line ("timings: read=0.412s fit=1.070s ... total=1.613s") as a
    dict of seconds per phase, or {} when there is none."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("timings:"):
            return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)s", line)}
    return {}


def run_cli(train_bin, predict_bin, extra, paths, gamma, limit, work, tag, timings=False):
    """A LIBSVM-style command-line pair. timings: the tools take --timings (minidl), and
    fit_s is the fit phase; otherwise fit_s is the whole training process."""
    model = os.path.join(work, "%s.model" % tag)
    pred = os.path.join(work, "%s.pred" % tag)
    flag = ["--timings"] if timings else []
    process_s, p, process_cpu = run_timed(
        [train_bin] + flag + ["-c", "10", "-g", repr(gamma), "-e", "0.001", "-m", "1000"] + extra
        + [paths["train"], model], limit)
    if p is None:
        return {"status": "time limit (%d s)" % limit}
    if p.returncode != 0:
        return {"status": "failed: " + (p.stderr or p.stdout)[-300:]}
    phases = parse_timings(p.stderr) if timings else {}
    if timings and "fit" not in phases:
        return {"status": "no --timings line from %s: %s" % (train_bin, p.stderr[-300:])}
    predict_process_s, p, _ = run_timed([predict_bin] + flag + [paths["test"], model, pred],
                                        limit)
    if p is None or p.returncode != 0:
        return {"status": "predict failed", "process_s": process_s}
    predict_phases = parse_timings(p.stderr) if timings else {}
    return {"status": "ok",
            "fit_s": phases["fit"] if timings else process_s,
            "fit_is_whole_process": not timings,
            "process_s": process_s, "process_cpu_s": process_cpu,
            "train_phases_s": phases,
            "predict_s": predict_phases.get("predict", predict_process_s),
            "predict_process_s": predict_process_s, "predict_phases_s": predict_phases,
            "accuracy": accuracy_of(pred, paths["test"]), "n_sv": count_sv(model)}


def phase_text(phases):
    return " ".join("%s %.3f s" % (k, v) for k, v in phases.items())


def run_python(solver, python, paths, gamma, limit, work):
    out = os.path.join(work, "%s_result.json" % solver)
    if os.path.exists(out):
        os.remove(out)
    child_s, p, _ = run_timed([python, os.path.abspath(__file__), CHILD, solver, paths["npz"],
                               repr(gamma), out], limit)
    if p is None:
        return {"status": "time limit (%d s)" % limit}
    if p.returncode != 0 or not os.path.exists(out):
        return {"status": "failed: " + (p.stderr or p.stdout).strip()[-300:]}
    with open(out) as f:
        r = json.load(f)
    # The child's whole process, less its predict (minidl's training process does not
    # predict): interpreter start, imports, loading the .npz, fit.
    r["child_process_s"] = child_s
    r["process_s"] = child_s - r["predict_s"]
    return r


def child(solver, npz, gamma, out):
    import numpy as np
    d = np.load(npz)
    if solver == "sklearn":
        import sklearn
        from sklearn.svm import SVC
        version = "scikit-learn " + sklearn.__version__
        svc = SVC(C=10.0, kernel="rbf", gamma=gamma, tol=1e-3, cache_size=1000,
                  decision_function_shape="ovo")
    elif solver == "sklearnex":
        from importlib.metadata import version as package_version
        from sklearnex.svm import SVC
        version = "scikit-learn-intelex " + package_version("scikit-learn-intelex")
        svc = SVC(C=10.0, kernel="rbf", gamma=gamma, tol=1e-3, cache_size=1000)
    elif solver == "thundersvm":
        from thundersvm import SVC
        version = "thundersvm"
        svc = SVC(C=10.0, kernel="rbf", gamma=gamma, tol=1e-3, max_mem_size=1000)
    else:
        raise SystemExit("unknown solver " + solver)
    t0 = time.perf_counter()
    c0 = time.process_time()
    svc.fit(d["x_train"], d["y_train"])
    fit_s = time.perf_counter() - t0
    fit_cpu = time.process_time() - c0
    t0 = time.perf_counter()
    pred = svc.predict(d["x_test"])
    predict_s = time.perf_counter() - t0
    n_sv = getattr(svc, "support_", None)
    with open(out, "w") as f:
        json.dump({"status": "ok", "version": version, "fit_s": fit_s, "fit_cpu_s": fit_cpu,
                   "predict_s": predict_s,
                   "accuracy": float(np.mean(pred == d["y_test"])),
                   "n_sv": int(len(n_sv)) if n_sv is not None else None}, f)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000", help="training sizes, comma-separated")
    ap.add_argument("--time-limit", type=float, default=1800.0,
                    help="seconds per fit (and per predict); 30 minutes by default")
    ap.add_argument("--solvers", default=",".join(ALL_SOLVERS))
    ap.add_argument("--minidl-bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    ap.add_argument("--python", default=sys.executable, help="interpreter for the Python solvers")
    ap.add_argument("--data", default=os.environ.get("MINIDL_FASHION_MNIST_DIR")
                    or "/usr/share/datasets/fashion-mnist")
    ap.add_argument("--work", help="folder for the data files and models (default: a temp dir)")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    solvers = [s for s in args.solvers.split(",") if s]
    for s in solvers:
        if s not in ALL_SOLVERS:
            ap.error("unknown solver %s (known: %s)" % (s, ", ".join(ALL_SOLVERS)))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = args.work or tempfile.mkdtemp(prefix="minidl_svm_peers_")
    os.makedirs(work, exist_ok=True)
    print("SVM peers on Fashion-MNIST, sizes %s, time limit %g s, load %s, work %s"
          % (sizes, args.time_limit, " ".join(open("/proc/loadavg").read().split()[:3]), work))
    results = []
    gave_up = set()
    for n in sizes:
        paths, gamma = prepare(args.data, n, work)
        print("\n== %d training images, gamma %.6g ==" % (n, gamma))
        row = {}
        for s in solvers:
            if s in gave_up:
                row[s] = {"status": "skipped (ran out of time at a smaller size)"}
            elif s == "minidl":
                row[s] = run_cli(os.path.join(args.minidl_bin, "minidl-svm-train"),
                                 os.path.join(args.minidl_bin, "minidl-svm-predict"), ["-q"],
                                 paths, gamma, args.time_limit, work, "minidl_%d" % n,
                                 timings=True)
            elif s == "svm-train":
                row[s] = run_cli("svm-train", "svm-predict", ["-q"], paths, gamma,
                                 args.time_limit, work, "libsvm_%d" % n)
            else:
                row[s] = run_python(s, args.python, paths, gamma, args.time_limit, work)
            r = row[s]
            if r["status"].startswith("time limit"):
                gave_up.add(s)
            if r["status"] == "ok":
                fit = ("(whole process)" if r.get("fit_is_whole_process")
                       else "%8.2f s" % r["fit_s"])
                print("%-11s fit %15s  process %8.2f s  predict %7.2f s  accuracy %.4f  SVs %s  %s"
                      % (s, fit, r["process_s"], r["predict_s"], r["accuracy"], r.get("n_sv"),
                         r.get("version", "")), flush=True)
                if r.get("train_phases_s"):
                    print("%-11s train phases %s; predict phases %s" % (
                        "", phase_text(r["train_phases_s"]),
                        phase_text(r.get("predict_phases_s", {}))), flush=True)
            else:
                print("%-11s %s" % (s, r["status"]), flush=True)
        base = row.get("minidl", {})
        if base.get("status") == "ok":
            peers = [(s, r) for s, r in row.items() if s != "minidl" and r.get("status") == "ok"]
            print("peer seconds over minidl's (> 1: minidl faster); accuracy difference in "
                  "points:")
            print("  fit only (minidl's fit phase %.2f s vs the peer's fit; like for like):"
                  % base["fit_s"])
            for s, r in peers:
                acc = "%+.2f" % (100 * (r["accuracy"] - base["accuracy"]))
                if r.get("fit_is_whole_process"):
                    print("    %-11s    n/a   %s  (no fit-only figure: see whole process)"
                          % (s, acc))
                else:
                    print("    %-11s %6.2fx   %s" % (s, r["fit_s"] / base["fit_s"], acc))
            print("  whole process (minidl-svm-train %.2f s: start, read text, fit, write model; "
                  "Python: start, imports, load .npz, fit):" % base["process_s"])
            for s, r in peers:
                cpu = ""
                if r.get("fit_is_whole_process") and r.get("process_cpu_s"):
                    cpu = "  CPU %6.2fx" % (r["process_cpu_s"] / base["process_cpu_s"])
                print("    %-11s %6.2fx%s" % (s, r["process_s"] / base["process_s"], cpu))
        results.append({"train_images": n, "gamma": gamma, "solvers": row})
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"loadavg": open("/proc/loadavg").read().split()[:3], "results": results},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
