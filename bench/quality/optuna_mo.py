#!/usr/bin/python3
"""Optuna's side of the multi-objective bench/quality runs.

Every table of bench/quality/data becomes a two-objective problem: the
table's metric (validation MSE minimized for HPOLib, validation accuracy
maximized for HPOBench; a trial sees one of its configuration's seed results
at random, as in the single-objective runs) and the network's parameter count
(minimized; see NETS for the input and output widths). Optuna 3.1's
TPESampler with directions=[...] (independent and multivariate) and its
RandomSampler run N trials one at a time; a constrained run adds the
constraint "parameter count <= the table's median over all configurations"
through TPESampler(constraints_func=...).

Each study is scored by hypervolume over its (feasible) trials, computed on
the configurations' means: each objective normalized to [0, 1] by the table's
own min and max (MSE and parameter count on a log10 scale), reference point
(1, 1), reported as a fraction of the hypervolume of the table's whole front,
so datasets weigh the same. Writes one JSON line per study. These are the
rules of bench/quality/mo.go, tune's side; its TestMOTableMatchesOptuna
checks that both compute the same counts, bound and front.

    /usr/bin/python3 bench/quality/optuna_mo.py --seeds 10 --out optuna-mo.jsonl
"""

import argparse
import json
import multiprocessing
import os
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optuna_quality import FAMILIES, load_tables, table  # noqa: E402

# Input width and outputs of each dataset's network. HPOBench: the OpenML
# datasets' feature counts before one-hot encoding (car and credit_g have
# categorical features, so their real input layers are wider; the
# assumption only shifts the first layer's count) and class counts. HPOLib:
# the FCNet paper's feature counts and one regression output.
NETS = {
    "australian": (14, 2), "blood_transfusion": (4, 2), "car": (6, 4), "credit_g": (20, 2),
    "kc1": (21, 2), "segment": (19, 7), "naval_propulsion": (16, 1), "parkinsons_telemonitoring": (20, 1),
}
HPOBENCH_WIDTHS = [16, 25, 40, 64, 101, 161, 256, 406, 645, 1024]
HPOLIB_UNITS = [16, 32, 64, 128, 256, 512]


def decode(t, k):
    idx = []
    for size in reversed(t.sizes):
        idx.append(k % size)
        k //= size
    return idx[::-1]


def param_count(t, k):
    n_in, n_out = NETS[t.name]
    idx = decode(t, k)
    if t.family == "hpobench":
        w, depth = HPOBENCH_WIDTHS[idx[4]], idx[2] + 1
        return n_in * w + w + (depth - 1) * (w * w + w) + w * n_out + n_out
    n1, n2 = HPOLIB_UNITS[idx[7]], HPOLIB_UNITS[idx[8]]
    return n_in * n1 + n1 + n1 * n2 + n2 + n2 * n_out + n_out


class MO:
    """A table's normalization, bound and best hypervolume."""

    def __init__(self, t):
        self.t = t
        ks = [k for k, r in enumerate(t.runs) if r is not None]
        self.counts = {k: param_count(t, k) for k in ks}
        self.bound = float(np.median(list(self.counts.values())))
        f1 = [self.f1(t.means[k]) for k in ks]
        f2 = [np.log10(self.counts[k]) for k in ks]
        self.lo1, self.hi1 = min(f1), max(f1)
        self.lo2, self.hi2 = min(f2), max(f2)
        self.best = hypervolume([self.point(k) for k in ks])

    def f1(self, m):
        return float(np.log10(m)) if self.t.family == "hpolib" else -m

    def point(self, k):
        return ((self.f1(self.t.means[k]) - self.lo1) / (self.hi1 - self.lo1),
                (np.log10(self.counts[k]) - self.lo2) / (self.hi2 - self.lo2))


def hypervolume(pts, ref=(1.0, 1.0)):
    pts = sorted(p for p in pts if p[0] < ref[0] and p[1] < ref[1])
    vol, y = 0.0, ref[1]
    for x, py in pts:
        if py < y:
            vol += (ref[0] - x) * (y - py)
            y = py
    return vol


MOS = {}


def mo(path, family):
    if path not in MOS:
        MOS[path] = MO(table(path, family))
    return MOS[path]


SAMPLERS = ["optuna-motpe", "optuna-motpe-multivariate", "optuna-random"]


def run_study(args):
    path, family, sampler_name, run, seed, trials = args
    import optuna
    import warnings

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")
    m = mo(path, family)
    t = m.t
    constraints = None
    if run == "constrained":
        constraints = lambda ft: [ft.user_attrs["params"] - m.bound]  # noqa: E731
    if sampler_name == "optuna-random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=sampler_name.endswith("multivariate"),
                                             constraints_func=constraints)
    study = optuna.create_study(directions=["minimize" if t.minimize else "maximize", "minimize"], sampler=sampler)
    rng = np.random.default_rng([zlib.crc32(t.name.encode()), seed])
    pts, feasible = [], 0
    start = time.time()
    for _ in range(trials):
        tr = study.ask()
        idx = []
        for name, choices, numeric in t.params:
            if numeric:
                idx.append(tr.suggest_int(name, 0, choices - 1))
            else:
                idx.append(choices.index(tr.suggest_categorical(name, choices)))
        k = t.index(idx)
        runs = t.runs[k]
        v = runs[rng.integers(len(runs))]
        count = m.counts[k]
        tr.set_user_attr("params", count)
        study.tell(tr, [v, count])
        if run == "constrained" and count > m.bound:
            continue
        feasible += 1
        pts.append(m.point(k))
    return {"sampler": sampler_name, "run": run, "table": t.name, "seed": seed, "trials": trials, "inflight": 1,
            "hv": hypervolume(pts) / m.best, "feasible": feasible, "seconds": time.time() - start}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="bench/quality/data")
    ap.add_argument("--tables", default="")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--runs", default="mo,constrained")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", required=True, help="JSONL file; studies it already holds are skipped")
    a = ap.parse_args()
    only = [s for s in a.tables.split(",") if s]
    tables = load_tables(a.data, only)
    samplers = [s for s in a.samplers.split(",") if s]
    jobs = []
    for seed in range(a.seeds):
        for run in a.runs.split(","):
            for s in samplers:
                if run == "constrained" and s == "optuna-random":
                    continue  # random ignores constraints: tune's side reports it
                for p, f in tables:
                    jobs.append((p, f, s, run, seed, a.trials))
    done = set()
    if os.path.exists(a.out):
        with open(a.out) as fh:
            for line in fh:
                r = json.loads(line)
                done.add((r["sampler"], r["run"], r["table"], r["seed"], r["trials"]))
    todo = [j for j in jobs if (j[2], j[3], os.path.basename(j[0])[: -len(".csv.gz")], j[4], j[5]) not in done]
    print(f"{len(todo)} studies to run ({len(jobs) - len(todo)} done)", file=sys.stderr, flush=True)
    start = time.time()
    with open(a.out, "a") as fh, multiprocessing.Pool(a.procs) as pool:
        for n, r in enumerate(pool.imap(run_study, todo, chunksize=1), 1):
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            if n % 20 == 0:
                el = time.time() - start
                print(f"{n}/{len(todo)}, {el:.0f}s, ~{el / n * (len(todo) - n):.0f}s left", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
