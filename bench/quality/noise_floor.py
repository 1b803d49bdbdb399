#!/usr/bin/python3
"""What noise alone costs on bench/quality's tables.

An "oracle" study evaluates exactly the K configurations of a table with the
best means, each once, with one of its seed results picked at random (as the
harness does), and keeps the trial with the best reported value. Its regret
÷ the table's median regret, averaged over draws, is what choosing by a
noisy value costs a sampler that already knows the K best configurations;
K = 1 would be no cost at all. The summary is the mean over tables, as
compare.py reports it. Compare with TestScreenSamplers' "best evaluated"
figure (tuner/screen_test.go), the regret of the best configuration a study
evaluated, which it cannot see.

    /usr/bin/python3 bench/quality/noise_floor.py [--draws 400] [--k 10,30,100]
"""

import argparse
import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optuna_quality import load_tables, table  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="bench/quality/data")
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--k", default="10,30,100")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    rng = random.Random(args.seed)
    sums = np.zeros(len(ks))
    tables = load_tables(args.data, set())
    print("%-28s %s" % ("table", " ".join("%9s" % ("top %d" % k) for k in ks)))
    for path, family in tables:
        t = table(path, family)
        ok = [i for i, r in enumerate(t.runs) if r is not None]
        sign = 1 if t.minimize else -1
        order = sorted(ok, key=lambda i: sign * t.means[i])
        row = []
        for j, k in enumerate(ks):
            total = 0.0
            for _ in range(args.draws):
                pick = min(order[:k], key=lambda i: sign * rng.choice(t.runs[i]))
                total += t.regret(t.means[pick]) / t.median
            row.append(total / args.draws)
            sums[j] += row[-1]
        print("%-28s %s" % (t.name, " ".join("%9.4f" % v for v in row)))
    print("%-28s %s" % ("summary", " ".join("%9.4f" % (s / len(tables)) for s in sums)))


if __name__ == "__main__":
    main()
