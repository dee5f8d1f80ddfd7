#!/usr/bin/env python3
"""PyTorch peer of `tools/run.sh --model cnn --device cpu`: the same CNN trained with the same
recipe on Fashion-MNIST, timed the same way: seconds to each epoch's test accuracy, the time
to 91.6% (the Fashion-MNIST benchmark's figure for this model) and the total.

Model and recipe (as apps/train's build_cnn with cnn_config(), which minidl-train --model cnn
runs): x [B, 784] scaled to [0, 1] and standardised with the training set's mean 0.28604060
and stddev 0.35302424 (data/fashion_mnist.hpp) -> [B, 1, 28, 28]; Conv2d(1, 32, 5, padding 2)
+ ReLU + MaxPool2d(2); Conv2d(32, 64, 5, padding 2) + ReLU + MaxPool2d(2); Flatten;
Linear(3136, 1024) + ReLU + Dropout(0.4); Linear(1024, 10); cross-entropy (mean); Adam, lr
1e-3 annealed to 0 by a cosine over every step of the run (per step, as minidl's CosineLr);
batch 128, the training set shuffled every epoch, the last partial batch kept; 15 epochs;
the test set (10,000 images) evaluated after each epoch, in eval mode. Times are training
time, evaluation excluded, as minidl-train's metrics.csv `seconds` (per epoch). Weights start from
PyTorch's own initialisation (minidl's is He normal): the recipe is the same, the draws are not.

  python3 bench/peers/jobs/torch_cnn_train.py [--epochs 15] [--threads N] [--compile]
      [--data /usr/share/datasets/fashion-mnist] [--target 0.916] [--out F.json]
      [--minidl minidl-train-output/metrics.csv]

--minidl reads minidl-train's metrics.csv (one row per epoch: test_accuracy and the epoch's
training seconds) and prints both runs' time to the target and total.
--compile trains the model through torch.compile. It lives in bench/peers/jobs/ because it is a
whole training run, not a benchmark case: tools/gpu-runner.sh runs every bench/peers/*.py. Which torch: as the other peers
(_common.import_torch: the project's .venv, else Debian's; --torch venv|debian).
"""
from __future__ import annotations

import csv
import gzip
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common  # noqa: E402  bench/peers/_common.py: which torch, threads, JSON

torch = _common.import_torch("torch_cnn_train.py")
import torch.nn as nn  # noqa: E402

MEAN, STD = 0.28604060, 0.35302424


def read_idx(path):
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    rank = data[3]
    dims = struct.unpack(">%dI" % rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find_file(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("no %s(.gz) in %s" % (stem, folder))


def load(folder, prefix):
    x = read_idx(find_file(folder, prefix + "-images-idx3-ubyte")).reshape(-1, 1, 28, 28)
    y = read_idx(find_file(folder, prefix + "-labels-idx1-ubyte"))
    xt = (torch.from_numpy(x.astype("float32")) / 255.0 - MEAN) / STD
    return xt, torch.from_numpy(y.astype("int64"))


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.4), nn.Linear(1024, 10))


def evaluate(model, x, y, batch):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    model.train()
    return correct / len(y)


def minidl_times(path, target):
    """(seconds to target or None, total seconds, epochs) from minidl-train's metrics.csv."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    acc_key = next((k for k in ("val_accuracy", "test_accuracy", "accuracy") if rows and k in rows[0]), None)
    sec_key = next((k for k in ("elapsed_seconds", "seconds", "epoch_seconds") if rows and k in rows[0]), None)
    if acc_key is None or sec_key is None:
        raise ValueError("%s: no accuracy / seconds columns (has %s)" % (path, list(rows[0]) if rows else []))
    elapsed, to_target = 0.0, None
    for r in rows:
        s = float(r[sec_key])
        elapsed = s if sec_key == "elapsed_seconds" else elapsed + s
        if to_target is None and float(r[acc_key]) >= target:
            to_target = elapsed
    return to_target, elapsed, len(rows)


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target", type=float, default=0.916)
    ap.add_argument("--train-images", type=int, default=0,
                    help="train on the first N images only (a smoke test; default: all 60,000)")
    ap.add_argument("--compile", action="store_true", help="train through torch.compile")
    ap.add_argument("--data", default=os.environ.get("MINIDL_FASHION_MNIST_DIR")
                    or "/usr/share/datasets/fashion-mnist")
    ap.add_argument("--torch", choices=_common.TORCH_CHOICES, default="auto")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--minidl", help="minidl-train's metrics.csv to compare with")
    args = _common.parse_args(ap, "torch_cnn_train.py")
    _common.set_cpu_threads("cpu", args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")
    if args.train_images > 0:
        xtr, ytr = xtr[:args.train_images], ytr[:args.train_images]
    model = make_model()
    run_model = torch.compile(model) if args.compile else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps_per_epoch = (len(ytr) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * steps_per_epoch)
    print("PyTorch CNN training peer: %d epochs, batch %d, %d threads; load %s"
          % (args.epochs, args.batch, torch.get_num_threads(), _common.loadavg()))
    print(_common.torch_summary())
    gen = torch.Generator().manual_seed(args.seed)
    history, elapsed, eval_seconds, to_target = [], 0.0, 0.0, None
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(ytr), generator=gen)
        total = 0.0
        for i in range(0, len(ytr), args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(run_model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        elapsed += time.perf_counter() - t0  # training time: evaluation excluded, as minidl's
        t1 = time.perf_counter()
        acc = evaluate(run_model, xte, yte, 1000)
        eval_seconds += time.perf_counter() - t1
        if to_target is None and acc >= args.target:
            to_target = elapsed
        history.append({"epoch": epoch, "loss": total / len(ytr), "test_accuracy": acc,
                        "elapsed_seconds": elapsed})
        print("epoch %2d  loss %.4f  test accuracy %.4f  %.1f s" % (epoch, total / len(ytr), acc, elapsed))
        sys.stdout.flush()
    print("PyTorch: %s to %.1f%%, %.1f s in all, final test accuracy %.4f"
          % ("%.1f s" % to_target if to_target is not None else "never got", args.target * 100,
             elapsed, history[-1]["test_accuracy"]))
    out = {"context": {"peer": "pytorch_cnn_train", "torch_build": _common.torch_build(),
                       "compile": args.compile, "threads": torch.get_num_threads(),
                       "date": _common.utc_now(), "loadavg_at_end": _common.loadavg(),
                       "epochs": args.epochs, "batch": args.batch, "target": args.target},
           "history": history, "seconds_to_target": to_target, "seconds_total": elapsed,
           "evaluation_seconds": eval_seconds}
    if args.minidl:
        m_to, m_total, m_epochs = minidl_times(args.minidl, args.target)
        print("minidl (%s, %d epochs): %s to %.1f%%, %.1f s in all"
              % (args.minidl, m_epochs, "%.1f s" % m_to if m_to is not None else "never got",
                 args.target * 100, m_total))
        if m_to and to_target:
            print("time to %.1f%%: PyTorch / minidl = %.2f; total: %.2f"
                  % (args.target * 100, to_target / m_to, elapsed / m_total))
        out["minidl"] = {"file": args.minidl, "seconds_to_target": m_to, "seconds_total": m_total}
    if args.out:
        _common.write_json(args.out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
