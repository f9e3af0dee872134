//! Quick throughput runs outside criterion: each variant `--runs` times, median reported.
//!
//! `cargo run --release -p benches --bin ring-throughput -- [--ticks N] [--runs R] [names...]`
//!
//! Besides the named variants, `ring:KEY=VALUE,...` runs the nexamd ring with custom settings:
//! `wait=park|yield|spin`, `spins=N` (for yield), `batch=N`, `cap=N`, `poll=N`,
//! `gating=N` (of the three consumers)
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
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').context("ring settings are KEY=VALUE")?;
        match k {
            "wait" => wait = v,
            "spins" => spins = v.parse()?,
            "batch" => cfg.batch = v.parse()?,
            "cap" => cfg.capacity = v.parse()?,
            "poll" => cfg.poll_max = v.parse()?,
            "gating" => cfg.gating = v.parse()?,
            _ => bail!("unknown ring setting {k}"),
        }
    }
    cfg.wait = match wait {
        "park" => WaitStrategy::default(),
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
    let mut ticks: u64 = 1_000_000;
    let mut runs: usize = 5;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ticks" => ticks = args.next().context("--ticks N")?.parse()?,
            "--runs" => runs = args.next().context("--runs R")?.parse()?,
            "-h" | "--help" => {
                println!("usage: ring-throughput [--ticks N] [--runs R] [variant...]");
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
        "{ticks} ticks x {CONSUMERS} consumers, {runs} runs each; rates are ticks delivered to all consumers per second (median run)"
    );
    println!(
        "{:<44} {:>14} {:>14} {:>14} {:>10} {:>6}",
        "variant", "median", "min", "max", "missed", "laps"
    );
    for v in chosen {
        let mut rates = Vec::new();
        let mut missed = 0;
        let mut laps = 0;
        for _ in 0..runs {
            let report = v.run(ticks);
            if let Err(e) = report.check() {
                bail!("{}: {e}", v.name());
            }
            missed += report.missed();
            laps += report.laps();
            rates.push((CONSUMERS as u64 * ticks) as f64 / report.elapsed.as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "{:<44} {:>14} {:>14} {:>14} {:>10} {:>6}",
            v.name(),
            fmt_rate(rates[rates.len() / 2]),
            fmt_rate(rates[0]),
            fmt_rate(rates[rates.len() - 1]),
            missed,
            laps
        );
    }
    Ok(())
}
