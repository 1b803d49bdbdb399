#!/usr/bin/env bash
# Runs bench/quality for tune and Optuna 3.1 on the same tables, budget,
# seeds and W, then prints them side by side with the issue's targets.
#
#   bench/quality/run.sh                     # 12 seeds, 100 trials, W = 1 and 8
#   SEEDS=3 TABLES=car,kc1 bench/quality/run.sh
#   DATA=/elsewhere bench/quality/run.sh     # other tables of the same benchmarks
#
# Environment: SEEDS (12), TRIALS (100), INFLIGHT (1,8), TABLES (all),
# DATA (bench/quality/data: <family>/<table>.csv.gz, family hpobench or
# hpolib, as ../shared/benchdata lays them out),
# SAMPLERS (extra tune samplers as NAME=JSON, separated by ';'; the study
# default always runs, as "tune"). Results go to bench/results/quality-<UTC
# time>/: tune.json, optuna.json, optuna.jsonl (per study; rerunning with
# OUT=that directory resumes Optuna's side), each side's table, meta.txt and
# compare.txt.
set -euo pipefail

cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
SEEDS=${SEEDS:-12}
TRIALS=${TRIALS:-100}
INFLIGHT=${INFLIGHT:-1,8}
TABLES=${TABLES:-}
DATA=${DATA:-bench/quality/data}

if ! command -v go >/dev/null; then
	echo "run.sh: go is not on PATH" >&2
	exit 1
fi
if ! "$PY" -c 'import optuna' 2>/dev/null; then
	echo "run.sh: $PY cannot import optuna; install it with: sudo apt-get install python3-optuna" >&2
	exit 1
fi

out=${OUT:-bench/results/quality-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/quality" ./bench/quality

samplers=(--sampler 'tune={}')
if [[ -n "${SAMPLERS:-}" ]]; then
	IFS=';' read -ra extra <<<"$SAMPLERS"
	for s in "${extra[@]}"; do samplers+=(--sampler "$s"); done
fi
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo none) $(git status --short tuner | wc -l) uncommitted tuner files"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "go: $(go env GOVERSION)"
	echo "optuna: $("$PY" -c 'import optuna; print(optuna.__version__)')"
	echo "seeds $SEEDS, trials $TRIALS, W $INFLIGHT, tables ${TABLES:-all} in $DATA"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/meta.txt"

echo "== tune (results in $out)" >&2
"$bin/quality" --seeds "$SEEDS" --trials "$TRIALS" --inflight "$INFLIGHT" --tables "$TABLES" \
	--data "$DATA" "${samplers[@]}" --json "$out/tune.json" >"$out/tune.txt"
echo "load average between: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
echo "== optuna" >&2
# One BLAS thread per process: the pool already has one process per core.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$PY" bench/quality/optuna_quality.py --seeds "$SEEDS" --trials "$TRIALS" \
	--inflight "$INFLIGHT" --tables "$TABLES" --data "$DATA" --log "$out/optuna.jsonl" --json "$out/optuna.json" >"$out/optuna.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"

{
	cat "$out/meta.txt"
	echo
	"$PY" bench/quality/compare.py "$out/tune.json" "$out/optuna.json"
} | tee "$out/compare.txt"
