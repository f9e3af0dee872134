//! Summarises `cargo bench -p benches --bench ring` runs as a markdown table: criterion's median
//! time per iteration for each variant and saved baseline, the rates it implies, the delivered
//! share (from the bench's loss files) and ratios against the baselines.
//!
//! `cargo run --release -p benches --bin bench-summary -- [--dir CRITERION_DIR] [BASELINE...]`
//! (default directory `$CARGO_TARGET_DIR/criterion` or `target/criterion`; default baseline `new`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use benches::throughput::{CONSUMERS, VARIANTS};

const GROUP: &str = "fanout_1p3c";
const BASELINES: &[&str] = &["crossbeam_channel", "tokio_broadcast", "disruptor"];

/// The number after `"point_estimate":` inside the `"median"` object of criterion's
/// `estimates.json`.
fn median_ns(json: &str) -> Option<f64> {
    let median = &json[json.find("\"median\"")?..];
    let at = median.find("\"point_estimate\"")?;
    let rest = median[at + "\"point_estimate\"".len()..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// One variant in one baseline.
#[derive(Debug, Clone, Copy)]
struct Cell {
    /// Median ns per iteration.
    median_ns: f64,
    /// Ticks published per iteration.
    ticks: u64,
    /// Delivered / (consumers x produced), over the whole run; 1.0 if unknown.
    delivered_share: f64,
}

impl Cell {
    /// Ticks delivered to all consumers per second, counting missed ticks as delivered
    /// (criterion's own throughput figure).
    fn rate(&self) -> f64 {
        (CONSUMERS as u64 * self.ticks) as f64 / (self.median_ns * 1e-9)
    }

    /// Ticks actually delivered per second.
    fn delivered_rate(&self) -> f64 {
        self.rate() * self.delivered_share
    }
}

fn read_cell(dir: &Path, variant: &str, baseline: &str) -> Result<Option<Cell>> {
    let bench_dir = dir.join(GROUP).join(variant);
    let estimates = bench_dir.join(baseline).join("estimates.json");
    let Ok(json) = fs::read_to_string(&estimates) else {
        return Ok(None);
    };
    let median_ns =
        median_ns(&json).with_context(|| format!("no median in {}", estimates.display()))?;
    let losses = bench_dir.join(format!("nexamd-losses-{baseline}.csv"));
    let (ticks, delivered_share) = match fs::read_to_string(&losses) {
        Ok(csv) => {
            let line = csv.lines().nth(1).context("empty loss file")?;
            let f: Vec<u64> = line
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .with_context(|| format!("bad line in {}", losses.display()))?;
            let [ticks, _runs, produced, delivered, _missed, _laps] = f[..] else {
                bail!("bad line in {}", losses.display());
            };
            (
                ticks,
                delivered as f64 / (CONSUMERS as u64 * produced).max(1) as f64,
            )
        }
        Err(_) => (1_000_000, 1.0),
    };
    Ok(Some(Cell {
        median_ns,
        ticks,
        delivered_share,
    }))
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n.max(1) as f64
}

fn m(rate: f64) -> String {
    format!("{:.1}", rate / 1e6)
}

fn main() -> Result<()> {
    let mut dir = None;
    let mut baselines = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(args.next().context("--dir DIR")?)),
            _ => baselines.push(arg),
        }
    }
    if baselines.is_empty() {
        baselines.push("new".to_owned());
    }
    let dir = dir.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"))
            .join("criterion")
    });

    let mut rows = Vec::new();
    for v in VARIANTS {
        let cells = baselines
            .iter()
            .map(|b| read_cell(&dir, v.name, b))
            .collect::<Result<Vec<_>>>()?;
        if cells.iter().all(Option::is_some) {
            rows.push((v.name, cells.into_iter().flatten().collect::<Vec<_>>()));
        }
    }
    if rows.is_empty() {
        bail!("no results under {}", dir.join(GROUP).display());
    }
    let delivered = |name: &str| {
        rows.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, cells)| mean(cells.iter().map(Cell::delivered_rate)))
    };

    println!(
        "Rates in M ticks/s delivered to all {CONSUMERS} consumers (= {CONSUMERS} x ticks/s published), from criterion's median time per iteration; runs: {}.",
        baselines.join(", ")
    );
    println!();
    let mut header = String::from("| variant |");
    let mut rule = String::from("|---|");
    for b in &baselines {
        header.push_str(&format!(" median ms/iter ({b}) | M/s ({b}) |"));
        rule.push_str("---:|---:|");
    }
    header.push_str(" M/s (mean) | delivered | delivered M/s (mean) |");
    rule.push_str("---:|---:|---:|");
    for b in BASELINES {
        header.push_str(&format!(" vs {b} |"));
        rule.push_str("---:|");
    }
    println!("{header}");
    println!("{rule}");
    for (name, cells) in &rows {
        let mut line = format!("| {name} |");
        for c in cells {
            line.push_str(&format!(" {:.1} | {} |", c.median_ns / 1e6, m(c.rate())));
        }
        let rate = mean(cells.iter().map(Cell::rate));
        let share = mean(cells.iter().map(|c| c.delivered_share));
        let dm = mean(cells.iter().map(Cell::delivered_rate));
        line.push_str(&format!(
            " {} | {:.2}% | {} |",
            m(rate),
            share * 100.0,
            m(dm)
        ));
        for b in BASELINES {
            match delivered(b) {
                Some(base) => line.push_str(&format!(" {:.2}x |", dm / base)),
                None => line.push_str(" - |"),
            }
        }
        println!("{line}");
    }
    println!();
    println!(
        "Ratios compare delivered M/s (mean over the runs listed). \"delivered\" is the share of the {CONSUMERS} x published ticks the consumers received; the rest were lapped (ring non-gating consumer) or lagged (tokio broadcast)."
    );
    Ok(())
}
