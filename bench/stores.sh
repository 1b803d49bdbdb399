#!/usr/bin/env bash
# Runs the ask+tell benchmark (bench/asktell) against `tune serve` on each
# store in turn, the embedded SQLite file and Postgres, on this machine:
# same binary, same loopback HTTP, same benchmark, only the store differs.
# Rounds alternate the order (sqlite, postgres, then postgres, sqlite, ...)
# so that a machine that gets busier or quieter favours neither.
#
#   bench/stores.sh          # two rounds, about 3 minutes on 2 cores
#   bench/stores.sh 4        # four rounds
#
# Environment: DATABASE_URL (the Postgres server; a database is created
# for each run and dropped after), PORT (default 18181). Raw results go to
# bench/results/stores-<UTC timestamp>/: <store>-<round>.json and .txt, and
# meta.txt (date, commit, cores, load).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
PORT=${PORT:-18181}
out=bench/results/stores-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
bin=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$bin"
}
trap cleanup EXIT

go build -o "$bin/tune" ./cmd/tune
go build -o "$bin/asktell" ./bench/asktell
{ date -u +%FT%TZ; git rev-parse --short HEAD; nproc; cat /proc/loadavg; } >"$out/meta.txt"

# run STORE ROUND: a fresh store, a fresh server, one benchmark.
run() {
  local store=$1 round=$2 args=()
  case $store in
  sqlite) args=(--data-dir "$bin/data-$round") ;;
  postgres)
    local db=tune_stores_$$_$round
    psql "$DATABASE_URL" -qc "CREATE DATABASE $db"
    args=(--database-url "${DATABASE_URL%/*}/$db?sslmode=disable")
    ;;
  esac
  echo "== round $round: $store"
  # A loopback server without tokens (bench/asktell sends none) and
  # without the rate limit, so that the benchmark times the store: its fill
  # runs past 500 requests a second.
  "$bin/tune" serve --addr "127.0.0.1:$PORT" --insecure --rate-limit -1 "${args[@]}" >"$bin/$store-$round.serve.log" 2>&1 &
  server=$!
  "$bin/tune" health --server "http://127.0.0.1:$PORT" --ready --wait 30s >/dev/null
  "$bin/asktell" --server "http://127.0.0.1:$PORT" --json "$out/$store-$round.json" | tee "$out/$store-$round.txt" | sed -n '/^tune ask+tell/,$p'
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
  [ "$store" = postgres ] && psql "$DATABASE_URL" -qc "DROP DATABASE $db"
  return 0
}

for round in $(seq 1 "$rounds"); do
  if (( round % 2 )); then order=(sqlite postgres); else order=(postgres sqlite); fi
  for store in "${order[@]}"; do run "$store" "$round"; done
done
echo "results in $out"
