//! Publish -> consume latency at a paced rate: nexamd ring (default and `Yield` wait strategies)
//! against crossbeam-channel (and optionally tokio broadcast), one producer, three consumers.
//!
//! `cargo run --release -p benches --bin ring-latency -- [--ticks N] [--rate R] [--warmup W]
//!  [--capacity C] [--rounds K] [--pace yield|spin] [variant...]` with variants `ring`,
//! `ring_yield`, `crossbeam`, `tokio` (default: `ring ring_yield crossbeam`), and
//! `ring_park:SPINS:YIELDS` for the ring with a custom `Park` strategy (1 ms park).
//!
//! The ticks are split into `--rounds` rounds; each round runs every chosen variant once (so
//! time-varying noise on a shared machine hits them alike) and the histograms are merged. The
//! first `--warmup` ticks of every round are delivered but not recorded.

use anyhow::{Context, Result, bail};
use benches::latency::{self, LatencyConfig, LatencyReport, Pace};
use benches::throughput::YIELD_SPINS;
use engine::WaitStrategy;
use hdrhistogram::Histogram;

const VARIANTS: &[&str] = &["ring", "ring_yield", "crossbeam", "tokio"];

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

fn row(variant: &str, who: &str, h: &Histogram<u64>) {
    println!(
        "| {variant} | {who} | {} | {} | {} | {} | {} | {:.1} |",
        h.len(),
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max()),
        h.mean() / 1000.0,
    );
}

/// `ring_park:SPINS:YIELDS`: the ring with a `Park` strategy of that many spins and yields.
fn custom_park(variant: &str) -> Option<WaitStrategy> {
    let mut parts = variant.strip_prefix("ring_park:")?.split(':');
    let spins = parts.next()?.parse().ok()?;
    let yields = parts.next()?.parse().ok()?;
    Some(WaitStrategy::Park {
        spins,
        yields,
        park: WaitStrategy::DEFAULT_PARK,
    })
}

fn run(variant: &str, cfg: LatencyConfig) -> LatencyReport {
    if let Some(wait) = custom_park(variant) {
        return latency::ring(cfg, wait);
    }
    match variant {
        "ring" => latency::ring(cfg, WaitStrategy::default()),
        "ring_yield" => latency::ring(cfg, WaitStrategy::Yield { spins: YIELD_SPINS }),
        "crossbeam" => latency::crossbeam(cfg),
        "tokio" => latency::tokio_broadcast(cfg),
        _ => unreachable!("variant names are checked when parsed"),
    }
}

fn main() -> Result<()> {
    let mut cfg = LatencyConfig {
        ticks: 1_000_000,
        rate: 100_000,
        warmup: 2_000,
        capacity: 65_536,
        pace: Pace::Yield,
    };
    let mut rounds: u64 = 5;
    let mut chosen = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<String> {
            args.next().with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--ticks" => cfg.ticks = value("--ticks")?.parse()?,
            "--rate" => cfg.rate = value("--rate")?.parse()?,
            "--warmup" => cfg.warmup = value("--warmup")?.parse()?,
            "--capacity" => cfg.capacity = value("--capacity")?.parse()?,
            "--rounds" => rounds = value("--rounds")?.parse()?,
            "--pace" => {
                cfg.pace = match value("--pace")?.as_str() {
                    "yield" => Pace::Yield,
                    "spin" => Pace::Spin,
                    other => bail!("--pace yield|spin, not {other}"),
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: ring-latency [--ticks N] [--rate R] [--warmup W] [--capacity C] [--rounds K] [--pace yield|spin] [{}]",
                    VARIANTS.join("|")
                );
                return Ok(());
            }
            v if VARIANTS.contains(&v) || custom_park(v).is_some() => chosen.push(v.to_owned()),
            other => bail!("unknown argument {other}"),
        }
    }
    if chosen.is_empty() {
        chosen = ["ring", "ring_yield", "crossbeam"]
            .map(String::from)
            .to_vec();
    }
    let per_round = LatencyConfig {
        ticks: cfg.ticks / rounds.max(1),
        ..cfg
    };
    if cfg.rate == 0 || rounds == 0 || per_round.warmup >= per_round.ticks {
        bail!("need --rate > 0, --rounds > 0 and --warmup < ticks per round");
    }

    println!(
        "{} ticks per variant at {} ticks/s in {rounds} interleaved rounds, 1 producer -> 3 consumers, capacity {}, pacing {:?}; first {} ticks of each round not recorded",
        per_round.ticks * rounds,
        cfg.rate,
        cfg.capacity,
        cfg.pace,
        cfg.warmup
    );
    let mut reports: Vec<(String, Option<LatencyReport>)> =
        chosen.iter().map(|v| (v.clone(), None)).collect();
    for round in 0..rounds {
        for (name, total) in &mut reports {
            eprintln!("round {round}: {name} ...");
            let report = run(name, per_round);
            match total {
                Some(t) => t.absorb(report),
                None => *total = Some(report),
            }
        }
    }
    let reports: Vec<(String, LatencyReport)> = reports
        .into_iter()
        .map(|(name, r)| (name, r.expect("at least one round")))
        .collect();

    println!();
    println!("Publish -> consume latency, microseconds:");
    println!();
    println!("| variant | consumer | samples | p50 | p99 | p99.9 | max | mean |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, report) in &reports {
        row(name, "all 3", &report.merged());
        let who = if name.starts_with("ring") {
            ["gating-a", "gating-b", "non-gating"]
        } else {
            ["rx-0", "rx-1", "rx-2"]
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
