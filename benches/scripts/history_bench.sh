#!/usr/bin/env bash
# History query benchmarks of benches/BENCHMARKS.md ("Storage (issue 4)", (b)-(d)): one
# instrument's year of 1m bars out of 100 stored, as Arrow from GET /v1/bars, raw (1m) and
# resampled to 1h, end-to-end with curl; then the same beside DuckDB on the same files.
#
#   benches/scripts/history_bench.sh [DATA_DIR] [RUNS]
#
# DATA_DIR defaults to target/history-bench (relative to the repo root). If it holds no
# storage.json, history-gen writes a year (2025) of 1m bars for 100 instruments there first
# (about 2 GiB, half a minute on 2 cores). Builds nexamd and history-gen in release mode
# unless NO_BUILD=1 (CARGO_TARGET_DIR is honoured). Starts nexamd on a free loopback port with
# benches/scripts/history_bench.toml (no feed, storage writer off), waits for /health, runs
# one warm-up and RUNS (default 21) timed requests per query with curl, prints medians,
# then runs benches/scripts/duckdb_bench.py (needs `pip install duckdb pyarrow`), which checks
# row counts and nexamd's rows against DuckDB's and times both interleaved. Stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-target/history-bench}
runs=${2:-21}
instrument=${INSTRUMENT:-SIM:ABX}
year=2025
start="${year}-01-01T00:00:00Z"
end="$((year + 1))-01-01T00:00:00Z"
bin=${CARGO_TARGET_DIR:-target}/release

if [ "${NO_BUILD:-0}" != 1 ]; then
  cargo build --release -q --bin nexamd
  cargo build --release -q -p benches --bin history-gen
fi
if [ ! -f "$data/storage.json" ]; then
  "$bin/history-gen" "$data" --year "$year"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$data.server.log"
"$bin/nexamd" --config benches/scripts/history_bench.toml --listen "127.0.0.1:$port" \
  --data-dir "$data" 2> "$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  curl -sf "127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "127.0.0.1:$port/health" >/dev/null || { echo "nexamd did not come up; see $log" >&2; exit 1; }

url() {
  echo "http://127.0.0.1:$port/v1/bars?instrument=$instrument&interval=$1&start=$start&end=$end&format=arrow"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "nexamd $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $data, $instrument $start .. $end, $runs runs after 1 warm-up"
for interval in 1m 1h; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$(url $interval)")
  [ "$code" = 200 ] || { echo "GET $(url $interval) answered $code" >&2; exit 1; }
  totals=() firsts=()
  for _ in $(seq "$runs"); do
    read -r first total bytes < <(curl -s -o /dev/null \
      -w '%{time_starttransfer} %{time_total} %{size_download}\n' "$(url $interval)")
    firsts+=("$first") totals+=("$total")
  done
  med=$(printf '%s\n' "${totals[@]}" | median)
  min=$(printf '%s\n' "${totals[@]}" | sort -g | head -1)
  max=$(printf '%s\n' "${totals[@]}" | sort -g | tail -1)
  ttfb=$(printf '%s\n' "${firsts[@]}" | median)
  awk -v i="$interval" -v m="$med" -v lo="$min" -v hi="$max" -v f="$ttfb" -v b="$bytes" \
    'BEGIN {printf "curl %s: time_total median %.1f ms (min %.1f, max %.1f); time_starttransfer median %.1f ms; %d bytes\n", i, m*1e3, lo*1e3, hi*1e3, f*1e3, b}'
done

echo
python3 benches/scripts/duckdb_bench.py "$data" --url "http://127.0.0.1:$port" \
  --instrument "$instrument" --year "$year" --runs "$runs" ${DUCKDB_ARGS---both-cache-modes}
