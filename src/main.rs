//! `nexamd`: the NexaNest market data engine.
//!
//! `src/` holds only the command line, the configuration and the wiring of the domain crates
//! (`engine`, `feeds`, `fanout`, ...); see the README for a tour.

mod app;
mod config;
mod logging;
mod ops;
mod portfolio;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::config::{Config, LogFormat};

/// The NexaNest real-time market data engine.
#[derive(Debug, Parser)]
#[command(name = "nexamd", version, about)]
struct Cli {
    /// Config file (default: config/default.toml if present, else the built-in default).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Listen address, overriding [server] listen (e.g. 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory, overriding [engine] data_dir.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Log format, overriding [log] format.
    #[arg(long, value_name = "FORMAT", global = true)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Backfill history from a file: bars as given, trades as ticks and 1s/1m bars.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// binance-klines, tardis-trades or ohlcv-csv.
    #[arg(long, value_name = "FORMAT")]
    format: storage::import::ImportFormat,
    /// The file to import.
    file: PathBuf,
    /// The instrument the rows belong to, as VENUE:SYMBOL. Without it, taken from a Tardis
    /// file's exchange and symbol, or a Binance kline file's name (SYMBOL-interval-date.csv).
    #[arg(long, value_name = "ID")]
    instrument: Option<String>,
    /// Bar interval (e.g. 1m); by default read from the file.
    #[arg(long, value_name = "INTERVAL")]
    interval: Option<engine::Interval>,
    /// Round values printed with more than 9 fraction digits (binary-float noise such as
    /// 218102.59507500002) to 1e-9 instead of refusing the file.
    #[arg(long)]
    round_excess_digits: bool,
}

/// `nexamd import`: exit 0 and a summary on stdout, or 1 and the reason on stderr.
fn import(args: ImportArgs, data_dir: &std::path::Path) -> ExitCode {
    let Some(instrument) = args
        .instrument
        .clone()
        .or_else(|| storage::backfill::infer_instrument(args.format, &args.file))
    else {
        eprintln!(
            "nexamd import: cannot tell which instrument {} holds; pass --instrument VENUE:SYMBOL",
            args.file.display()
        );
        return ExitCode::FAILURE;
    };
    let options = storage::import::ImportOptions {
        interval: args.interval,
        round_excess_digits: args.round_excess_digits,
    };
    match storage::backfill::import_file(data_dir, args.format, &args.file, &instrument, options) {
        Ok(report) => {
            for (interval, count) in &report.bars {
                println!("imported {count} {interval} bars of {instrument}");
            }
            if report.trades > 0 {
                println!("imported {} trades of {instrument}", report.trades);
            }
            if let Some((first, last)) = report.span {
                println!(
                    "from {} to {}",
                    engine::time::format_rfc3339(first),
                    engine::time::format_rfc3339(last)
                );
            }
            for file in &report.files {
                println!("wrote {}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("nexamd import: {error}");
            if error.to_string().contains("more than 9 fraction digits") {
                eprintln!(
                    "nexamd import: values past 1e-9 look like binary-float noise; --round-excess-digits rounds them"
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mut config, source) = match Config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("nexamd: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    if let Some(dir) = cli.data_dir {
        config.engine.data_dir = dir;
    }
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    logging::init(config.log.format, &config.log.level);
    if let Some(Command::Import(args)) = cli.command {
        return import(args, &config.engine.data_dir);
    }
    match app::run(config, source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "nexamd stopped on an error");
            eprintln!("nexamd: {error:#}");
            ExitCode::FAILURE
        }
    }
}
