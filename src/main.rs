//! `nexamd`: the NexaNest market data engine.
//!
//! `src/` holds only the command line, the configuration and the wiring of the domain crates
//! (`engine`, `feeds`, `fanout`, ...); see the README for a tour.

mod app;
mod config;
mod logging;
mod ops;

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
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address, overriding [server] listen (e.g. 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory, overriding [engine] data_dir.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log format, overriding [log] format.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
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
    match app::run(config, source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "nexamd stopped on an error");
            eprintln!("nexamd: {error:#}");
            ExitCode::FAILURE
        }
    }
}
