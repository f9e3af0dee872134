//! Command line of `nexamd-load` (also the configuration of [`crate::run`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, ValueEnum};
use serde::Serialize;

/// Which channel kinds each connection subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kinds {
    /// `trades.<instrument>` only.
    Trades,
    /// `quotes.<instrument>` only.
    Quotes,
    /// Both, so there are 2 channels per instrument.
    Both,
}

impl Kinds {
    /// The channel name prefixes of this choice, in the order channels are enumerated.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            Kinds::Trades => &["trades"],
            Kinds::Quotes => &["quotes"],
            Kinds::Both => &["trades", "quotes"],
        }
    }
}

/// WebSocket load generator for nexamd's `GET /v1/ws` (protocol v1).
///
/// Opens N connections, subscribes each to K channels drawn (seeded) from the first M
/// instruments of `GET /v1/instruments`, runs for D seconds and reports tick-to-client
/// latency (client receive time minus `ts_recv`), message counts, gaps, errors and closes.
/// For many connections raise the open-file limit first (`ulimit -n 65536`) in the shell of
/// both the server and the generator.
#[derive(Debug, Clone, Parser, Serialize)]
#[command(name = "nexamd-load", version)]
pub struct Args {
    /// Server address, HOST:PORT; the tool connects to ws://HOST:PORT/v1/ws.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub server: String,

    /// Number of connections (N).
    #[arg(short = 'n', long, default_value_t = 100)]
    pub connections: usize,

    /// Channels per connection (K), distinct, at most M times the number of kinds.
    #[arg(short = 'k', long, default_value_t = 10)]
    pub channels: usize,

    /// Number of instruments to draw channels from (M): the first M listed.
    #[arg(short = 'm', long, default_value_t = 100)]
    pub instrument_count: usize,

    /// Use these instruments (comma separated) instead of fetching GET /v1/instruments.
    #[arg(long, value_delimiter = ',')]
    pub instruments: Option<Vec<String>>,

    /// Channel kinds to subscribe to.
    #[arg(long, value_enum, default_value_t = Kinds::Both)]
    pub kinds: Kinds,

    /// Measurement window in seconds (D), counted once every connection is set up.
    #[arg(short = 'd', long, default_value_t = 10.0)]
    pub duration: f64,

    /// Seed of the channel drawing: the same seed gives the same channels.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Spread connections over this many source addresses 127.0.0.1.. (loopback servers).
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,

    /// Make this many of the N connections subscribe and then never read (stalled).
    #[arg(long, default_value_t = 0)]
    pub stall: usize,

    /// Channels each stalled connection subscribes to.
    #[arg(long, default_value_t = 200)]
    pub stall_channels: usize,

    /// Idle mode: subscribe to nothing, just hold the connections open for D seconds.
    #[arg(long, conflicts_with = "stall")]
    pub idle: bool,

    /// PID of the server, to report its RSS (from /proc/PID/status) before and after.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Where to write the JSON report.
    #[arg(long, default_value = "nexamd-load-report.json")]
    pub report: PathBuf,

    /// Connection handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,

    /// Time limit of one connection attempt (TCP connect and WebSocket handshake), seconds.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,

    /// Tokio worker threads of the generator. Two by default: beside a server with many
    /// threads, a single-threaded generator got too small a share of the CPU and its own
    /// queueing dominated the measured latency (benches/BENCHMARKS.md, Part 2).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Most channels one subscribe operation carries; larger sets are sent in several operations
/// so that a frame stays well under the server's 64 KiB frame limit.
pub const SUBSCRIBE_CHUNK: usize = 256;

impl Args {
    /// Checks the values that clap cannot check alone.
    pub fn validate(&self) -> Result<()> {
        if self.connections == 0 {
            bail!("--connections must be at least 1");
        }
        if self.stall > self.connections {
            bail!(
                "--stall {} exceeds --connections {}",
                self.stall,
                self.connections
            );
        }
        if !(self.duration.is_finite() && self.duration > 0.0) {
            bail!("--duration must be a positive number of seconds");
        }
        if !(self.connect_timeout.is_finite() && self.connect_timeout > 0.0) {
            bail!("--connect-timeout must be a positive number of seconds");
        }
        if self.connect_concurrency == 0 || self.threads == 0 {
            bail!("--connect-concurrency and --threads must be at least 1");
        }
        if self.instrument_count == 0 && !self.idle {
            bail!("--instrument-count must be at least 1");
        }
        if self.source_addrs == 0 || self.source_addrs == 255 {
            bail!("--source-addrs must be between 1 and 254");
        }
        Ok(())
    }

    /// The measurement window.
    pub fn window(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    /// The time limit of one connection attempt.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout)
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Args {
        let argv = std::iter::once("nexamd-load").chain(extra.iter().copied());
        Args::try_parse_from(argv).expect("arguments parse")
    }

    #[test]
    fn defaults_are_valid() {
        let args = parse(&[]);
        args.validate().expect("defaults valid");
        assert_eq!(args.ws_url(), "ws://127.0.0.1:8080/v1/ws");
        assert_eq!(args.kinds, Kinds::Both);
    }

    #[test]
    fn instruments_list_and_kinds_parse() {
        let args = parse(&["--instruments", "SIM:AAA,SIM:AAB", "--kinds", "quotes"]);
        assert_eq!(
            args.instruments.as_deref(),
            Some(&["SIM:AAA".into(), "SIM:AAB".into()][..])
        );
        assert_eq!(args.kinds.prefixes(), ["quotes"]);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["-n", "2", "--stall", "3"]).validate().is_err());
        assert!(parse(&["-d", "0"]).validate().is_err());
        assert!(parse(&["--source-addrs", "0"]).validate().is_err());
        let idle_and_stall = ["nexamd-load", "--idle", "--stall", "1"];
        assert!(Args::try_parse_from(idle_and_stall).is_err());
    }
}
