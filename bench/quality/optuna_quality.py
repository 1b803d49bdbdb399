#!/usr/bin/python3
"""Optuna's side of bench/quality: the same tables, budget, seeds and encoding.

Runs Optuna 3.1 (Debian's python3-optuna; run it with /usr/bin/python3) in
memory: TPESampler independent, TPESampler(multivariate=True), each with
constant_liar=True when more than one trial is in flight, and RandomSampler.
For each sampler, W, table and seed one study of N trials: W asks ahead, then
each tell of the oldest trial is followed by the next ask. String choices are
categorical params, numeric ones an int index into the list. The objective of
a trial is one of its configuration's seed results picked at random; regret
is the mean of the best trial's configuration against the table's best mean.
Writes the JSON shape bench/quality (the Go program) writes.

    /usr/bin/python3 bench/quality/optuna_quality.py --seeds 3 --json out.json
"""

import argparse
import gzip
import json
import multiprocessing
import os
import platform
import sys
import time
import zlib

import numpy as np

FAMILIES = {
    "hpolib": (True, [
        ("activation_fn_1", ["relu", "tanh"], False),
        ("activation_fn_2", ["relu", "tanh"], False),
        ("batch_size", 4, True),
        ("dropout_1", 3, True),
        ("dropout_2", 3, True),
        ("init_lr", 6, True),
        ("lr_schedule", ["cosine", "const"], False),
        ("n_units_1", 6, True),
        ("n_units_2", 6, True),
    ]),
    "hpobench": (False, [
        ("alpha", 10, True),
        ("batch_size", 10, True),
        ("depth", 3, True),
        ("learning_rate_init", 10, True),
        ("width", 10, True),
    ]),
}

SAMPLERS = ["optuna-tpe", "optuna-tpe-multivariate", "optuna-random"]


def nchoices(p):
    return p[1] if p[2] else len(p[1])


class Table:
    def __init__(self, path, family):
        self.name = os.path.basename(path)[: -len(".csv.gz")]
        self.family = family
        self.minimize, self.params = FAMILIES[family]
        sizes = [nchoices(p) for p in self.params]
        self.sizes = sizes
        n = int(np.prod(sizes))
        self.runs = [None] * n
        with gzip.open(path, "rt") as f:
            for line in f:
                fields = line.rstrip("\n").split(",")
                k = 0
                for c, size in zip(fields[0], sizes):
                    k = k * size + int(c)
                self.runs[k] = [float(x) for x in fields[1:]]
        means = np.array([np.mean(r) if r is not None else np.nan for r in self.runs])
        self.means = means
        ok = means[~np.isnan(means)]
        self.best = ok.min() if self.minimize else ok.max()
        self.median = float(np.median(self.regret(ok)))

    def regret(self, m):
        return m - self.best if self.minimize else self.best - m

    def index(self, idx):
        k = 0
        for i, size in zip(idx, self.sizes):
            k = k * size + i
        return k


def load_tables(data, only):
    out = []
    for family in sorted(os.listdir(data)):
        d = os.path.join(data, family)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith(".csv.gz"):
                name = f[: -len(".csv.gz")]
                if not only or name in only:
                    out.append((os.path.join(d, f), family))
    out.sort()
    return out


TABLES = {}


def table(path, family):
    if path not in TABLES:
        TABLES[path] = Table(path, family)
    return TABLES[path]


def make_sampler(name, seed, inflight):
    import optuna

    liar = inflight > 1
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=liar)
    if name == "optuna-tpe-multivariate":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=liar)
    if name == "optuna-random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(name)


def run_study(args):
    path, family, sampler_name, inflight, seed, trials = args
    import optuna
    import warnings

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")
    t = table(path, family)
    study = optuna.create_study(
        direction="minimize" if t.minimize else "maximize",
        sampler=make_sampler(sampler_name, seed, inflight),
    )
    rng = np.random.default_rng([zlib.crc32(t.name.encode()), seed])
    queue = []
    asked = 0
    best_config, best_value = None, None
    seen = set()
    for _ in range(trials):
        while len(queue) < inflight and asked < trials:
            tr = study.ask()
            idx = []
            for name, choices, numeric in t.params:
                if numeric:
                    idx.append(tr.suggest_int(name, 0, choices - 1))
                else:
                    idx.append(choices.index(tr.suggest_categorical(name, choices)))
            queue.append((tr, t.index(idx)))
            asked += 1
        tr, config = queue.pop(0)
        runs = t.runs[config]
        v = runs[rng.integers(len(runs))]
        study.tell(tr, v)
        seen.add(config)
        better = best_value is None or (v < best_value if t.minimize else v > best_value)
        if better:
            best_config, best_value = config, v
    r = float(t.regret(t.means[best_config]))
    return r, r / t.median, len(seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="bench/quality/data")
    ap.add_argument("--tables", default="")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--inflight", default="1,8")
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", default="")
    ap.add_argument("--log", default="",
                    help="append each study's result to this JSONL file, and skip the studies it already holds "
                         "(a long run can be stopped and resumed, and a cut-short run still reports)")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: report the studies already in --log")
    a = ap.parse_args()
    only = [s for s in a.tables.split(",") if s]
    inflight = [int(x) for x in a.inflight.split(",") if x]
    samplers = [s for s in a.samplers.split(",") if s]
    for s in samplers:
        if s not in SAMPLERS:
            sys.exit(f"optuna_quality: unknown sampler {s!r}; known: {', '.join(SAMPLERS)}")
    tables = load_tables(a.data, only)
    if not tables:
        sys.exit(f"optuna_quality: no tables under {a.data} match {only}")
    import optuna

    # Seed-major order: a run cut short has the same seeds for every
    # sampler, W and table.
    jobs = [(p, f, s, w, seed, a.trials)
            for seed in range(a.seeds) for s in samplers for w in inflight for (p, f) in tables]
    key = lambda j: (j[2], j[3], os.path.basename(j[0])[: -len(".csv.gz")], j[4], j[5])
    done = {}
    if a.log and os.path.exists(a.log):
        with open(a.log) as f:
            for line in f:
                r = json.loads(line)
                done[(r["sampler"], r["inflight"], r["table"], r["seed"], r["trials"])] = (r["regret"], r["norm"], r["distinct"])
    todo = [j for j in jobs if key(j) not in done]
    if a.report_only:
        todo = []
    log(f"{len(todo)} studies of {a.trials} trials to run ({len(jobs) - len(todo)} logged) with Optuna {optuna.__version__}, {a.procs} processes")
    start = time.time()
    last = start
    logf = open(a.log, "a") if a.log else None
    n = 0
    with multiprocessing.Pool(a.procs) as pool:
        for j, o in zip(todo, pool.imap(run_study, todo, chunksize=1)):
            done[key(j)] = o
            n += 1
            if logf:
                k = key(j)
                logf.write(json.dumps({"sampler": k[0], "inflight": k[1], "table": k[2], "seed": k[3], "trials": k[4],
                                       "regret": o[0], "norm": o[1], "distinct": o[2]}) + "\n")
                logf.flush()
            if time.time() - last > 5:
                last = time.time()
                el = last - start
                log(f"{n}/{len(todo)} studies, {el:.0f}s elapsed, ~{el / n * (len(todo) - n):.0f}s left")
    # Report the seeds every sampler, W and table has.
    complete = [seed for seed in range(a.seeds) if all(key(j) in done for j in jobs if j[4] == seed)]
    if len(complete) < a.seeds:
        log(f"reporting {len(complete)} of {a.seeds} seeds: the others are incomplete")
    jobs = [j for j in jobs if j[4] in complete]
    outs = [done[key(j)] for j in jobs]
    a.seeds = len(complete)
    runs = []
    for s in samplers:
        for w in inflight:
            rr = {"sampler": s, "inflight": w, "tables": []}
            norms_all = []
            for (p, f) in tables:
                sel = [o for j, o in zip(jobs, outs) if j[0] == p and j[2] == s and j[3] == w]
                regrets = [o[0] for o in sel]
                norms = [o[1] for o in sel]
                norms_all += norms
                rr["tables"].append({
                    "table": os.path.basename(p)[: -len(".csv.gz")],
                    "median_regret": float(np.median(regrets)),
                    "mean_norm": float(np.mean(norms)),
                    "regrets": regrets,
                    "norms": norms,
                    "distinct": [o[2] for o in sel],
                })
            rr["summary"] = float(np.mean(norms_all))
            runs.append(rr)
    res = {
        "impl": "optuna " + optuna.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"nproc": os.cpu_count(), "cpu": platform.processor(), "python": platform.python_version()},
        "config": {"data": a.data, "tables": only, "trials": a.trials, "seeds": a.seeds,
                   "inflight": inflight, "samplers": samplers},
        "runs": runs,
        "seconds": time.time() - start,
    }
    log(f"done in {time.time() - start:.0f}s")
    print_table(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
        log(f"wrote {a.json}")


def print_table(res):
    print(f"{res['impl']}, {res['config']['trials']} trials, {res['config']['seeds']} seeds")
    runs = res["runs"]
    head = f"{'sampler':28} {'W':>3} {'summary':>8}" + "".join(f" {t['table'][:12]:>12}" for t in runs[0]["tables"])
    print(head)
    for r in runs:
        print(f"{r['sampler']:28} {r['inflight']:3d} {r['summary']:8.4f}" +
              "".join(f" {t['median_regret']:12.4g}" for t in r["tables"]))


def log(msg):
    print(time.strftime("%H:%M:%S") + "  " + msg, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
