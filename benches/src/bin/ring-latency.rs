//! Publish -> consume latency at a paced rate: nexamd ring (default and `Yield` wait strategies)
//! against crossbeam-channel (and optionally tokio broadcast), one producer, three consumers.
//!
//! `cargo run --release -p benches --bin ring-latency -- [--ticks N] [--rate R] [--warmup W]
//!  [--capacity C] [variant...]` with variants `ring`, `ring_yield`, `crossbeam`, `tokio`
//! (default: `ring ring_yield crossbeam`).

use anyhow::{Context, Result, bail};
use benches::latency::{self, LatencyConfig, LatencyReport};
use benches::throughput::YIELD_SPINS;
use engine::WaitStrategy;
use hdrhistogram::Histogram;

const VARIANTS: &[&str] = &["ring", "ring_yield", "crossbeam", "tokio"];

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

fn row(variant: &str, who: &str, h: &Histogram<u64>) {
    println!(
        "| {variant} | {who} | {} | {} | {} | {} | {} | {} |",
        h.len(),
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max()),
        format_args!("{:.1}", h.mean() / 1000.0),
    );
}

fn main() -> Result<()> {
    let mut cfg = LatencyConfig {
        ticks: 1_000_000,
        rate: 100_000,
        warmup: 10_000,
        capacity: 65_536,
    };
    let mut chosen = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u64> {
            Ok(args
                .next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()?)
        };
        match arg.as_str() {
            "--ticks" => cfg.ticks = value("--ticks")?,
            "--rate" => cfg.rate = value("--rate")?,
            "--warmup" => cfg.warmup = value("--warmup")?,
            "--capacity" => cfg.capacity = usize::try_from(value("--capacity")?)?,
            "-h" | "--help" => {
                println!(
                    "usage: ring-latency [--ticks N] [--rate R] [--warmup W] [--capacity C] [{}]",
                    VARIANTS.join("|")
                );
                return Ok(());
            }
            v if VARIANTS.contains(&v) => chosen.push(v.to_owned()),
            other => bail!("unknown argument {other}"),
        }
    }
    if chosen.is_empty() {
        chosen = ["ring", "ring_yield", "crossbeam"]
            .map(String::from)
            .to_vec();
    }
    if cfg.rate == 0 || cfg.warmup >= cfg.ticks {
        bail!("need --rate > 0 and --warmup < --ticks");
    }

    println!(
        "{} ticks at {} ticks/s, 1 producer -> 3 consumers, capacity {}; first {} ticks not recorded",
        cfg.ticks, cfg.rate, cfg.capacity, cfg.warmup
    );
    let mut reports: Vec<(String, LatencyReport)> = Vec::new();
    for v in &chosen {
        eprintln!("running {v} ...");
        let report = match v.as_str() {
            "ring" => latency::ring(cfg, WaitStrategy::default()),
            "ring_yield" => latency::ring(cfg, WaitStrategy::Yield { spins: YIELD_SPINS }),
            "crossbeam" => latency::crossbeam(cfg),
            "tokio" => latency::tokio_broadcast(cfg),
            _ => unreachable!("checked above"),
        };
        reports.push((v.clone(), report));
    }

    println!();
    println!("Publish -> consume latency, microseconds:");
    println!();
    println!("| variant | consumer | samples | p50 | p99 | p99.9 | max | mean |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, report) in &reports {
        row(name, "all 3", &report.merged());
        let who = match name.as_str() {
            "ring" | "ring_yield" => ["gating-a", "gating-b", "non-gating"],
            _ => ["rx-0", "rx-1", "rx-2"],
        };
        for (h, who) in report.consumers.iter().zip(who) {
            row(name, who, h);
        }
    }
    println!();
    println!("Producer pacing (how late each publish was against its schedule), microseconds:");
    println!();
    println!("| variant | achieved rate | p50 late | p99 late | max late | missed |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, report) in &reports {
        let l = &report.lateness;
        println!(
            "| {name} | {:.0}/s | {} | {} | {} | {} |",
            report.produced as f64 / report.elapsed.as_secs_f64(),
            us(l.value_at_quantile(0.5)),
            us(l.value_at_quantile(0.99)),
            us(l.max()),
            report.missed
        );
    }
    Ok(())
}
