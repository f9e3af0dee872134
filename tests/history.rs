//! Storage on the real binary: bars from live trades (checked against the trades a WebSocket
//! client saw), resampling, every response format, errors and paging, bars on the WebSocket,
//! a kill -9 in mid-stream, and `nexamd import`.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::ws::{Client, kind};
use support::{Engine, binary, http_get_bytes, run_ok, start_with_config, units, wait_until};

const NS: i64 = 1_000_000_000;

/// Five instruments, about 100 trades a second each; Parquet every 300 ms so queries cross
/// the seam between files and memory.
const CONFIG: &str = "[feeds.synthetic]\ninstruments = 5\nrate = 2000\n\n\
                      [storage]\nflush_interval_ms = 300\ngrace_ms = 200\ncompact_files = 4\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A bar aggregated here from trades: (open, high, low, close, volume, trades, notional e18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ohlcv {
    open: i128,
    high: i128,
    low: i128,
    close: i128,
    volume: i128,
    trades: u64,
    notional: i128,
}

impl Ohlcv {
    fn add(&mut self, other: &Ohlcv) {
        self.high = self.high.max(other.high);
        self.low = self.low.min(other.low);
        self.close = other.close;
        self.volume += other.volume;
        self.trades += other.trades;
        self.notional += other.notional;
    }

    /// VWAP in 1e-9 units, rounded half away from zero.
    fn vwap(&self) -> i128 {
        let (q, r) = (self.notional / self.volume, self.notional % self.volume);
        if 2 * r >= self.volume { q + 1 } else { q }
    }
}

fn served(bar: &Value) -> Ohlcv {
    let field = |k: &str| units(bar[k].as_str().unwrap_or_else(|| panic!("{k} in {bar}")));
    Ohlcv {
        open: field("open"),
        high: field("high"),
        low: field("low"),
        close: field("close"),
        volume: field("volume"),
        trades: bar["trades"].as_u64().unwrap(),
        notional: 0,
    }
}

fn bars(engine: &Engine, query: &str) -> Vec<Value> {
    let (status, body) = engine.get(&format!("/v1/bars?{query}"));
    assert_eq!(status, 200, "{body}");
    let value: Value = serde_json::from_str(&body).unwrap();
    value["bars"].as_array().unwrap().clone()
}

#[test]
fn bars_equal_the_trades_a_client_saw_and_resample_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(dir.path(), CONFIG);
    let instrument = "SIM:AAB";
    // 1. Collect about 4 s of trades.
    let trades: Vec<Value> = runtime().block_on(async {
        let mut client = Client::connect(engine.addr).await;
        client
            .send_json(
                json!({"op":"subscribe","channels":[format!("trades.{instrument}")],"req_id":1}),
            )
            .await;
        let (_, _) = client
            .until(Duration::from_secs(5), |m| kind(m) == "snapshot")
            .await;
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(4200) {
            let message = client.next_json(Duration::from_secs(5)).await;
            if kind(&message) == "trade" {
                out.push(message);
            }
        }
        out
    });
    assert!(trades.len() > 100, "only {} trades", trades.len());
    // 2. Aggregate by ts_event, whole seconds only (not the first and last, seen in part).
    let mut mine: BTreeMap<i64, Ohlcv> = BTreeMap::new();
    let mut ordered: Vec<(i64, u64, &Value)> = trades
        .iter()
        .map(|t| {
            (
                t["ts_event"].as_i64().unwrap(),
                t["seq"].as_u64().unwrap(),
                t,
            )
        })
        .collect();
    ordered.sort_by_key(|(ts, seq, _)| (*ts, *seq));
    for (ts, _, t) in &ordered {
        let (price, size) = (
            units(t["price"].as_str().unwrap()),
            units(t["size"].as_str().unwrap()),
        );
        let one = Ohlcv {
            open: price,
            high: price,
            low: price,
            close: price,
            volume: size,
            trades: 1,
            notional: price * size,
        };
        mine.entry(ts.div_euclid(NS) * NS)
            .and_modify(|bar| bar.add(&one))
            .or_insert(one);
    }
    let seconds: Vec<i64> = mine.keys().copied().collect();
    let whole = &seconds[1..seconds.len() - 1];
    assert!(whole.len() >= 3, "{whole:?}");
    let (first, end) = (whole[0], whole[whole.len() - 1] + NS);
    // 3. The 1s bars: served once closed, from memory or Parquet, equal to mine.
    let query = format!("instrument={instrument}&interval=1s&start={first}&end={end}");
    let got = wait_until(Duration::from_secs(10), "the 1s bars to close", || {
        let got = bars(&engine, &query);
        (got.len() == whole.len()).then_some(got)
    });
    for (bar, second) in got.iter().zip(whole) {
        assert_eq!(bar["ts"].as_i64().unwrap(), *second);
        let want = mine[second];
        assert_eq!(
            served(bar),
            Ohlcv {
                notional: 0,
                ..want
            },
            "second {second}"
        );
        assert_eq!(
            units(bar["vwap"].as_str().unwrap()),
            want.vwap(),
            "vwap of {second}"
        );
    }
    // 4. 2s bars equal the 1s bars combined (the range is whole 2s buckets).
    let even = first + (first / NS).rem_euclid(2) * NS;
    let two = bars(
        &engine,
        &format!("instrument={instrument}&interval=2s&start={even}&end={end}"),
    );
    let mut combined: BTreeMap<i64, Ohlcv> = BTreeMap::new();
    for bar in &got {
        let ts = bar["ts"].as_i64().unwrap();
        if ts < even {
            continue;
        }
        let one = served(bar);
        combined
            .entry(ts.div_euclid(2 * NS) * 2 * NS)
            .and_modify(|b| b.add(&one))
            .or_insert(one);
    }
    let two: BTreeMap<i64, Ohlcv> = two
        .iter()
        .map(|b| (b["ts"].as_i64().unwrap(), served(b)))
        .filter(|(ts, _)| *ts + 2 * NS <= end)
        .collect();
    combined.retain(|ts, _| *ts + 2 * NS <= end);
    assert!(!two.is_empty());
    assert_eq!(two, combined);

    // 5. The same 1s bars in every format.
    let path = |format: &str| format!("/v1/bars?{query}&format={format}");
    let (status, head, body) = http_get_bytes(engine.addr, &path("arrow"));
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/vnd.apache.arrow.stream"),
        "{head}"
    );
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).unwrap();
    let names: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "ts", "open", "high", "low", "close", "volume", "trades", "vwap"
        ]
    );
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        whole.len()
    );
    let opens = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<arrow_array::Decimal128Array>()
        .unwrap();
    assert_eq!(opens.value(0), mine[&whole[0]].open);

    let (status, _, body) = http_get_bytes(engine.addr, &path("parquet"));
    assert_eq!(status, 200);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(body),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, whole.len());

    let (status, head, body) = http_get_bytes(engine.addr, &path("csv"));
    assert_eq!(status, 200);
    assert!(head.contains("text/csv"), "{head}");
    let text = String::from_utf8(body).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("ts,open,high,low,close,volume,trades,vwap")
    );
    let first_row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first_row[0].parse::<i64>().unwrap(), whole[0]);
    assert_eq!(units(first_row[1]), mine[&whole[0]].open);
    assert_eq!(text.lines().count(), whole.len() + 1);
}

#[test]
fn history_errors_and_paging() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(dir.path(), CONFIG);
    let cases = [
        (
            "/v1/bars?instrument=SIM:AAA&interval=7x",
            400,
            "bad_interval",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=0s",
            400,
            "bad_interval",
        ),
        ("/v1/bars?instrument=SIM:AAA", 400, "missing_parameter"),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&start=2030-01-01T00:00:00Z&end=2020-01-01T00:00:00Z",
            400,
            "bad_range",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&start=2000-01-01T00:00:00Z",
            400,
            "range_too_large",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&format=xml",
            400,
            "bad_format",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&fill=zero",
            400,
            "bad_fill",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&start=yesterday",
            400,
            "bad_time",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&cursor=abc",
            400,
            "bad_cursor",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&limit=0",
            400,
            "bad_limit",
        ),
        (
            "/v1/bars?instrument=SIM:AAA&interval=1s&colour=red",
            400,
            "bad_parameter",
        ),
        (
            "/v1/bars?instrument=NOPE:X&interval=1m",
            404,
            "unknown_instrument",
        ),
        ("/v1/ticks?instrument=NOPE:X", 404, "unknown_instrument"),
        ("/v1/ticks?instrument=SIM:AAA&type=fill", 400, "bad_type"),
        (
            "/v1/ticks?instrument=SIM:AAA&start=2030-01-01T00:00:00Z&end=2020-01-01T00:00:00Z",
            400,
            "bad_range",
        ),
    ];
    for (path, status, code) in cases {
        let (got, body) = engine.get(path);
        assert_eq!(got, status, "{path}: {body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["error"]["code"], code, "{path}: {body}");
        assert!(value["error"]["message"].is_string(), "{body}");
    }

    // Paging: pages of 2 meet exactly, with no bar twice and none missing.
    let now = engine::clock::now_ns();
    let (start, end) = (now - 60 * NS, now + 60 * NS);
    let all = wait_until(Duration::from_secs(10), "five closed 1s bars", || {
        let all = bars(
            &engine,
            &format!("instrument=SIM:AAA&interval=1s&start={start}&end={end}"),
        );
        (all.len() >= 5).then_some(all)
    });
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = engine.get(&format!(
            "/v1/bars?instrument=SIM:AAA&interval=1s&start={start}&end={end}&limit=2{cursor}"
        ));
        assert_eq!(status, 200);
        let page: Value = serde_json::from_str(&body).unwrap();
        paged.extend(page["bars"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) if paged.len() < all.len() => cursor = format!("&cursor={next}"),
            _ => break,
        }
    }
    let ts = |bars: &[Value]| {
        bars.iter()
            .map(|b| b["ts"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ts(&paged)[..all.len()], ts(&all)[..]);

    // Ticks page the same way, by (ts_event, ts_recv, seq).
    let (status, body) = engine.get(&format!(
        "/v1/ticks?instrument=SIM:AAA&start={start}&end={end}&limit=3"
    ));
    assert_eq!(status, 200, "{body}");
    let first: Value = serde_json::from_str(&body).unwrap();
    let next = first["next_cursor"].as_str().unwrap();
    let (_, body) = engine.get(&format!(
        "/v1/ticks?instrument=SIM:AAA&start={start}&end={end}&limit=3&cursor={next}"
    ));
    let second: Value = serde_json::from_str(&body).unwrap();
    let key = |t: &Value| {
        (
            t["ts_event"].as_i64().unwrap(),
            t["ts_recv"].as_i64().unwrap(),
            t["seq"].as_u64().unwrap(),
        )
    };
    let last_of_first = key(&first["ticks"][2]);
    let first_of_second = key(&second["ticks"][0]);
    assert!(first_of_second > last_of_first);

    // fill=null covers every closed second; fill=prev carries the close.
    let filled = bars(
        &engine,
        &format!("instrument=SIM:AAA&interval=1s&start={start}&end={now}&fill=null"),
    );
    assert_eq!(filled.len() as i64, 60);
    let prev = bars(
        &engine,
        &format!("instrument=SIM:AAA&interval=1s&start={start}&end={now}&fill=prev"),
    );
    assert_eq!(prev.len(), 60);
}

#[test]
fn closed_bars_are_published_on_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(dir.path(), CONFIG);
    runtime().block_on(async {
        let mut client = Client::connect(engine.addr).await;
        client
            .send_json(json!({"op":"subscribe","channels":["bars.1s.SIM:AAA"],"req_id":"b"}))
            .await;
        let subscribed = client.next_json(Duration::from_secs(5)).await;
        assert_eq!(kind(&subscribed), "subscribed");
        assert_eq!(subscribed["req_id"], "b");
        let snapshot = client.next_json(Duration::from_secs(5)).await;
        assert_eq!(kind(&snapshot), "snapshot", "{snapshot}");
        let (bar, _) = client
            .until(Duration::from_secs(5), |m| kind(m) == "bar")
            .await;
        assert_eq!(bar["channel"], "bars.1s.SIM:AAA");
        for field in ["seq", "ts_event", "ts_recv", "ts", "trades"] {
            assert!(bar[field].is_u64(), "{field} in {bar}");
        }
        for field in ["open", "high", "low", "close", "volume", "vwap"] {
            assert!(
                bar[field]
                    .as_str()
                    .unwrap()
                    .parse::<engine::Price>()
                    .is_ok(),
                "{field} in {bar}"
            );
        }
        assert_eq!(
            bar["ts_event"].as_i64().unwrap(),
            bar["ts"].as_i64().unwrap() + NS
        );
        let (next, _) = client
            .until(Duration::from_secs(5), |m| kind(m) == "bar")
            .await;
        assert_eq!(
            next["ts"].as_i64().unwrap(),
            bar["ts"].as_i64().unwrap() + NS
        );
        assert!(next["seq"].as_u64() > bar["seq"].as_u64());
    });
}

fn parquet_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            parquet_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
}

#[test]
fn kill_9_mid_stream_loses_no_served_bar() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = start_with_config(dir.path(), CONFIG);
    let start = engine::clock::now_ns() - 5 * NS;
    let end = start + 3600 * NS;
    let query = format!("instrument=SIM:AAC&interval=1s&start={start}&end={end}");
    // Enough closed bars that some are in Parquet and some only in memory.
    wait_until(
        Duration::from_secs(15),
        "Parquet files and 4 closed bars",
        || {
            let files = engine
                .metric("nexamd_storage_files_written_total")
                .unwrap_or(0.0);
            (files >= 2.0 && bars(&engine, &query).len() >= 4).then_some(())
        },
    );
    let before = bars(&engine, &query);
    let before_1m_query = format!("instrument=SIM:AAC&interval=1m&start={start}&end={end}");
    let before_1m = bars(&engine, &before_1m_query);
    engine.child.kill().unwrap(); // SIGKILL
    engine.child.wait().unwrap();

    let mut files = Vec::new();
    parquet_files(&dir.path().join("data"), &mut files);
    assert!(!files.is_empty());
    for file in &files {
        let f = std::fs::File::open(file).unwrap();
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap_or_else(|e| panic!("{} does not open: {e}", file.display()));
    }

    let restarted = start_with_config(dir.path(), CONFIG);
    let after = bars(&restarted, &query);
    let by_ts: BTreeMap<i64, &Value> = after
        .iter()
        .map(|b| (b["ts"].as_i64().unwrap(), b))
        .collect();
    for bar in &before {
        let ts = bar["ts"].as_i64().unwrap();
        assert_eq!(by_ts.get(&ts), Some(&bar), "bar {ts} after restart");
    }
    let after_1m = bars(&restarted, &before_1m_query);
    for bar in &before_1m {
        assert!(after_1m.contains(bar), "1m bar {bar} after restart");
    }
    assert!(restarted.logged("storage opened"));
}

/// Rows of a Binance kline file, read here: open time (ms) and the OHLCV, trade-count and
/// quote-volume text.
fn kline_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn samples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/history")
}

#[test]
fn imported_klines_are_served_exactly_even_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(dir.path(), CONFIG);
    let file = samples().join("ADABTC-1m-2021-11-27.binance-klines.csv");
    // Imported beside the running engine, into its data directory.
    let output = run_ok(
        binary()
            .current_dir(dir.path())
            .args(["import", "--format", "binance-klines"])
            .arg(&file)
            .args(["--instrument", "BINANCE:ADABTC", "--data-dir", "data"]),
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("imported 10 1m bars of BINANCE:ADABTC")
    );

    let rows = kline_rows(&file);
    let start = rows[0][0].parse::<i64>().unwrap() * 1_000_000;
    let served = bars(
        &engine,
        &format!(
            "instrument=BINANCE:ADABTC&interval=1m&start={start}&end={}",
            start + 3600 * NS
        ),
    );
    assert_eq!(served.len(), rows.len());
    for (bar, row) in served.iter().zip(&rows) {
        assert_eq!(
            bar["ts"].as_i64().unwrap(),
            row[0].parse::<i64>().unwrap() * 1_000_000
        );
        for (field, column) in [
            ("open", 1),
            ("high", 2),
            ("low", 3),
            ("close", 4),
            ("volume", 5),
        ] {
            assert_eq!(
                units(bar[field].as_str().unwrap()),
                units(&row[column]),
                "{field} of {row:?}"
            );
        }
        assert_eq!(
            bar["trades"].as_u64().unwrap(),
            row[8].parse::<u64>().unwrap()
        );
        // VWAP = quote volume / volume, to 1e-9.
        let (quote, volume) = (units(&row[7]) * 1_000_000_000, units(&row[5]));
        let vwap = units(bar["vwap"].as_str().unwrap());
        assert!(
            (quote / volume - vwap).abs() <= 1,
            "{vwap} vs {}",
            quote / volume
        );
    }
    // The same bars as Arrow (the columnar answer: files only), sent with their length.
    let (status, head, body) = http_get_bytes(
        engine.addr,
        &format!(
            "/v1/bars?instrument=BINANCE:ADABTC&interval=1m&start={start}&end={}&format=arrow",
            start + 3600 * NS
        ),
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains(&format!("content-length: {}\r\n", body.len())),
        "{head}"
    );
    assert!(!head.contains("transfer-encoding"), "{head}");
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).unwrap();
    let mut times = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let ts = batch
            .column_by_name("ts")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::TimestampNanosecondArray>()
            .unwrap();
        times.extend(ts.values().iter().copied());
    }
    let json_times: Vec<i64> = served.iter().map(|b| b["ts"].as_i64().unwrap()).collect();
    assert_eq!(times, json_times);

    // Resampled to 5m from the imported 1m base.
    let five = bars(
        &engine,
        &format!(
            "instrument=BINANCE:ADABTC&interval=5m&start={start}&end={}",
            start + 3600 * NS
        ),
    );
    assert_eq!(five.len(), 2);
    assert_eq!(units(five[0]["open"].as_str().unwrap()), units(&rows[0][1]));
    assert_eq!(
        units(five[0]["close"].as_str().unwrap()),
        units(&rows[4][4])
    );
    let volume: i128 = rows[..5].iter().map(|r| units(&r[5])).sum();
    assert_eq!(units(five[0]["volume"].as_str().unwrap()), volume);
}

#[test]
fn import_refuses_inexact_values_unless_asked_and_imports_trades() {
    let dir = tempfile::tempdir().unwrap();
    let perp = samples().join("btc-perp-20211231-20220201_1m.csv");
    let import = |extra: &[&str], file: &Path, format: &str, instrument: &str| {
        let mut command = binary();
        command
            .current_dir(dir.path())
            .args(["import", "--format", format])
            .arg(file)
            .args(["--instrument", instrument, "--data-dir", "data"])
            .args(extra);
        command
    };
    let strict = import(&[], &perp, "ohlcv-csv", "FTX:BTC-PERP")
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains("line 249") && stderr.contains("218102.59507500002"),
        "{stderr}"
    );
    let rounded = run_ok(&mut import(
        &["--round-excess-digits"],
        &perp,
        "ohlcv-csv",
        "FTX:BTC-PERP",
    ));
    assert!(String::from_utf8_lossy(&rounded.stdout).contains("imported 45031 1m bars"));
    let tardis = samples().join("bitmex_trades_XBTUSD.tardis.csv");
    run_ok(&mut import(&[], &tardis, "tardis-trades", "BITMEX:XBTUSD"));

    let engine = start_with_config(dir.path(), CONFIG);
    // The month of 1m bars, resampled to 1h: a query that crosses many daily files.
    let hours = bars(
        &engine,
        "instrument=FTX:BTC-PERP&interval=1h&start=2022-01-01T00:00:00Z&end=2022-01-02T00:00:00Z",
    );
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[0]["open"], "46197"); // the 2022-01-01 00:00 row's open in the file (line 61)
    let (status, body) = engine.get(
        "/v1/ticks?instrument=BITMEX:XBTUSD&start=2020-03-01T00:00:00Z&end=2020-03-02T00:00:00Z",
    );
    assert_eq!(status, 200);
    let ticks: Value = serde_json::from_str(&body).unwrap();
    let ticks = ticks["ticks"].as_array().unwrap();
    assert_eq!(ticks.len(), 10);
    assert_eq!(ticks[0]["price"], "8531.5");
    assert_eq!(ticks[0]["size"], "2152");
    assert_eq!(ticks[0]["side"], "sell");
    assert_eq!(ticks[0]["id"], "ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf");
    assert_eq!(
        ticks[0]["ts_event"].as_i64().unwrap(),
        1_583_020_803_145_000_000
    );
    let one_second = bars(
        &engine,
        "instrument=BITMEX:XBTUSD&interval=1s&start=2020-03-01T00:00:00Z&end=2020-03-01T00:00:10Z",
    );
    assert_eq!(one_second.len(), 1);
    assert_eq!(one_second[0]["trades"], 10);
}

/// A stand-in QuestDB: answers every HTTP request (`{"ddl":"OK"}` for `/exec`, 204 for
/// `/write`) and keeps the `/write` bodies.
fn fake_questdb() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ilp = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = ilp.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let mut length = 0;
                    let mut header = String::new();
                    while reader.read_line(&mut header).unwrap_or(0) > 0 && header.trim() != "" {
                        let lower = header.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        header.clear();
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = if target.starts_with("/exec") {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"ddl\":\"OK\"}"
                    } else {
                        sink.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&body));
                        "HTTP/1.1 204 No Content\r\n\r\n"
                    };
                    if out.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    (addr, ilp)
}

#[test]
fn ticks_and_bars_reach_questdb_when_configured() {
    let (addr, ilp) = fake_questdb();
    let dir = tempfile::tempdir().unwrap();
    let config =
        format!("{CONFIG}\n[storage.questdb]\naddr = \"{addr}\"\nflush_interval_ms = 50\n");
    let engine = start_with_config(dir.path(), &config);
    wait_until(
        Duration::from_secs(10),
        "trades, quotes and bars in QuestDB",
        || {
            let text = ilp.lock().unwrap().clone();
            (text.contains("nexamd_trades,instrument=SIM:AAA")
                && text.contains("nexamd_quotes,instrument=SIM:AAA")
                && text.contains("nexamd_bars,instrument=SIM:AAA,interval=1s"))
            .then_some(())
        },
    );
    assert!(engine.metric("nexamd_questdb_sent_rows_total").unwrap() > 0.0);
    assert_eq!(engine.metric("nexamd_questdb_connected"), Some(1.0));
}
