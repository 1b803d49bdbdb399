#!/usr/bin/env bash
# Runs bench/quality's multi-objective and constrained modes for tune (over
# HTTP, as main.go does) and Optuna 3.1 (optuna_mo.py) on the same tables,
# budget and seeds, then prints them side by side (compare_mo.py).
#
#   bench/quality/run_mo.sh                       # 10 seeds, 100 trials
#   SEEDS=3 TABLES=car,kc1 bench/quality/run_mo.sh
#   OUT=bench/results/mo-<UTC> SIDES=optuna bench/quality/run_mo.sh   # resume Optuna's side
#
# Environment: SEEDS (10), TRIALS (100), INFLIGHT (tune's W, 1,8), TABLES
# (all; the order splits them between the two Optuna processes), SIDES (tune,optuna). tune runs its default sampler ("tune", TPE)
# and random; Optuna its MOTPE (with constraints_func in the constrained
# mode) and random, one trial at a time. Optuna's side is slow (20-50 s a
# study), so it runs niced in two processes, each on half of the tables,
# and appends to optuna-a.jsonl and optuna-b.jsonl: rerunning with OUT= the
# same directory skips the studies they hold. Results go to
# bench/results/mo-<UTC time>/: tune.jsonl, optuna-*.jsonl, logs, meta.txt
# and compare.txt.
set -euo pipefail

cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
SEEDS=${SEEDS:-10}
TRIALS=${TRIALS:-100}
INFLIGHT=${INFLIGHT:-1,8}
TABLES=${TABLES:-naval_propulsion,australian,blood_transfusion,car,parkinsons_telemonitoring,credit_g,kc1,segment}
SIDES=${SIDES:-tune,optuna}

if ! "$PY" -c 'import optuna' 2>/dev/null; then
	echo "run_mo.sh: $PY cannot import optuna; install it with: sudo apt-get install python3-optuna" >&2
	exit 1
fi
out=${OUT:-bench/results/mo-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ) sides $SIDES"
	echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo none) $(git status --short bench/quality tuner | wc -l) uncommitted files in bench/quality and tuner"
	echo "nproc: $(nproc), cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "go: $(go env GOVERSION), optuna: $("$PY" -c 'import optuna; print(optuna.__version__)')"
	echo "seeds $SEEDS, trials $TRIALS, tune's W $INFLIGHT, tables $TABLES"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out/meta.txt"

if [[ ,$SIDES, == *,tune,* ]]; then
	bin=$(mktemp -d)
	trap 'rm -rf "$bin"' EXIT
	go build -o "$bin/quality" ./bench/quality
	echo "== tune (results in $out)" >&2
	"$bin/quality" --mode mo,constrained --seeds "$SEEDS" --trials "$TRIALS" --inflight "$INFLIGHT" --tables "$TABLES" \
		--sampler 'tune={}' --sampler 'tune-random={"type":"random"}' --jsonl "$out/tune.jsonl" \
		>"$out/tune.txt" 2>"$out/tune.log"
	echo "load average after tune: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
fi

if [[ ,$SIDES, == *,optuna,* ]]; then
	echo "== optuna (results in $out)" >&2
	IFS=, read -ra all <<<"$TABLES"
	half=$(((${#all[@]} + 1) / 2))
	a=$(IFS=,; echo "${all[*]:0:half}")
	b=$(IFS=,; echo "${all[*]:half}")
	pids=()
	for part in "a:$a" "b:$b"; do
		p=${part%%:*} t=${part#*:}
		[[ -n $t ]] || continue
		OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 5 "$PY" bench/quality/optuna_mo.py --seeds "$SEEDS" \
			--trials "$TRIALS" --samplers optuna-motpe,optuna-random --procs 1 --tables "$t" \
			--out "$out/optuna-$p.jsonl" >>"$out/optuna-$p.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	echo "load average after optuna: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
fi

{
	cat "$out/meta.txt"
	"$PY" bench/quality/compare_mo.py "$out"/tune.jsonl "$out"/optuna-*.jsonl
} | tee "$out/compare.txt"
