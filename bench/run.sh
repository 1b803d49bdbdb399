#!/usr/bin/env bash
# Runs tune's and Optuna's ask+tell benchmarks one after the other on this
# machine and the same Postgres, then prints them side by side.
#
#   bench/run.sh            # full run, about 7-12 minutes on a busy 2-core machine
#   bench/run.sh --quick    # smoke run, about a minute
#
# Environment: DATABASE_URL (default: local Postgres, user postgres, trust
# auth), DURATION (seconds per throughput level, default 10). Raw results go
# to bench/results/<UTC timestamp>/: tune.json and optuna.json (and each
# side's own table, tune.txt and optuna.txt), meta.txt and
# the printed comparison, compare.txt.
set -euo pipefail

cd "$(dirname "$0")/.."
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
PY=/usr/bin/python3

quick=()
case "${1:-}" in
--quick) quick=(--quick) ;;
"") ;;
*) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
esac
go_duration=() py_duration=()
if [[ -n "${DURATION:-}" ]]; then
	# Go's flag takes a duration ("10s"), the Python one seconds.
	go_duration=(--duration "${DURATION}s")
	py_duration=(--duration "$DURATION")
fi

# Check everything before spending minutes on the Go half.
if ! command -v go >/dev/null; then
	echo "run.sh: go is not on PATH" >&2
	exit 1
fi
if ! "$PY" -c 'import optuna, psycopg2' 2>/dev/null; then
	echo "run.sh: $PY cannot import optuna and psycopg2; install them with:" >&2
	echo "    sudo apt-get install python3-optuna python3-psycopg2" >&2
	exit 1
fi
if ! "$PY" -c 'import psycopg2, sys; psycopg2.connect(sys.argv[1]).close()' "$DATABASE_URL" 2>/dev/null; then
	echo "run.sh: cannot connect to Postgres at $DATABASE_URL" >&2
	echo "    start it (e.g. sudo service postgresql start) or set DATABASE_URL" >&2
	exit 1
fi

out=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

# The tuner package is under active work: record exactly which state of it
# the binary is built from, uncommitted changes included (the fingerprint
# hashes the diff against HEAD and any untracked files).
tuner_fingerprint() {
	{
		git diff HEAD -- tuner
		git ls-files --others --exclude-standard -- tuner | sort | xargs -r cat
	} 2>/dev/null | sha256sum | cut -c1-12
}
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
	echo "uncommitted tuner work (git status --short tuner | head):"
	git status --short tuner 2>/dev/null | head | sed 's/^/    /'
	echo "tuner fingerprint (diff vs HEAD + untracked): $(tuner_fingerprint)"
} >"$out/meta.txt"

# Built first, so that compiling is not part of the run (nor of its load).
go build -o "$bin/asktell" ./bench/asktell

{
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "go: $(go env GOVERSION)"
	echo "optuna: $("$PY" -c 'import optuna; print(optuna.__version__)')"
	echo "postgres: $("$PY" -c 'import psycopg2, sys; c = psycopg2.connect(sys.argv[1]); cur = c.cursor(); cur.execute("show server_version"); print(cur.fetchone()[0])' "$DATABASE_URL")"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out/meta.txt"

echo "== tune (results in $out)" >&2
"$bin/asktell" --database-url "$DATABASE_URL" --json "$out/tune.json" ${quick[@]+"${quick[@]}"} ${go_duration[@]+"${go_duration[@]}"} >"$out/tune.txt"
echo "load average between: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
echo "== optuna" >&2
"$PY" bench/optuna_asktell.py --database-url "$DATABASE_URL" --json "$out/optuna.json" ${quick[@]+"${quick[@]}"} ${py_duration[@]+"${py_duration[@]}"} >"$out/optuna.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"

{
	cat "$out/meta.txt"
	echo
	"$PY" bench/compare.py "$out"
} | tee "$out/compare.txt"
