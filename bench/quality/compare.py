#!/usr/bin/python3
"""Prints bench/quality results of tune and Optuna side by side.

    /usr/bin/python3 bench/quality/compare.py tune.json optuna.json
    /usr/bin/python3 bench/quality/compare.py --seeds 6 tune.json optuna.json
    /usr/bin/python3 bench/quality/compare.py --without car tune.json optuna.json

--seeds N keeps each side's first N seeds (0..N-1) and recomputes the
summaries, for a side by side on the same seeds when one side ran more.
--without car,kc1 leaves those tables out of everything, e.g. to see how
much one table's tail decides the summary.

For each W: every sampler's summary (mean over tables and seeds of regret ÷
the table's median regret; lower is better) and per-table median regret,
then the targets: tune's summary against 0.8 × Optuna's best TPE variant,
and W = 8 against W = 1.
"""

import json
import statistics
import sys


def restrict(r, n, without):
    """Keeps the first n seeds of a run (all when n is None), drops the
    tables named in without, and recomputes its figures."""
    norms = []
    r["tables"] = [t for t in r["tables"] if t["table"] not in without]
    for t in r["tables"]:
        t["regrets"], t["norms"] = t["regrets"][:n], t["norms"][:n]
        t["median_regret"] = statistics.median(t["regrets"])
        t["mean_norm"] = statistics.fmean(t["norms"])
        norms += t["norms"]
    r["summary"] = statistics.fmean(norms)


def main():
    args = sys.argv[1:]
    keep, without = None, set()
    while len(args) >= 2 and args[0] in ("--seeds", "--without"):
        if args[0] == "--seeds":
            keep = int(args[1])
        else:
            without = set(args[1].split(","))
        args = args[2:]
    runs = []
    seeds = {}
    for path in args:
        with open(path) as f:
            res = json.load(f)
        for r in res["runs"]:
            r["impl"] = res["impl"]
            if keep is not None or without:
                restrict(r, keep, without)
            runs.append(r)
        seeds[res["impl"]] = min(res["config"]["seeds"], keep or res["config"]["seeds"])
    if not runs:
        sys.exit("compare.py: no results")
    print("seeds: " + ", ".join(f"{k} {v}" for k, v in seeds.items()))
    tables = [t["table"] for t in runs[0]["tables"]]
    for w in sorted({r["inflight"] for r in runs}):
        print(f"\nW = {w}: summary (lower is better), then median regret per table")
        print(f"{'sampler':30} {'summary':>8}" + "".join(f" {t[:12]:>12}" for t in tables))
        for r in [r for r in runs if r["inflight"] == w]:
            by = {t["table"]: t for t in r["tables"]}
            print(f"{r['sampler']:30} {r['summary']:8.4f}" +
                  "".join(f" {by[t]['median_regret']:12.4g}" if t in by else f" {'-':>12}" for t in tables))
    print("\ntargets")
    ws = sorted({r["inflight"] for r in runs})
    for name in sorted({r["sampler"] for r in runs if not r["impl"].startswith("optuna")}):
        by_w = {r["inflight"]: r for r in runs if r["sampler"] == name and not r["impl"].startswith("optuna")}
        for w in ws:
            opt = [r for r in runs if r["impl"].startswith("optuna") and r["inflight"] == w and "tpe" in r["sampler"]]
            if w not in by_w or not opt:
                continue
            best = min(opt, key=lambda r: r["summary"])
            ratio = by_w[w]["summary"] / best["summary"]
            print(f"  {name} W={w}: {by_w[w]['summary']:.4f} vs {best['sampler']} {best['summary']:.4f}: "
                  f"{ratio:.2f}× (target ≤ 0.80×: {'met' if ratio <= 0.8 else 'MISSED'})")
        if 1 in by_w and 8 in by_w:
            loss = by_w[8]["summary"] / by_w[1]["summary"]
            print(f"  {name} W=8 ÷ W=1: {loss:.2f} (target ≤ 1.10: {'met' if loss <= 1.1 else 'MISSED'})")


if __name__ == "__main__":
    main()
