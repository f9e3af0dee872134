//! Parse throughput per venue: one core turning raw provider messages into ticks, against a
//! `serde_json::Value` parse of the same messages in the same run (the baseline: what a
//! generic JSON tree costs before any field is even read).
//!
//! Each iteration parses a batch of [`BATCH`] messages (ids and prices varied, as a live
//! stream's are); throughput is messages per second on one thread. The nexamd side does the
//! whole job: JSON, exact decimals, timestamps, symbol lookup, the tick, sequence checks.
//!
//! `cargo bench -p benches --bench parse [-- FILTER]`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::Registry;
use feeds::{ParseCtx, Venue};

const BATCH: usize = 1000;

/// A batch of messages built from one documented or captured message, with the trade id
/// (`{id}`) and the last price digit (`{d}`) varied.
fn batch(template: &str) -> Vec<String> {
    (0..BATCH)
        .map(|i| {
            template
                .replace("{id}", &(1_000_000 + i).to_string())
                .replace("{d}", &(i % 10).to_string())
        })
        .collect()
}

/// One venue's message kind: (venue, kind, parser, messages).
type Case = (&'static str, &'static str, Box<dyn Venue>, Vec<String>);

fn cases() -> Vec<Case> {
    vec![
        (
            "binance",
            "trade",
            Box::new(feeds::binance::Binance::parser()),
            batch(
                r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":{id},"p":"37000.1{d}000000","q":"0.01200000","b":88,"a":50,"T":1700000000120,"m":true,"M":true}}"#,
            ),
        ),
        (
            "binance",
            "bookTicker",
            Box::new(feeds::binance::Binance::parser()),
            batch(
                r#"{"stream":"btcusdt@bookTicker","data":{"u":{id},"s":"BTCUSDT","b":"37000.1{d}000000","B":"1.23400000","a":"37000.20000000","A":"0.50000000"}}"#,
            ),
        ),
        (
            "coinbase",
            "match",
            Box::new(feeds::coinbase::Coinbase::parser()),
            batch(
                r#"{"type":"match","trade_id":{id},"maker_order_id":"2a0da34e-61f7-4c36-88e5-c9dd15927b16","taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985","price":"0.0000130{d}","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}"#,
            ),
        ),
        (
            "kraken",
            "trade",
            Box::new(feeds::kraken::Kraken::parser()),
            batch(
                r#"{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"buy","price":0.511{d},"qty":40.0,"ord_type":"market","trade_id":{id},"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            ),
        ),
        (
            "bitstamp",
            "trade",
            Box::new(feeds::bitstamp::Bitstamp::parser()),
            batch(
                r#"{"data":{"id":{id},"timestamp":"1641343719","amount":0.0035,"amount_str":"0.00350000","price":46320.5{d},"price_str":"46320.5{d}","type":1,"microtimestamp":"1641343719486000","buy_order_id":1449271433093120,"sell_order_id":1449271436091392},"channel":"live_trades_btcusd","event":"trade"}"#,
            ),
        ),
        (
            "polygon",
            "T",
            Box::new(feeds::polygon::Polygon::parser()),
            batch(
                r#"[{"ev":"T","sym":"AAPL","x":4,"i":"{id}","z":3,"p":175.3{d},"s":100,"c":[14,41],"t":1696518000123,"q":1234}]"#,
            ),
        ),
        (
            "alpaca",
            "t",
            Box::new(feeds::alpaca::Alpaca::parser()),
            batch(
                r#"[{"T":"t","i":{id},"S":"AAPL","x":"V","p":126.5{d},"s":1,"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"}]"#,
            ),
        ),
    ]
}

fn parse(c: &mut Criterion) {
    let registry = Arc::new(Registry::new());
    for (venue_name, kind, mut venue, messages) in cases() {
        let mut group = c.benchmark_group(format!("parse/{venue_name}/{kind}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        let mut ctx = ParseCtx::new(registry.clone(), venue.prefix());
        // Every message must parse to one tick, or the figure means nothing.
        for message in &messages {
            ctx.clear();
            venue.parse(message, 1, &mut ctx).expect(message);
            assert_eq!(ctx.ticks().len(), 1, "{message}");
        }
        group.bench_function("nexamd", |b| {
            b.iter(|| {
                let mut ticks = 0;
                for message in &messages {
                    ctx.clear();
                    let _ = venue.parse(black_box(message), 1, &mut ctx);
                    ticks += ctx.ticks().len();
                }
                black_box(ticks)
            })
        });
        group.bench_function("serde_json_value", |b| {
            b.iter(|| {
                let mut fields = 0;
                for message in &messages {
                    let value: serde_json::Value =
                        serde_json::from_str(black_box(message)).unwrap();
                    fields += value.as_object().map_or(1, |o| o.len());
                }
                black_box(fields)
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = parse
}
criterion_main!(benches);
