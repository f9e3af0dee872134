#!/usr/bin/env python3
"""One instrument's year of 1m bars, and the same resampled to 1h: DuckDB on the stored
Parquet files beside nexamd's GET /v1/bars (Arrow), interleaved, medians.

    python3 benches/scripts/duckdb_bench.py DATA_DIR [--url http://127.0.0.1:PORT]
        [--instrument SIM:ABX] [--year 2025] [--runs 21] [--warmup 1]

DATA_DIR is what `history-gen` wrote (bars/1m/date=*/part-*.parquet). Without --url only
DuckDB is timed. With it, each round times, in turn: nexamd 1m, DuckDB 1m, nexamd 1h, DuckDB
1h, so noise on the shared machine hits both alike.

- nexamd: one HTTP/1.1 request on a new connection (as curl makes it), timed from connect to
  the last byte of the Arrow IPC body; the body is not decoded inside the timing.
- DuckDB: one persistent connection (default settings: 2 threads on this machine,
  TimeZone UTC), `con.sql(query).to_arrow_table()`, timed from the call to the materialized
  Arrow table. DuckDB's default does not cache Parquet metadata (`parquet_metadata_cache`
  false), so every query expands the glob and reads the 365 footers again, while nexamd
  loaded them once at start. --metadata-cache turns the cache on; --both-cache-modes times
  DuckDB both ways (two connections), so the comparison can be read either way.

Before timing, the script checks row counts (525,600 and 8,760 for a non-leap year) and that
nexamd's rows equal DuckDB's (ts, open, high, low, close, volume, trades exactly; vwap within
1e-8).
"""

import argparse
import datetime as dt
import http.client
import statistics
import sys
import time
import urllib.parse

import duckdb
import pyarrow as pa
import pyarrow.ipc


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="data directory written by history-gen")
    p.add_argument("--url", help="nexamd base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--instrument", default="SIM:ABX")
    p.add_argument("--year", type=int, default=2025)
    p.add_argument("--runs", type=int, default=21)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--metadata-cache", action="store_true", help="SET parquet_metadata_cache=true")
    p.add_argument(
        "--both-cache-modes",
        action="store_true",
        help="time DuckDB with and without the Parquet metadata cache (two connections)",
    )
    return p.parse_args()


def year_range(year):
    start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.timezone.utc)
    return start, end


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def sql_1m(glob, instrument, start, end):
    return f"""
        SELECT ts, open, high, low, close, volume, trades, vwap
        FROM read_parquet('{glob}')
        WHERE instrument = '{instrument}'
          AND ts >= CAST('{iso(start)}' AS TIMESTAMPTZ_NS) AND ts < CAST('{iso(end)}' AS TIMESTAMPTZ_NS)
        ORDER BY ts"""


def sql_1h(glob, instrument, start, end):
    return f"""
        SELECT time_bucket(INTERVAL 1 hour, CAST(ts AS TIMESTAMPTZ)) AS ts,
               arg_min(open, ts) AS open, max(high) AS high, min(low) AS low,
               arg_max(close, ts) AS close, sum(volume) AS volume, sum(trades) AS trades,
               sum(notional) / sum(volume) AS vwap
        FROM read_parquet('{glob}')
        WHERE instrument = '{instrument}'
          AND ts >= CAST('{iso(start)}' AS TIMESTAMPTZ_NS) AND ts < CAST('{iso(end)}' AS TIMESTAMPTZ_NS)
        GROUP BY 1
        ORDER BY 1"""


def connect(cache):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if cache:
        con.execute("SET parquet_metadata_cache = true")
    return con


def duck(con, sql):
    started = time.perf_counter()
    table = con.sql(sql).to_arrow_table()
    return time.perf_counter() - started, table


def nexamd(url, instrument, interval, start, end):
    u = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode(
        {
            "instrument": instrument,
            "interval": interval,
            "start": iso(start),
            "end": iso(end),
            "format": "arrow",
        }
    )
    started = time.perf_counter()
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
    conn.request("GET", f"/v1/bars?{query}")
    resp = conn.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if resp.status != 200:
        sys.exit(f"nexamd answered {resp.status}: {body[:300]!r}")
    return elapsed, body


def decode(body):
    return pa.ipc.open_stream(body).read_all()


def check_same(name, ours, theirs):
    """nexamd's Arrow table against DuckDB's: same rows, same values."""
    if ours.num_rows != theirs.num_rows:
        sys.exit(f"{name}: nexamd {ours.num_rows} rows, DuckDB {theirs.num_rows}")
    a = ours.to_pydict()
    b = theirs.to_pydict()
    for col in ["ts", "open", "high", "low", "close", "volume", "trades"]:
        xa, xb = a[col], b[col]
        if col == "ts":
            xa = [x.timestamp() for x in xa]
            xb = [x.timestamp() for x in xb]
        else:
            xa = [None if x is None else float(x) if col != "trades" else int(x) for x in xa]
            xb = [None if x is None else float(x) if col != "trades" else int(x) for x in xb]
        if xa != xb:
            i = next(i for i, (x, y) in enumerate(zip(xa, xb)) if x != y)
            sys.exit(f"{name}: column {col} differs at row {i}: nexamd {xa[i]} DuckDB {xb[i]}")
    worst = max(abs(float(x) - float(y)) for x, y in zip(a["vwap"], b["vwap"]))
    if worst > 1e-8:
        sys.exit(f"{name}: vwap differs by up to {worst}")
    print(f"  {name}: nexamd and DuckDB agree on {ours.num_rows} rows (vwap within {worst:.1e})")


def ms(xs):
    return statistics.median(xs) * 1e3


def main():
    args = parse_args()
    start, end = year_range(args.year)
    glob = f"{args.data.rstrip('/')}/bars/1m/*/*.parquet"
    minutes = int((end - start).total_seconds() // 60)
    hours = minutes // 60
    queries = {"1m": sql_1m(glob, args.instrument, start, end), "1h": sql_1h(glob, args.instrument, start, end)}
    expected = {"1m": minutes, "1h": hours}

    modes = [("duckdb", args.metadata_cache)]
    if args.both_cache_modes:
        modes = [("duckdb", False), ("duckdb_mdcache", True)]
    cons = {name: connect(cache) for name, cache in modes}

    print(
        f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}; {args.instrument} "
        f"{iso(start)} .. {iso(end)}; {args.runs} timed rounds after {args.warmup} warm-up"
    )
    for name, con in cons.items():
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        cache = con.execute("SELECT current_setting('parquet_metadata_cache')").fetchall()[0][0]
        print(f"  {name}: threads={threads} parquet_metadata_cache={cache}")

    # Checks, which double as the warm-up.
    print("checks:")
    for interval, sql in queries.items():
        for name, con in cons.items():
            _, table = duck(con, sql)
            if table.num_rows != expected[interval]:
                sys.exit(f"{name} {interval}: {table.num_rows} rows, expected {expected[interval]}")
        if args.url:
            _, body = nexamd(args.url, args.instrument, interval, start, end)
            ours = decode(body)
            if ours.num_rows != expected[interval]:
                sys.exit(f"nexamd {interval}: {ours.num_rows} rows, expected {expected[interval]}")
            print(f"  nexamd {interval}: {ours.num_rows} rows, {len(body)} bytes of Arrow IPC, schema {ours.schema.names}")
            check_same(interval, ours, table)
    for _ in range(max(args.warmup - 1, 0)):
        for interval, sql in queries.items():
            for con in cons.values():
                duck(con, sql)
            if args.url:
                nexamd(args.url, args.instrument, interval, start, end)

    times = {}
    for _ in range(args.runs):
        for interval, sql in queries.items():
            if args.url:
                t, _ = nexamd(args.url, args.instrument, interval, start, end)
                times.setdefault(("nexamd", interval), []).append(t)
            for name, con in cons.items():
                t, _ = duck(con, sql)
                times.setdefault((name, interval), []).append(t)

    print()
    print(f"{'query':<6} {'engine':<16} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'vs duckdb':>10}")
    for interval in queries:
        base = ms(times[("duckdb", interval)])
        for (name, iv), xs in times.items():
            if iv != interval:
                continue
            ratio = base / ms(xs)
            print(
                f"{interval:<6} {name:<16} {ms(xs):>10.1f} {min(xs) * 1e3:>8.1f} {max(xs) * 1e3:>8.1f} "
                f"{ratio:>9.2f}x"
            )
    print("(vs duckdb: DuckDB's median / this median; above 1 is faster than DuckDB)")


if __name__ == "__main__":
    main()
