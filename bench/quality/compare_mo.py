#!/usr/bin/python3
"""Side by side: the multi-objective runs of tune (bench/quality --mode mo,constrained) and Optuna (optuna_mo.py).

Reads JSONL files of studies and prints, per run (mo: two objectives;
constrained: the same with parameter count <= the table's median) and per
table, the mean hypervolume (÷ the table's whole front) and the mean number
of feasible trials of each sampler and W, over the seeds every sampler of
that table has, then the mean over those tables.

    /usr/bin/python3 bench/quality/compare_mo.py tune.jsonl optuna-a.jsonl optuna-b.jsonl
"""

import collections
import json
import sys


def main():
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    for run in ("mo", "constrained"):
        sel = [r for r in rows if r["run"] == run]
        cols = sorted({(r["sampler"], r["inflight"]) for r in sel})
        by = collections.defaultdict(dict)
        for r in sel:
            by[(r["table"], (r["sampler"], r["inflight"]))][r["seed"]] = r
        tables = sorted({r["table"] for r in sel})
        print(f"\n== {run}: mean hypervolume ÷ the table's front (mean feasible trials of 100)")
        print(f"{'table':28}{'seeds':>6}" + "".join(f"{s + ' W=' + str(w):>28}" for s, w in cols))
        tot = collections.defaultdict(list)
        for t in tables:
            present = [c for c in cols if (t, c) in by]
            seeds = set.intersection(*(set(by[(t, c)]) for c in present))
            line = f"{t:28}{len(seeds):6d}"
            for c in cols:
                if c not in present or not seeds:
                    line += f"{'-':>28}"
                    continue
                hv = sum(by[(t, c)][s]["hv"] for s in seeds) / len(seeds)
                fe = sum(by[(t, c)][s]["feasible"] for s in seeds) / len(seeds)
                tot[c].append((t, hv, fe))
                line += f"{hv:20.4f} ({fe:5.1f})"
            print(line)
        # The mean over the tables every column has.
        common = set.intersection(*({t for t, _, _ in v} for v in tot.values())) if tot else set()
        line = f"{'mean over ' + str(len(common)) + ' tables':34}"
        for c in cols:
            v = [(hv, fe) for t, hv, fe in tot.get(c, []) if t in common]
            if v:
                line += f"{sum(x[0] for x in v) / len(v):20.4f} ({sum(x[1] for x in v) / len(v):5.1f})"
            else:
                line += f"{'-':>28}"
        print(line)


if __name__ == "__main__":
    main()
