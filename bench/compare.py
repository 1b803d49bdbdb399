#!/usr/bin/python3
"""Print tune's and Optuna's ask+tell benchmark results side by side.

    /usr/bin/python3 bench/compare.py RESULTS_DIR [RESULTS_DIR ...]

Each RESULTS_DIR holds tune.json (from `go run ./bench/asktell --json`) and
optuna.json (from bench/optuna_asktell.py --json), as bench/run.sh writes
them. With several directories it prints each run, then the median of the
runs with their range, and checks the issue's targets on the medians.
"""

import json
import os
import statistics
import sys

# The targets.
ASK_P50_TARGET_MS = 20.0  # tune's ask p50 at the largest history size
THROUGHPUT_RATIO_TARGET = 10.0  # tune pairs/s over Optuna's, every level


def load(d):
    with open(os.path.join(d, "tune.json")) as f:
        tune = json.load(f)
    with open(os.path.join(d, "optuna.json")) as f:
        opt = json.load(f)
    return tune, opt


def ratio(a, b):
    return a / b if b else float("inf")


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))


def fmt(xs, digits=1):
    """One number, or the median with the range of several."""
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{statistics.median(xs):.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def suggest(steps):
    """tune's server-side mean suggest time, where the runs recorded it."""
    xs = [t["suggest_mean_ms"] for t in steps if t.get("suggest_mean_ms")]
    return fmt(xs) if xs else "-"


def side_by_side(runs):
    """Throughput and latency tables over runs, a list of (tune, optuna)."""
    tune0, opt0 = runs[0]
    print("Throughput: ask+tell pairs/s, one fresh study per level shared by its clients")
    rows = []
    for i, t0 in enumerate(tune0["throughput"]):
        n = t0["clients"]
        tt = [r[0]["throughput"][i] for r in runs]
        oo = [next(o for o in r[1]["throughput"] if o["clients"] == n) for r in runs]
        rows.append([
            n,
            fmt([t["pairs_per_s"] for t in tt]),
            fmt([o["pairs_per_s"] for o in oo]),
            fmt([ratio(t["pairs_per_s"], o["pairs_per_s"]) for t, o in zip(tt, oo)]) + "x",
            fmt([t["ask_p50_ms"] for t in tt]) + " / " + fmt([t["ask_p99_ms"] for t in tt]),
            fmt([o["ask_p50_ms"] for o in oo]) + " / " + fmt([o["ask_p99_ms"] for o in oo]),
            sum(t["errors"] for t in tt) + sum(o["errors"] for o in oo),
        ])
    table(rows, ["clients", "tune pairs/s", "optuna pairs/s", "ratio",
                 "tune ask p50/p99 ms", "optuna ask p50/p99 ms", "errors"])
    print()
    print("Latency: one client, sequential ask -> tell, TPE, at N finished trials (ms);")
    print("(suggest) is the mean time tune's sampler took inside those asks, from its /metrics")
    rows = []
    for i, t0 in enumerate(tune0["latency"]):
        n = t0["trials"]
        tt = [r[0]["latency"][i] for r in runs]
        oo = [next(o for o in r[1]["latency"] if o["trials"] == n) for r in runs]
        rows.append([
            n,
            fmt([t["ask_p50_ms"] for t in tt]),
            suggest(tt),
            fmt([o["ask_p50_ms"] for o in oo]),
            fmt([ratio(o["ask_p50_ms"], t["ask_p50_ms"]) for t, o in zip(tt, oo)]) + "x",
            fmt([t["ask_p99_ms"] for t in tt]),
            fmt([o["ask_p99_ms"] for o in oo]),
            fmt([t["tell_p50_ms"] for t in tt]),
            fmt([o["tell_p50_ms"] for o in oo]),
            "/".join(str(x["asks"]) for x in tt) + " vs " + "/".join(str(x["asks"]) for x in oo),
        ])
    table(rows, ["trials", "tune ask p50", "(suggest)", "optuna ask p50", "optuna/tune",
                 "tune p99", "optuna p99", "tune tell p50", "optuna tell p50", "asks timed"])
    print()
    # The targets, on the medians.
    last = len(tune0["latency"]) - 1
    p50 = statistics.median(r[0]["latency"][last]["ask_p50_ms"] for r in runs)
    size = tune0["latency"][last]["trials"]
    ok = p50 < ASK_P50_TARGET_MS
    print(f"target: tune ask p50 at {size} trials < {ASK_P50_TARGET_MS:g} ms: "
          f"{'MET' if ok else 'NOT MET'} ({p50:.1f} ms)")
    worst = None
    for i, t0 in enumerate(tune0["throughput"]):
        n = t0["clients"]
        rs = [ratio(r[0]["throughput"][i]["pairs_per_s"],
                    next(o for o in r[1]["throughput"] if o["clients"] == n)["pairs_per_s"]) for r in runs]
        m = statistics.median(rs)
        print(f"target: tune pairs/s >= {THROUGHPUT_RATIO_TARGET:g}x Optuna's with {n} client(s): "
              f"{'MET' if m >= THROUGHPUT_RATIO_TARGET else 'NOT MET'} ({m:.1f}x)")
        worst = m if worst is None else min(worst, m)


def main():
    dirs = sys.argv[1:]
    if not dirs:
        sys.exit(__doc__)
    runs = [load(d) for d in dirs]
    t, o = runs[0]
    m = t["machine"]
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}; tune on {t['version']}, optuna {o['version']}")
    if len(runs) > 1:
        for d, r in zip(dirs, runs):
            print(f"\n=== {d} (tune {r[0]['date']}, optuna {r[1]['date']})\n")
            side_by_side([r])
        print(f"\n=== median of {len(runs)} runs (min-max)\n")
    else:
        print(f"tune {t['date']}, optuna {o['date']}\n")
    side_by_side(runs)


if __name__ == "__main__":
    main()
