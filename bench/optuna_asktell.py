#!/usr/bin/python3
"""Optuna's side of tune's ask+tell load benchmark (bench/asktell).

The same measurements as `go run ./bench/asktell`, with Optuna 3.1's
RDBStorage on the same Postgres server, TPESampler and the ask/tell API:

  a) throughput: ask+tell pairs per second with 1, 4 and 16 concurrent
     clients, each level on a fresh study shared by its clients. Every client
     is a separate process with its own storage, which is how Optuna users
     parallelise (the GIL rules out threads for TPE's CPU work).
  b) latency: one client, sequential ask -> suggest x5 -> tell, timed at 100,
     1,000 and 5,000 finished trials. The history is pre-populated with
     study.add_trials() of optuna.trial.create_trial() with random params
     drawn from the same distributions and the same objective's value.

"Ask" here is study.ask() plus the five trial.suggest_*() calls: that is
where Optuna's TPE runs and writes the params, i.e. what tune's
POST /studies/{s}/ask does. "Tell" is study.tell(trial, value).

It creates a database optuna_bench_<pid> on the server and drops it at exit.
Progress goes to stderr, the table to stdout, --json FILE writes the results
in the same shape as the Go benchmark's.

    /usr/bin/python3 bench/optuna_asktell.py [--quick] [--json FILE]
"""

import argparse
import atexit
import json
import math
import multiprocessing as mp
import os
import platform
import random
import signal
import sys
import threading
import time
import urllib.parse

try:
    import optuna
    import psycopg2
    from optuna.distributions import (CategoricalDistribution,
                                      FloatDistribution, IntDistribution)
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.exit(f"optuna_asktell: {e}; install with: apt-get install python3-optuna python3-psycopg2")

ACTIVATIONS = ["relu", "tanh", "sigmoid", "leaky_relu"]
PRECISIONS = ["float32", "float64"]

# The five knobs, as distributions for create_trial; suggest() below asks
# for exactly the same ones.
DISTRIBUTIONS = {
    "learning_rate": FloatDistribution(1e-5, 1.0, log=True),
    "batch_size": IntDistribution(16, 1024, log=True),
    "activation": CategoricalDistribution(ACTIVATIONS),
    "precision": CategoricalDistribution(PRECISIONS),
    "workers": IntDistribution(1, 8),
}


def log(msg):
    print(time.strftime("%H:%M:%S") + "  " + msg, file=sys.stderr, flush=True)


def suggest(trial):
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1.0, log=True),
        "batch_size": trial.suggest_int("batch_size", 16, 1024, log=True),
        "activation": trial.suggest_categorical("activation", ACTIVATIONS),
        "precision": trial.suggest_categorical("precision", PRECISIONS),
        "workers": trial.suggest_int("workers", 1, 8),
    }


def objective(p, rng):
    """The synthetic loss of bench/asktell/load.go's objective, term for term."""
    v = ((math.log10(p["learning_rate"]) + 3) ** 2
         + (math.log2(p["batch_size"]) - 7) ** 2 / 4
         + (p["workers"] - 4) ** 2 / 16)
    v += {"relu": 0.0, "tanh": 0.2, "sigmoid": 0.5, "leaky_relu": 0.05}[p["activation"]]
    if p["precision"] == "float64":
        v += 0.1
    return v + rng.gauss(0, 0.01)


def random_params(rng):
    def log_uniform(lo, hi):
        return math.exp(math.log(lo) + rng.random() * (math.log(hi) - math.log(lo)))
    return {
        "learning_rate": log_uniform(1e-5, 1.0),
        "batch_size": min(max(round(log_uniform(16, 1024)), 16), 1024),
        "activation": rng.choice(ACTIVATIONS),
        "precision": rng.choice(PRECISIONS),
        "workers": rng.randint(1, 8),
    }


def pct(xs, p):
    """Nearest-rank quantile in milliseconds of durations in seconds."""
    if not xs:
        return 0.0
    s = sorted(xs)
    i = min(max(math.ceil(p * len(s)) - 1, 0), len(s) - 1)
    return s[i] * 1000


def pair(study, rng):
    t0 = time.perf_counter()
    trial = study.ask()
    params = suggest(trial)
    t1 = time.perf_counter()
    study.tell(trial, objective(params, rng))
    return t1 - t0, time.perf_counter() - t1


# --- database ---------------------------------------------------------------

class Database:
    """A fresh database on the server of admin_url, dropped by drop()."""

    def __init__(self, admin_url):
        self.admin_url = admin_url
        self.name = f"optuna_bench_{os.getpid()}"
        self._exec(f'CREATE DATABASE "{self.name}"')
        self.created = True
        u = urllib.parse.urlsplit(admin_url)
        # SQLAlchemy wants its dialect+driver scheme; the query (sslmode)
        # is kept.
        self.url = urllib.parse.urlunsplit(("postgresql+psycopg2", u.netloc, "/" + self.name, u.query, ""))

    def _exec(self, sql):
        conn = psycopg2.connect(self.admin_url)
        try:
            conn.autocommit = True  # CREATE/DROP DATABASE refuse transactions
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def drop(self):
        if not getattr(self, "created", False):
            return
        self.created = False
        try:
            # FORCE ends connections a killed worker may have left behind.
            self._exec(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            log(f"dropped database {self.name}")
        except Exception as e:  # report, never mask the run's own error
            log(f"could not drop database {self.name}: {e} (drop it by hand)")


def warm_up():
    """Run TPE once in memory so that its lazy imports (numpy, scipy) are
    loaded before the workers are forked: otherwise 16 processes each pay
    for them inside their first timed ask, and on two cores that alone
    takes seconds. No database is involved."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(n_startup_trials=2, seed=0))
    rng = random.Random(0)
    for _ in range(5):
        pair(study, rng)


def create_study(url, name, seed=None):
    """Create a study, then close the parent's connections before forking:
    a child that inherits a pooled connection's socket would corrupt it."""
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    return study, storage


# --- a) throughput ----------------------------------------------------------

def throughput_worker(url, name, warm_name, index, barrier, duration, count, claimed, out):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        # Its own storage from the URL, as `optuna.load_study(storage=URL)`
        # gives every worker of a distributed study: RDBStorage behind
        # Optuna's _CachedStorage.
        study = optuna.load_study(study_name=name, storage=url,
                                  sampler=optuna.samplers.TPESampler())
        rng = random.Random(index)
        # Two untimed pairs on a study of their own warm this process's
        # connection pool, SQLAlchemy's statement cache and the cache of
        # _CachedStorage, so the clock measures steady state.
        warm = optuna.load_study(study_name=warm_name, storage=url,
                                 sampler=optuna.samplers.TPESampler())
        for _ in range(2):
            pair(warm, rng)
    except Exception as e:
        barrier.abort()
        out.put({"error": f"worker {index}: {e!r}"})
        return
    barrier.wait()
    deadline = time.monotonic() + duration
    asks, tells, errors, first_error = [], [], 0, None
    while True:
        if count:
            with claimed.get_lock():
                claimed.value += 1
                if claimed.value > count:
                    break
        elif time.monotonic() >= deadline:
            break
        try:
            a, t = pair(study, rng)
        except Exception as e:  # count and go on, as the Go side does
            errors += 1
            first_error = first_error or repr(e)
            if errors >= 200:
                break
            continue
        asks.append(a)
        tells.append(t)
    out.put({"asks": asks, "tells": tells, "errors": errors, "first_error": first_error,
             "end": time.monotonic()})


def throughput(db, n, duration, count, run_id):
    name = f"bench-c{n}-{run_id}"
    warm_name = name + "-warmup"
    for n_ in (name, warm_name):
        _, storage = create_study(db.url, n_)
        storage.engine.dispose()
    what = f"{count} pairs" if count else f"{duration:g}s"
    log(f"throughput: {n} client(s) for {what}, study {name}")
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(n + 1)
    claimed = ctx.Value("q", 0)
    out = ctx.Queue()
    # Daemonic, so that they are terminated if the parent exits early
    # (an error, SIGTERM) instead of running on against a dropped database.
    procs = [ctx.Process(target=throughput_worker,
                         args=(db.url, name, warm_name, i, barrier, duration, count, claimed, out),
                         daemon=True)
             for i in range(n)]
    for p in procs:
        p.start()
    try:
        # Starting processes and loading the study is not part of the
        # measurement: the clock starts when every client is ready.
        barrier.wait()
    except threading.BrokenBarrierError:
        pass  # a worker failed to start; its error is in the queue
    start = time.monotonic()
    results = []
    for _ in procs:
        r = out.get()
        if "error" in r:
            for p in procs:
                p.kill()
            raise RuntimeError(r["error"])
        results.append(r)
    for p in procs:
        p.join()
    elapsed = max(r["end"] for r in results) - start
    asks = [a for r in results for a in r["asks"]]
    tells = [t for r in results for t in r["tells"]]
    errors = sum(r["errors"] for r in results)
    for r in results:
        if r["first_error"]:
            log(f"  ERROR {r['first_error']}")
    t = {
        "clients": n,
        "pairs": len(asks),
        "seconds": elapsed,
        "pairs_per_s": len(asks) / elapsed,
        "ask_p50_ms": pct(asks, 0.5),
        "ask_p99_ms": pct(asks, 0.99),
        "tell_p50_ms": pct(tells, 0.5),
        "errors": errors,
    }
    log(f"  {n} clients: {t['pairs']} pairs in {elapsed:.1f}s = {t['pairs_per_s']:.1f} pairs/s, "
        f"ask p50 {t['ask_p50_ms']:.1f} ms p99 {t['ask_p99_ms']:.1f} ms, {errors} errors")
    return t


# --- b) latency -------------------------------------------------------------

def fill_worker(url, name, n, seed, done):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url)
    rng = random.Random(seed)
    for _ in range(n):
        p = random_params(rng)
        # study.add_trials() is this same loop over add_trial(); one at a
        # time lets the parent show progress.
        study.add_trial(optuna.trial.create_trial(params=p, distributions=DISTRIBUTIONS,
                                                  value=objective(p, rng)))
        with done.get_lock():
            done.value += 1


def fill(db, name, n, workers, seed):
    """Add n finished trials, split over worker processes: add_trial is one
    storage round trip after another, and waits on the database."""
    ctx = mp.get_context("fork")
    chunks = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    done = ctx.Value("q", 0)
    procs = [ctx.Process(target=fill_worker, args=(db.url, name, c, seed * 1000 + i, done), daemon=True)
             for i, c in enumerate(chunks) if c]
    start = time.monotonic()
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        procs[0].join(timeout=5)
        d = done.value
        log(f"  filling: {d}/{n}, {d / (time.monotonic() - start):.0f}/s")
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a fill worker exited with {p.exitcode}")


def latency(db, sizes, asks, workers, budget, run_id):
    name = f"bench-latency-{run_id}"
    study, storage = create_study(db.url, name, seed=42)
    storage.engine.dispose()
    log(f"latency: one client, {asks} timed pairs at {sizes} finished trials "
        f"(at most {budget:g}s of asks per size), study {name}")
    # The measuring client is a storage of its own, loaded once like a
    # long-lived worker's, so its cache is warm as it would be in use.
    study = optuna.load_study(study_name=name, storage=db.url,
                              sampler=optuna.samplers.TPESampler(seed=42))
    rng = random.Random(42)
    finished, out = 0, []
    for step, size in enumerate(sizes):
        fill_s = 0.0
        if size > finished:
            t0 = time.monotonic()
            fill(db, name, size - finished, workers, step + 1)
            fill_s = time.monotonic() - t0
            finished = size
        got = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        if got != finished:
            raise RuntimeError(f"study {name} has {got} complete trials, want {finished}")
        log(f"  {finished} finished trials (filled in {fill_s:.1f}s); timing {asks} asks")
        a_s, t_s = [], []
        t0 = time.monotonic()
        while len(a_s) < asks:
            a, t = pair(study, rng)
            a_s.append(a)
            t_s.append(t)
            finished += 1
            if time.monotonic() - t0 > budget and len(a_s) >= 10:
                log(f"  at {size}: stopping after {len(a_s)} asks, past the {budget:g}s budget")
                break
        st = {"trials": size, "asks": len(a_s), "ask_p50_ms": pct(a_s, 0.5),
              "ask_p99_ms": pct(a_s, 0.99), "tell_p50_ms": pct(t_s, 0.5),
              "fill_seconds": fill_s}
        log(f"  at {size}: ask p50 {st['ask_p50_ms']:.1f} ms p99 {st['ask_p99_ms']:.1f} ms, "
            f"tell p50 {st['tell_p50_ms']:.1f} ms")
        out.append(st)
    return out


# --- output -----------------------------------------------------------------

def print_table(r):
    m = r["machine"]
    print(f"optuna {r['version']} ask+tell benchmark, {r['date']}, {m['nproc']} CPUs ({m['cpu']})\n")
    print(f"{'clients':>7}  {'pairs':>6}  {'seconds':>7}  {'pairs/s':>7}  {'ask p50 ms':>10}  "
          f"{'ask p99 ms':>10}  {'tell p50 ms':>11}  {'errors':>6}")
    for t in r["throughput"]:
        print(f"{t['clients']:>7}  {t['pairs']:>6}  {t['seconds']:>7.1f}  {t['pairs_per_s']:>7.1f}  "
              f"{t['ask_p50_ms']:>10.1f}  {t['ask_p99_ms']:>10.1f}  {t['tell_p50_ms']:>11.1f}  {t['errors']:>6}")
    print()
    print(f"{'finished trials':>15}  {'asks':>4}  {'ask p50 ms':>10}  {'ask p99 ms':>10}  "
          f"{'tell p50 ms':>11}  {'fill s':>6}")
    for s in r["latency"]:
        print(f"{s['trials']:>15}  {s['asks']:>4}  {s['ask_p50_ms']:>10.1f}  {s['ask_p99_ms']:>10.1f}  "
              f"{s['tell_p50_ms']:>11.1f}  {s['fill_seconds']:>6.1f}")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() == "model name":
                    return v.strip()
    except OSError:
        pass
    return platform.processor()


def ints(s):
    out = [int(x) for x in s.split(",") if x.strip()]
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"{s!r} is not a list of positive integers")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                    help="Postgres server to create the benchmark's database on")
    ap.add_argument("--duration", type=float, default=None, help="seconds each throughput level runs (10)")
    ap.add_argument("--count", type=int, default=0, help="pairs per throughput level instead of --duration")
    ap.add_argument("--clients", type=ints, default=[1, 4, 16])
    ap.add_argument("--sizes", type=ints, default=None, help="finished-trial counts (100,1000,5000)")
    ap.add_argument("--asks", type=int, default=None, help="timed pairs per size (100)")
    ap.add_argument("--size-budget", type=float, default=60,
                    help="stop timing asks at a size after this many seconds (and at least 10 asks)")
    ap.add_argument("--fill-workers", type=int, default=4, help="processes that pre-populate the history")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 s levels, sizes 50,200, 20 asks")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    a = ap.parse_args()
    a.duration = a.duration if a.duration is not None else (2 if a.quick else 10)
    a.sizes = a.sizes or ([50, 200] if a.quick else [100, 1000, 5000])
    a.asks = a.asks or (20 if a.quick else 100)
    if a.sizes != sorted(set(a.sizes)):
        ap.error("--sizes must increase: one study grows through them")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warm_up()
    db = Database(a.database_url)
    atexit.register(db.drop)
    # A SIGTERM would skip atexit; turn it into an exit that runs it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"created database {db.name}; optuna {optuna.__version__}")
    run_id = f"{os.getpid()}-{int(time.time())}"
    res = {
        "impl": "optuna",
        "version": optuna.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model()},
        "config": {"duration_s": a.duration, "count": a.count, "clients": a.clients, "sizes": a.sizes,
                   "asks": a.asks, "size_budget_s": a.size_budget, "fill_workers": a.fill_workers,
                   "quick": a.quick},
        "throughput": [throughput(db, n, a.duration, a.count, run_id) for n in a.clients],
    }
    res["latency"] = latency(db, a.sizes, a.asks, a.fill_workers, a.size_budget, run_id)
    print_table(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
        log(f"wrote {a.json}")


if __name__ == "__main__":
    main()
