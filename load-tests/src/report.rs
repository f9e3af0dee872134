//! The run report: built from the connections' outcomes, printed for humans, saved as JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Args;
use crate::conn::Outcome;
use crate::stats::{ConnStats, MsgKind, merge_map};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub samples: u64,
    /// Smallest, µs.
    pub min: f64,
    /// Mean, µs.
    pub mean: f64,
    /// Median, µs.
    pub p50: f64,
    /// 90th percentile, µs.
    pub p90: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// 99.9th percentile, µs.
    pub p999: f64,
    /// Largest, µs.
    pub max: f64,
}

impl LatencySummary {
    /// The summary of a histogram of nanoseconds; `None` when it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Some(LatencySummary {
            samples: h.len(),
            min: us(h.min()),
            mean: h.mean().round() / 1_000.0,
            p50: us(h.value_at_quantile(0.5)),
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        })
    }
}

/// Connection set-up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectReport {
    /// Connections attempted (N).
    pub attempted: usize,
    /// Connected and subscribed.
    pub ok: usize,
    /// Failed to connect, upgrade or subscribe.
    pub failed: usize,
    /// Failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// Time from the first attempt until every connection was set up or had failed, s.
    pub phase_s: f64,
}

/// Messages received by the measured (non-stalled) connections.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MessagesReport {
    /// Every message of the whole run, set-up included.
    pub total: u64,
    /// Messages by `type`, whole run.
    pub by_type: BTreeMap<&'static str, u64>,
    /// Trades and quotes received inside the window.
    pub window_ticks: u64,
    /// `window_ticks` per second of window.
    pub ticks_per_s: f64,
    /// Frames that were binary or not a JSON object with a `type`.
    pub bad_frames: u64,
    /// Latency samples whose `ts_recv` was ahead of the client clock (recorded as 0).
    pub clock_skew: u64,
}

/// How connections ended early, or were closed by the server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClosesReport {
    /// Close frames from the server by code (0: a close frame without code).
    pub by_code: BTreeMap<u16, u64>,
    /// Connections lost without a close frame, by how.
    pub dropped: BTreeMap<String, u64>,
}

/// The stalled connections (`--stall`), kept out of every other figure.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StalledReport {
    /// Stalled connections that got set up.
    pub connections: usize,
    /// Close frames found on them at the end, by code (4008 expected for slow consumers).
    pub closes_by_code: BTreeMap<u16, u64>,
    /// Lost without a close frame, by how: a stalled socket has no room for the close frame,
    /// so a server that gives up on it usually just drops the connection.
    pub dropped: BTreeMap<String, u64>,
    /// Still open at the end.
    pub still_open: u64,
}

/// The server's resident memory (`--server-pid`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RssReport {
    /// The server's PID.
    pub pid: u32,
    /// Before the first connection, KiB.
    pub before_kib: Option<u64>,
    /// Once every connection was set up, KiB.
    pub connected_kib: Option<u64>,
    /// At the end of the window, before closing, KiB.
    pub end_kib: Option<u64>,
    /// (end - before) / connections ok, bytes.
    pub per_connection_bytes: Option<f64>,
}

/// The whole report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `nexamd-load`.
    pub tool: &'static str,
    /// The generator's version.
    pub version: &'static str,
    /// `subscribe` or `idle`.
    pub mode: &'static str,
    /// The options of the run.
    pub config: Args,
    /// Instruments the channels were drawn from.
    pub instruments: usize,
    /// Connection set-up.
    pub connect: ConnectReport,
    /// Length of the measurement window, s.
    pub window_s: f64,
    /// Messages.
    pub messages: MessagesReport,
    /// Tick-to-client latency of live trades and quotes in the window (`null`: none).
    pub latency_us: Option<LatencySummary>,
    /// `gap` messages and the ticks they reported missed.
    pub gaps: Gaps,
    /// `error` messages by code.
    pub errors: BTreeMap<String, u64>,
    /// Server closes and dropped connections.
    pub closes: ClosesReport,
    /// Stalled connections.
    pub stalled: StalledReport,
    /// Server RSS, with `--server-pid`.
    pub server_rss: Option<RssReport>,
}

/// `gap` messages.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Gaps {
    /// `gap` messages received.
    pub messages: u64,
    /// Sum of their `missed`.
    pub missed: u64,
}

/// The raw results of a run, turned into a [`Report`] by [`Report::new`].
#[derive(Debug)]
pub struct RunData {
    /// Instruments the channels were drawn from.
    pub instruments: usize,
    /// One outcome per connection.
    pub outcomes: Vec<Outcome>,
    /// Set-up phase length.
    pub connect_phase: Duration,
    /// Measurement window length.
    pub window: Duration,
    /// Merged latency histogram, ns.
    pub latency: Histogram<u64>,
    /// Server RSS readings.
    pub server_rss: Option<RssReport>,
}

impl Report {
    /// Summarizes a run made with `args`.
    pub fn new(args: &Args, run: RunData) -> Self {
        let mut connect = ConnectReport {
            attempted: run.outcomes.len(),
            phase_s: run.connect_phase.as_secs_f64(),
            ..ConnectReport::default()
        };
        let mut all = ConnStats::default();
        let mut stalled = StalledReport::default();
        for outcome in &run.outcomes {
            match outcome {
                Outcome::Failed(reason) => {
                    connect.failed += 1;
                    *connect.failures.entry(reason.clone()).or_default() += 1;
                }
                Outcome::Ran {
                    stalled: false,
                    stats,
                } => {
                    connect.ok += 1;
                    all.merge(stats);
                }
                Outcome::Ran {
                    stalled: true,
                    stats,
                } => {
                    connect.ok += 1;
                    stalled.connections += 1;
                    merge_map(&mut stalled.closes_by_code, &stats.closes);
                    merge_map(&mut stalled.dropped, &stats.dropped);
                    if stats.closes.is_empty() && stats.dropped.is_empty() {
                        stalled.still_open += 1;
                    }
                }
            }
        }
        let window_s = run.window.as_secs_f64();
        let mut server_rss = run.server_rss;
        if let Some(rss) = &mut server_rss
            && let (Some(before), Some(end), ok @ 1..) = (rss.before_kib, rss.end_kib, connect.ok)
        {
            rss.per_connection_bytes = Some((end as f64 - before as f64) * 1024.0 / ok as f64);
        }
        Report {
            tool: "nexamd-load",
            version: env!("CARGO_PKG_VERSION"),
            mode: if args.idle { "idle" } else { "subscribe" },
            config: args.clone(),
            instruments: run.instruments,
            connect,
            window_s,
            messages: MessagesReport {
                total: all.total(),
                by_type: MsgKind::ALL
                    .iter()
                    .map(|&k| (k.name(), all.count(k)))
                    .collect(),
                window_ticks: all.window_ticks,
                ticks_per_s: if window_s > 0.0 {
                    all.window_ticks as f64 / window_s
                } else {
                    0.0
                },
                bad_frames: all.bad_frames,
                clock_skew: all.clock_skew,
            },
            latency_us: LatencySummary::from_histogram(&run.latency),
            gaps: Gaps {
                messages: all.count(MsgKind::Gap),
                missed: all.gap_missed,
            },
            errors: all.errors,
            closes: ClosesReport {
                by_code: all.closes,
                dropped: all.dropped,
            },
            stalled,
            server_rss,
        }
    }

    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).context("encoding the report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::Parser;

    use super::*;
    use crate::stats::new_histogram;

    /// A report with a bit of everything.
    pub(crate) fn sample_report() -> Report {
        let args = Args::parse_from(["nexamd-load", "-n", "4", "--server-pid", "1"]);
        let mut stats = ConnStats::default();
        stats.on_text(r#"{"type":"trade","ts_recv":1000}"#, 3_000, true);
        stats.on_text(r#"{"type":"error","code":"too_many_channels"}"#, 0, true);
        stats.on_close(Some(4008));
        let mut stalled = ConnStats::default();
        stalled.on_close(Some(4008));
        let mut latency = new_histogram();
        latency.record(2_000).unwrap();
        let run = RunData {
            instruments: 100,
            outcomes: vec![
                Outcome::Ran {
                    stalled: false,
                    stats,
                },
                Outcome::Ran {
                    stalled: true,
                    stats: stalled,
                },
                Outcome::Ran {
                    stalled: true,
                    stats: ConnStats::default(),
                },
                Outcome::Failed("tcp: connection refused".into()),
            ],
            connect_phase: Duration::from_millis(250),
            window: Duration::from_secs(2),
            latency,
            server_rss: Some(RssReport {
                pid: 1,
                before_kib: Some(1000),
                end_kib: Some(1003),
                ..RssReport::default()
            }),
        };
        Report::new(&args, run)
    }

    #[test]
    fn report_json_has_the_documented_shape() {
        let report = sample_report();
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["tool"], "nexamd-load");
        assert_eq!(v["mode"], "subscribe");
        assert_eq!(v["config"]["connections"], 4);
        assert_eq!(v["config"]["kinds"], "both");
        assert_eq!(v["connect"]["ok"], 3);
        assert_eq!(v["connect"]["failures"]["tcp: connection refused"], 1);
        assert_eq!(v["messages"]["by_type"]["trade"], 1);
        assert_eq!(v["messages"]["by_type"]["quote"], 0);
        assert_eq!(v["messages"]["window_ticks"], 1);
        assert_eq!(v["messages"]["ticks_per_s"], 0.5);
        assert_eq!(v["latency_us"]["p50"], 2.0);
        assert_eq!(v["latency_us"]["samples"], 1);
        assert_eq!(v["errors"]["too_many_channels"], 1);
        assert_eq!(v["closes"]["by_code"]["4008"], 1);
        assert_eq!(v["stalled"]["connections"], 2);
        assert_eq!(v["stalled"]["closes_by_code"]["4008"], 1);
        assert_eq!(v["stalled"]["still_open"], 1);
        assert_eq!(v["server_rss"]["per_connection_bytes"], 1024.0);
        for key in ["window_s", "gaps", "instruments", "version"] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
    }

    #[test]
    fn empty_histogram_has_no_summary_and_json_round_trips() {
        assert_eq!(LatencySummary::from_histogram(&new_histogram()), None);
        let dir = std::env::temp_dir().join(format!("nexamd-load-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        sample_report().write_json(&path).unwrap();
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back["connect"]["attempted"], 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
