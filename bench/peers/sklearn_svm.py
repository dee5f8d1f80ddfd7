#!/usr/bin/env python3
# minidl-bench-area: svm
# minidl-peer-module: sklearn
"""scikit-learn's SVC on minidl_bench_svm's task: the first N Fashion-MNIST training images.

The same data and settings as bench/svm_bench.cpp: the first --train images (default
10000), standardised per pixel with those images' mean and (population) standard
deviation (a constant pixel becomes 0), the 10000 test images with the same statistics,
RBF kernel, C = 10, gamma = 1/784, tol = 1e-3, one-vs-one, a 1000 MB kernel cache (as
`svm-train -m 1000`). scikit-learn's SVC is LIBSVM underneath and runs on the CPU only,
single-threaded; --device is accepted (the GPU check passes it) and only recorded.

Times fit and predict once and, given --minidl (a minidl_bench_svm JSON), prints
sklearn/minidl per minidl case trained on the same number of images (> 1: minidl is
faster): cpu/minidl_svc_fashion_rbf_c10 (its context's svm_train_images) and
cuda/minidl_svc_fashion_rbf_c10/n:N.

  /usr/bin/python3 bench/peers/sklearn_svm.py [--train 10000] [--data DIR]
                                              [--minidl minidl_bench_svm.json] [--out F.json]
"""
from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys
import time

import _common


def read_idx(path):
    """An IDX file (.gz or plain) as a numpy array (uint8 data only: Fashion-MNIST's)."""
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    rank = data[3]
    dims = struct.unpack(">%dI" % rank, data[4:4 + 4 * rank])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    if body.size != int(np.prod(dims)):
        raise ValueError("%s: %d values for dimensions %s" % (path, body.size, dims))
    return body.reshape(dims)


def find_file(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("no %s(.gz) in %s" % (stem, folder))


def load(folder, n):
    """(x_train, y_train, x_test, y_test) as minidl_bench_svm prepares them."""
    import numpy as np
    xtr = read_idx(find_file(folder, "train-images-idx3-ubyte"))[:n].reshape(-1, 784)
    ytr = read_idx(find_file(folder, "train-labels-idx1-ubyte"))[:n]
    xte = read_idx(find_file(folder, "t10k-images-idx3-ubyte")).reshape(-1, 784)
    yte = read_idx(find_file(folder, "t10k-labels-idx1-ubyte"))
    # minidl reads pixels as float32 in [0, 1], then standardises in double.
    xtr = xtr.astype(np.float32) / np.float32(255)
    xte = xte.astype(np.float32) / np.float32(255)
    mean = xtr.astype(np.float64).mean(axis=0)
    sd = xtr.astype(np.float64).std(axis=0)
    safe = np.where(sd > 0, sd, 1.0)
    std = lambda x: np.where(sd > 0, (x - mean) / safe, 0.0).astype(np.float32)
    return std(xtr), ytr.astype(np.int64), std(xte), yte.astype(np.int64)


def minidl_cases(path, n):
    """[(case name, fit_s, predict_s, accuracy)] of the minidl cases trained on n images."""
    cases, ctx = _common.load_minidl(path, "fit_s")
    out = []
    for name, c in sorted(cases.items()):
        if not c.runs:
            continue
        r = c.runs[-1]
        trained = r.get("n")
        if trained is None and name.startswith("cpu/minidl_svc"):
            trained = float(ctx.get("svm_train_images", "nan"))
        if name.startswith(("cpu/minidl_svc", "cuda/minidl_svc")) and trained == n:
            out.append((name, r["fit_s"], r.get("predict_s", float("nan")), r.get("accuracy")))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu",
                    help="recorded only: scikit-learn's SVC runs on the CPU")
    ap.add_argument("--train", type=int, default=10000, help="training images (first N)")
    ap.add_argument("--data", default=os.environ.get("MINIDL_FASHION_MNIST_DIR")
                    or "/usr/share/datasets/fashion-mnist", help="Fashion-MNIST folder")
    ap.add_argument("--cache-mb", type=float, default=1000.0, help="SVC cache_size (MB)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--minidl", help="minidl_bench_svm JSON to compare with")
    args = _common.parse_args(ap, "sklearn_svm.py")

    import numpy as np
    import sklearn
    from sklearn.svm import SVC

    x_train, y_train, x_test, y_test = load(args.data, args.train)
    n = len(y_train)
    print("scikit-learn %s SVC on the first %d Fashion-MNIST training images (%s), "
          "rbf, C 10, gamma 1/784, tol 1e-3, cache %g MB; load %s"
          % (sklearn.__version__, n, args.data, args.cache_mb, _common.loadavg()))
    svc = SVC(C=10.0, kernel="rbf", gamma=1.0 / 784.0, tol=1e-3, cache_size=args.cache_mb,
              decision_function_shape="ovo")
    t0 = time.perf_counter()
    svc.fit(x_train, y_train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = svc.predict(x_test)
    predict_s = time.perf_counter() - t0
    accuracy = float(np.mean(pred == y_test))
    n_sv = int(svc.support_.size)
    print("fit %.2f s, predict %.2f s, accuracy %.4f, %d support vectors"
          % (fit_s, predict_s, accuracy, n_sv))

    comparison = []
    if args.minidl:
        rows = minidl_cases(args.minidl, n)
        if not rows:
            print("\n%s has no minidl case trained on %d images" % (args.minidl, n))
        else:
            print("\n%-44s %9s %9s %10s %10s" % ("minidl case", "fit s", "acc", "sklearn/", "(predict)"))
            for name, m_fit, m_pred, m_acc in rows:
                print("%-44s %9.2f %9.4f %9.1fx %9.1fx" % (name, m_fit, m_acc or float("nan"),
                                                           fit_s / m_fit, predict_s / m_pred))
                comparison.append({"minidl_case": name, "minidl_fit_s": m_fit,
                                   "minidl_predict_s": m_pred, "minidl_accuracy": m_acc,
                                   "fit_ratio_sklearn_over_minidl": fit_s / m_fit,
                                   "predict_ratio_sklearn_over_minidl": predict_s / m_pred})
    if args.out:
        _common.write_json(args.out, {
            "peer": "sklearn_svm", "when": _common.utc_now(), "loadavg": _common.loadavg(),
            "sklearn": sklearn.__version__, "device_requested": args.device,
            "train_images": n, "fit_s": fit_s, "predict_s": predict_s, "accuracy": accuracy,
            "n_sv": n_sv, "minidl": args.minidl, "comparison": comparison})
    return 0


if __name__ == "__main__":
    sys.exit(main())
