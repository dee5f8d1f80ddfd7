#!/usr/bin/env python3
"""minidl against its PyTorch peers in alternated rounds, with each case's median ratio.

On a machine whose speed drifts between runs (a shared VM: the same binary's quiet figure
can move by a third from one minute to the next), the ratio of one minidl run and one
peer run is as much the drift as the code. This runs, in each round, a minidl benchmark
and then every peer right after it on that round's minidl JSON (the peers' own --minidl
comparison), and reports for each case the ratio (minidl/torch, > 1: minidl is faster) of
every round, their median, and their range.

  python3 bench/rounds.py --rounds 5 --bench build/bin/minidl_bench_train \\
      --filter '^cpu/(mlp_adam|mlp_sgd)(_contended)?/128/' --bench-arg=--benchmark_min_time=2 \\
      --peer 'torch_mlp.py --device cpu --torch venv --contended unpinned --filter /128$' \\
      --peer 'torch_mlp.py --device cpu --torch debian --contended unpinned --no-compile --filter /128$' \\
      --out rounds-mlp

--peer: a script of bench/peers/ and its arguments (repeatable); rounds.py adds --minidl and
--out. --out: a folder for every round's JSON files and summary.json (default: a new
temporary folder, printed).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")


def run(cmd):
    """Runs cmd; returns its exit status (its output goes to ours, so a failure shows)."""
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    return subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bench", required=True, help="a minidl Google Benchmark executable")
    ap.add_argument("--filter", required=True, help="its --benchmark_filter")
    ap.add_argument("--bench-arg", action="append", default=[],
                    help="one more argument for the benchmark (repeatable)")
    ap.add_argument("--peer", action="append", required=True,
                    help="'<script of bench/peers/> <its arguments>' (repeatable)")
    ap.add_argument("--out", help="folder for the rounds' JSON files")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    peers = [shlex.split(p) for p in a.peer]
    for p in peers:
        if not p or not os.path.isfile(os.path.join(PEERS, p[0])):
            ap.error("--peer %r: the first word must be a script in %s" % (" ".join(p), PEERS))
    out = a.out or tempfile.mkdtemp(prefix="minidl-rounds-")
    os.makedirs(out, exist_ok=True)
    print("rounds: %d, files in %s" % (a.rounds, out), flush=True)

    # ratios[(peer index, torch case, minidl case)] = [ratio per round]; configs: the torch
    # configuration each round's peer picked for the case (it may differ between rounds)
    ratios, configs, order = {}, {}, []
    for r in range(1, a.rounds + 1):
        minidl_json = os.path.join(out, "minidl_%d.json" % r)
        status = run([a.bench, "--benchmark_filter=" + a.filter, *a.bench_arg,
                      "--benchmark_out=" + minidl_json, "--benchmark_out_format=json"])
        if status != 0:
            sys.exit("round %d: %s exited with %d" % (r, a.bench, status))
        for k, p in enumerate(peers):
            peer_json = os.path.join(out, "peer%d_%d.json" % (k + 1, r))
            status = run([sys.executable, os.path.join(PEERS, p[0]), *p[1:],
                          "--minidl", minidl_json, "--out", peer_json])
            if status != 0:
                sys.exit("round %d: peer %r exited with %d" % (r, " ".join(p), status))
            with open(peer_json) as f:
                got = json.load(f)
            # torch_mlp.py / torch_cnn.py: minidl.comparison with minidl_over_torch;
            # torch_conv.py: a top-level comparison with torch_over_minidl (the same ratio).
            comparison = ((got.get("minidl") or {}).get("comparison") or
                          got.get("comparison") or [])
            for c in comparison:
                key = (k, c.get("torch_case", c["name"]), c["name"])
                if key not in ratios:
                    ratios[key] = [None] * a.rounds
                    configs[key] = []
                    order.append(key)
                ratios[key][r - 1] = c.get("minidl_over_torch", c.get("torch_over_minidl"))
                if c.get("torch_config") and c["torch_config"] not in configs[key]:
                    configs[key].append(c["torch_config"])

    summary = []
    width = max([30] + [len(key[1]) for key in order])
    print("\nminidl/torch per round (> 1: minidl is faster), median and range of the rounds")
    for k, p in enumerate(peers):
        print("\npeer %d: %s" % (k + 1, " ".join(p)))
        print("%-*s %-24s %s %8s %14s" % (width, "torch case", "torch config",
                                          " ".join("%6s" % ("r%d" % (i + 1)) for i in range(a.rounds)),
                                          "median", "range"))
        for key in order:
            if key[0] != k:
                continue
            got = [x for x in ratios[key] if x is not None]
            med = statistics.median(got)
            print("%-*s %-24s %s %8.2f %6.2f-%-6.2f"
                  % (width, key[1], ",".join(configs[key])[:24],
                     " ".join("%6s" % ("-" if x is None else "%.2f" % x) for x in ratios[key]),
                     med, min(got), max(got)))
            summary.append({"peer": " ".join(p), "torch_case": key[1], "minidl_case": key[2],
                            "torch_configs": configs[key], "ratios": ratios[key], "median": med,
                            "min": min(got), "max": max(got)})
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"rounds": a.rounds, "bench": a.bench, "filter": a.filter,
                   "bench_args": a.bench_arg, "cases": summary}, f, indent=1)
    print("\nwrote %s" % os.path.join(out, "summary.json"))


if __name__ == "__main__":
    main()
