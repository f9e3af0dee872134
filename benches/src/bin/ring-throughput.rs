//! Throughput runs outside criterion, interleaved: `--runs` rounds, each running every chosen
//! variant once (so time-varying noise on a shared machine hits all variants alike); medians
//! reported.
//!
//! `cargo run --release -p benches --bin ring-throughput -- [--ticks N] [--runs R] [names...]`
//!
//! Besides the named variants, `ring:KEY=VALUE,...` runs the nexamd ring with custom settings:
//! `wait=park|yield|spin`, `spins=N` (default: the ring's default, 0, for park; 256 for
//! yield), `yields=N` (park only; default: the ring's default, 16), `batch=N`, `cap=N`, `poll=N`,
//! `gating=N` (of the three consumers), `sp=1` (a single-producer ring)
//! (e.g. `ring:wait=yield,spins=64,batch=64,cap=262144`).
//!
//! `--pin LIST` runs every variant once per placement in the comma-separated list: `-` leaves
//! the threads to the scheduler, and four digits pin the producer and consumers 0, 1 and 2 to
//! those cores (`--pin -,0011,0111`). Each variant's row then says `@placement`. When
//! `disruptor` runs too, the last column compares each row with it under the same placement:
//! the median, over the rounds, of the row's delivered rate over the disruptor's in that round.

use anyhow::{Context, Result, bail};
use benches::fmt_rate;
use benches::throughput::{
    CONSUMERS, Placement, RingConfig, RunReport, VARIANTS, YIELD_SPINS, run_ring, variant,
};
use engine::WaitStrategy;

/// A variant to run: a named one, or a custom ring configuration.
#[derive(Clone)]
enum Choice {
    Named(&'static str, fn(u64, Option<Placement>) -> RunReport),
    Ring(String, RingConfig),
}

impl Choice {
    fn name(&self) -> &str {
        match self {
            Choice::Named(name, _) => name,
            Choice::Ring(name, _) => name,
        }
    }

    fn run(&self, n: u64, place: Option<Placement>) -> RunReport {
        match self {
            Choice::Named(_, run) => run(n, place),
            Choice::Ring(_, cfg) => run_ring(
                n,
                RingConfig {
                    placement: place,
                    ..*cfg
                },
            ),
        }
    }
}

/// A row of the report: a variant under a placement.
struct Row {
    choice: Choice,
    place: Option<Placement>,
}

impl Row {
    fn label(&self) -> String {
        match self.place {
            Some(p) => format!("{} @{p}", self.choice.name()),
            None => self.choice.name().to_owned(),
        }
    }
}

/// Parses `--pin`'s list: `-` for unpinned, four digits for a placement.
fn parse_placements(list: &str) -> Result<Vec<Option<Placement>>> {
    list.split(',')
        .map(|spec| match spec.trim() {
            "-" => Ok(None),
            spec => Placement::parse(spec).map(Some).map_err(anyhow::Error::msg),
        })
        .collect()
}

fn parse_ring(spec: &str) -> Result<RingConfig> {
    let mut cfg = RingConfig::new();
    let mut wait = "park";
    let mut spins = None;
    let mut yields = None;
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').context("ring settings are KEY=VALUE")?;
        match k {
            "wait" => wait = v,
            "spins" => spins = Some(v.parse()?),
            "yields" => yields = Some(v.parse()?),
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
            spins: spins.unwrap_or(WaitStrategy::DEFAULT_SPINS),
            yields: yields.unwrap_or(WaitStrategy::DEFAULT_YIELDS),
            park: WaitStrategy::DEFAULT_PARK,
        },
        "yield" => WaitStrategy::Yield {
            spins: spins.unwrap_or(YIELD_SPINS),
        },
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
    let mut placements = vec![None];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ticks" => ticks = args.next().context("--ticks N")?.parse()?,
            "--runs" => runs = args.next().context("--runs R")?.parse()?,
            "--show-gaps" => show_gaps = true,
            "--pin" => placements = parse_placements(&args.next().context("--pin LIST")?)?,
            "-h" | "--help" => {
                println!(
                    "usage: ring-throughput [--ticks N] [--runs R] [--show-gaps] [--pin -,0011,...] [variant...]"
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
    let rows: Vec<Row> = placements
        .iter()
        .flat_map(|&place| {
            chosen.iter().map(move |choice| Row {
                choice: choice.clone(),
                place,
            })
        })
        .collect();

    println!(
        "{ticks} ticks x {CONSUMERS} consumers, {runs} rounds (each round runs every variant once, so noise hits them alike)"
    );
    println!(
        "rates: ticks delivered to all consumers per second, i.e. {CONSUMERS} x published/s; 'delivered' excludes missed ticks"
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut delivered_rates: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut missed = vec![0u64; rows.len()];
    let mut laps = vec![0u64; rows.len()];
    for round in 0..runs {
        for (k, row) in rows.iter().enumerate() {
            let report = row.choice.run(ticks, row.place);
            if let Err(e) = report.check() {
                bail!("{} (round {round}): {e}", row.label());
            }
            if show_gaps {
                for (i, t) in report.tallies.iter().enumerate() {
                    if !t.gaps.is_empty() {
                        println!(
                            "  {} consumer {i}: gaps (first index, count) {:?}",
                            row.label(),
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
    // Each row's delivered rate over the disruptor's under the same placement, round by
    // round (the two ran seconds apart), then the median of those ratios: a host slowdown that
    // lasts a round hits both sides of its ratio.
    let ratios: Vec<Option<f64>> = rows
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let base = rows
                .iter()
                .position(|r| r.place == row.place && r.choice.name() == "disruptor")?;
            let mut per_round: Vec<f64> = delivered_rates[k]
                .iter()
                .zip(&delivered_rates[base])
                .map(|(x, b)| x / b)
                .collect();
            Some(median(&mut per_round))
        })
        .collect();
    let delivered: Vec<f64> = delivered_rates.iter_mut().map(median).collect();
    println!(
        "{:<44} {:>12} {:>12} {:>12} {:>14} {:>10} {:>6} {:>9}",
        "variant", "median", "min", "max", "delivered med", "missed", "laps", "vs disr."
    );
    for (k, row) in rows.iter().enumerate() {
        let med = median(&mut rates[k]);
        let ratio = ratios[k].map_or(String::new(), |r| format!("{r:.2}x"));
        println!(
            "{:<44} {:>12} {:>12} {:>12} {:>14} {:>10} {:>6} {:>9}",
            row.label(),
            fmt_rate(med),
            fmt_rate(rates[k][0]),
            fmt_rate(rates[k][rates[k].len() - 1]),
            fmt_rate(delivered[k]),
            missed[k],
            laps[k],
            ratio
        );
    }
    Ok(())
}
