#!/usr/bin/env bash
# Runs one fanout load scenario of benches/BENCHMARKS.md against a release nexamd on loopback.
#
#   load-tests/scenario.sh a|b|c|d|d0 [seconds]
#
#   a   1,000 connections x 10 channels over 100 instruments, synthetic feed at 20,000 ticks/s
#   b   as (a) with 10,000 connections
#   c   10,000 idle connections: server RSS per connection
#   d   as (a) plus one stalled client with 200 channels
#   d0  as (a) again, the baseline for (d) in the same sitting
#
# CONNS=N overrides the 1,000 connections of a, d0 and d (d adds its stalled one), to find
# the load this machine serves within a latency bound; CONFIG=FILE runs another engine config;
# THREADS=N gives the generator N runtime threads (default 2).
#
# Builds both binaries in release mode, starts nexamd on a free port with
# load-tests/configs/fanout-20k.toml (fanout-idle.toml for c: the same market, storage off, so
# the storage engine's own memory is not charged to the connections), runs nexamd-load, writes the JSON report to
# target/load/<scenario>.json and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: load-tests/scenario.sh a|b|c|d|d0 [seconds]}
seconds=${2:-20}

cargo build --release -q -p nexamd -p load-tests
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 10100 ]; then
  echo "warning: open-file limit $(ulimit -n) may be too low for 10,000 connections" >&2
fi
mkdir -p target/load
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
config=load-tests/configs/fanout-20k.toml
[ "$scenario" = c ] && config=load-tests/configs/fanout-idle.toml
config=${CONFIG:-$config}
target/release/nexamd --config "$config" \
  --listen "127.0.0.1:$port" --data-dir "$data" --log-format json 2> "target/load/$scenario.server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -sf "127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

load=(target/release/nexamd-load --server "127.0.0.1:$port" -d "$seconds"
      --server-pid "$server" --report "target/load/$scenario.json" --threads "${THREADS:-2}")
conns=${CONNS:-1000}
TIMEFORMAT='generator cpu: user %U s, system %S s over %R s'
time case "$scenario" in
  a|d0) "${load[@]}" -n "$conns" -k 10 -m 100 ;;
  b)    "${load[@]}" -n 10000 -k 10 -m 100 --connect-concurrency 256 ;;
  c)    "${load[@]}" -n 10000 --idle --connect-concurrency 256 ;;
  d)    "${load[@]}" -n "$((conns + 1))" -k 10 -m 100 --stall 1 --stall-channels 200 ;;
  *)    echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
curl -s "127.0.0.1:$port/metrics" | grep -E '^nexamd_ws_(messages_sent|conflated|slow_consumer|gap)' || true
echo "server-side latency (ts_recv -> socket write, ns): $(curl -s "127.0.0.1:$port/v1/latency")"
ticks=$(getconf CLK_TCK)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$server/stat")
echo "server cpu: $(( (utime + stime) / ticks )) s since start (user $((utime / ticks)) s, system $((stime / ticks)) s)"
