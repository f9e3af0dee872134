//! Throughput runs outside criterion, interleaved: `--runs` rounds, each running every chosen
//! variant once (so time-varying noise on a shared machine hits all variants alike); medians
//! reported.
//!
//! `cargo run --release -p benches --bin ring-throughput -- [--ticks N] [--runs R] [names...]`
//!
//! Besides the named variants, `ring:KEY=VALUE,...` runs the nexamd ring with custom settings:
//! `wait=park|yield|spin`, `spins=N`, `yields=N` (park only; defaults 256 and 16 as the
//! ring's default), `batch=N`, `cap=N`, `poll=N`,
//! `gating=N` (of the three consumers), `sp=1` (a single-producer ring)
//! (e.g. `ring:wait=yield,spins=64,batch=64,cap=262144`).

use anyhow::{Context, Result, bail};
use benches::fmt_rate;
use benches::throughput::{CONSUMERS, RingConfig, RunReport, VARIANTS, run_ring, variant};
use engine::WaitStrategy;

/// A variant to run: a named one, or a custom ring configuration.
enum Choice {
    Named(&'static str, fn(u64) -> RunReport),
    Ring(String, RingConfig),
}

impl Choice {
    fn name(&self) -> &str {
        match self {
            Choice::Named(name, _) => name,
            Choice::Ring(name, _) => name,
        }
    }

    fn run(&self, n: u64) -> RunReport {
        match self {
            Choice::Named(_, run) => run(n),
            Choice::Ring(_, cfg) => run_ring(n, *cfg),
        }
    }
}

fn parse_ring(spec: &str) -> Result<RingConfig> {
    let mut cfg = RingConfig::new();
    let mut wait = "park";
    let mut spins = 256;
    let mut yields = 16;
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').context("ring settings are KEY=VALUE")?;
        match k {
            "wait" => wait = v,
            "spins" => spins = v.parse()?,
            "yields" => yields = v.parse()?,
            "batch" => cfg.batch = v.parse()?,
            "cap" => cfg.capacity = v.parse()?,
            "poll" => cfg.poll_max = v.parse()?,
            "gating" => cfg.gating = v.parse()?,
            "sp" => cfg.single_producer = v.parse::<u8>()? != 0,
            _ => bail!("unknown ring setting {k}"),
        }
    }
    cfg.wait = match wait {
        "park" => WaitStrategy::Park {
            spins,
            yields,
            park: std::time::Duration::from_millis(1),
        },
        "yield" => WaitStrategy::Yield { spins },
        "spin" => WaitStrategy::BusySpin,
        _ => bail!("unknown wait strategy {wait}"),
    };
    Ok(cfg)
}

fn choose(name: &str) -> Result<Choice> {
    if let Some(spec) = name.strip_prefix("ring:") {
        return Ok(Choice::Ring(name.to_owned(), parse_ring(spec)?));
    }
    let v = variant(name).with_context(|| format!("unknown variant {name}"))?;
    Ok(Choice::Named(v.name, v.run))
}

fn main() -> Result<()> {
    let mut ticks: u64 = 5_000_000;
    let mut runs: usize = 7;
    let mut names = Vec::new();
    let mut show_gaps = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ticks" => ticks = args.next().context("--ticks N")?.parse()?,
            "--runs" => runs = args.next().context("--runs R")?.parse()?,
            "--show-gaps" => show_gaps = true,
            "-h" | "--help" => {
                println!(
                    "usage: ring-throughput [--ticks N] [--runs R] [--show-gaps] [variant...]"
                );
                for v in VARIANTS {
                    println!("  {}", v.name);
                }
                return Ok(());
            }
            name => names.push(name.to_owned()),
        }
    }
    let chosen: Vec<Choice> = if names.is_empty() {
        VARIANTS
            .iter()
            .map(|v| Choice::Named(v.name, v.run))
            .collect()
    } else {
        names.iter().map(|n| choose(n)).collect::<Result<_>>()?
    };
    if runs == 0 {
        bail!("--runs must be at least 1");
    }

    println!(
        "{ticks} ticks x {CONSUMERS} consumers, {runs} rounds (each round runs every variant once, so noise hits them alike)"
    );
    println!(
        "rates: ticks delivered to all consumers per second, i.e. {CONSUMERS} x published/s; 'delivered' excludes missed ticks"
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); chosen.len()];
    let mut delivered_rates: Vec<Vec<f64>> = vec![Vec::new(); chosen.len()];
    let mut missed = vec![0u64; chosen.len()];
    let mut laps = vec![0u64; chosen.len()];
    for round in 0..runs {
        for (k, v) in chosen.iter().enumerate() {
            let report = v.run(ticks);
            if let Err(e) = report.check() {
                bail!("{} (round {round}): {e}", v.name());
            }
            if show_gaps {
                for (i, t) in report.tallies.iter().enumerate() {
                    if !t.gaps.is_empty() {
                        println!(
                            "  {} consumer {i}: gaps (first index, count) {:?}",
                            v.name(),
                            t.gaps
                        );
                    }
                }
            }
            let secs = report.elapsed.as_secs_f64();
            missed[k] += report.missed();
            laps[k] += report.laps();
            rates[k].push((CONSUMERS as u64 * ticks) as f64 / secs);
            delivered_rates[k].push(report.delivered() as f64 / secs);
        }
    }
    let median = |xs: &mut Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    println!(
        "{:<44} {:>12} {:>12} {:>12} {:>14} {:>10} {:>6}",
        "variant", "median", "min", "max", "delivered med", "missed", "laps"
    );
    for (k, v) in chosen.iter().enumerate() {
        let med = median(&mut rates[k]);
        let dmed = median(&mut delivered_rates[k]);
        println!(
            "{:<44} {:>12} {:>12} {:>12} {:>14} {:>10} {:>6}",
            v.name(),
            fmt_rate(med),
            fmt_rate(rates[k][0]),
            fmt_rate(rates[k][rates[k].len() - 1]),
            fmt_rate(dmed),
            missed[k],
            laps[k]
        );
    }
    Ok(())
}
