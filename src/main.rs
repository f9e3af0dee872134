//! `nexamd`: the NexaNest market data engine.
//!
//! `src/` holds only the command line, the configuration and the wiring of the domain crates
//! (`engine`, `feeds`, `fanout`, ...); see the README for a tour.

mod app;
mod auth;
mod config;
mod keys;
mod logging;
mod malloc;
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
    #[arg(long, value_name = "ADDR", global = true)]
    listen: Option<SocketAddr>,
    /// Data directory, overriding [engine] data_dir.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Log format, overriding [log] format.
    #[arg(long, value_name = "FORMAT", global = true)]
    log_format: Option<LogFormat>,
    /// Require API keys (`nexamd keys create`), as [auth] enabled = true does.
    #[arg(long, global = true)]
    auth: bool,
    /// Serve on a non-loopback address without auth anyway. Anyone who reaches the port
    /// can then read everything, portfolios included.
    #[arg(long, global = true)]
    insecure: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Backfill history from a file: bars as given, trades as ticks and 1s/1m bars.
    Import(ImportArgs),
    /// Replay a capture file through a venue's parser: print the normalized ticks
    /// (--emit ndjson) or serve them as the engine's only feed.
    Replay(ReplayArgs),
    /// Manage API keys in the data directory's database.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Create a key and print it; the key is the last word of the output, shown only once.
    Create {
        /// Who the key acts for; portfolios belong to principals.
        #[arg(long, value_name = "NAME")]
        principal: String,
        /// viewer (market data), trader (and own portfolios) or admin (everything).
        #[arg(long, value_name = "ROLE")]
        role: engine::access::Role,
    },
    /// List the keys: id, principal, role, created, revoked.
    List,
    /// Revoke a key, by id (or by the key itself).
    Revoke {
        /// The key's id, as `keys list` shows it.
        id: String,
    },
}

/// `nexamd keys ...`: 0 on success, 1 with the reason on stderr.
fn keys(command: KeysCommand, data_dir: &std::path::Path) -> ExitCode {
    let result = keys::KeyStore::open(data_dir).and_then(|store| match command {
        KeysCommand::Create { principal, role } => {
            let (info, key) = store.create(&principal, role)?;
            println!(
                "created key {} for principal {} with role {}; it is shown only this once:",
                info.id, info.principal, info.role
            );
            println!("{key}");
            Ok(())
        }
        KeysCommand::List => {
            println!(
                "{:<12}  {:<24}  {:<6}  {:<27}  revoked",
                "id", "principal", "role", "created"
            );
            for key in store.list()? {
                let revoked = key
                    .revoked_ns
                    .map_or_else(|| "-".to_owned(), engine::time::format_rfc3339);
                println!(
                    "{:<12}  {:<24}  {:<6}  {:<27}  {revoked}",
                    key.id,
                    key.principal,
                    key.role.as_str(),
                    engine::time::format_rfc3339(key.created_ns)
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let info = store.revoke(&id)?;
            println!("revoked key {} of principal {}", info.id, info.principal);
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nexamd keys: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Refuses to serve a non-loopback address without auth, unless `--insecure`.
fn check_exposure(config: &Config, insecure: bool) -> Result<(), String> {
    let listen = config.server.listen;
    if config.auth.enabled || listen.ip().is_loopback() {
        return Ok(());
    }
    if insecure {
        tracing::warn!(%listen, "INSECURE: serving a non-loopback address without auth (--insecure): anyone who reaches it can read everything, portfolios included");
        eprintln!(
            "nexamd: WARNING: --insecure: serving {listen} without auth; anyone who reaches it can read everything, portfolios included"
        );
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {listen} without auth: a non-loopback address needs auth \
         (--auth or [auth] enabled = true, with keys from `nexamd keys create`), \
         or --insecure to serve it open anyway"
    ))
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The venue whose parser reads the file: binance, coinbase, kraken, bitstamp, polygon or
    /// alpaca (Binance.US captures use binance).
    #[arg(long, value_name = "V")]
    venue: String,
    /// A cryptofeed capture or an NDJSON capture.
    file: PathBuf,
    /// Replay at the recorded speed times X (default 1 when serving; with --emit, as fast
    /// as possible unless given).
    #[arg(long, value_name = "X", conflicts_with = "max")]
    speed: Option<f64>,
    /// As fast as possible.
    #[arg(long)]
    max: bool,
    /// Print the ticks instead of serving: one JSON object a line on stdout.
    #[arg(long, value_name = "FORMAT")]
    emit: Option<Emit>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Emit {
    /// One JSON object a line.
    Ndjson,
}

/// `nexamd replay --emit ndjson`: ticks on stdout, a summary on stderr.
fn replay_emit(args: &ReplayArgs) -> ExitCode {
    use std::io::Write as _;
    let venue = match feeds::venues::parser(&args.venue) {
        Ok(venue) => venue,
        Err(error) => {
            eprintln!("nexamd replay: {error}");
            return ExitCode::from(2);
        }
    };
    let pace = match (args.max, args.speed) {
        (false, Some(speed)) => feeds::Pace::from_speed(speed),
        _ => feeds::Pace::Max,
    };
    let registry = std::sync::Arc::new(engine::Registry::new());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::with_capacity(256);
    let mut write_error = None;
    let replay = feeds::Replay::new(venue, &args.file, pace);
    let result = replay.run(
        registry.clone(),
        || false,
        |parsed| {
            line.clear();
            for tick in parsed.ticks() {
                feeds::replay::write_ndjson(tick, &registry, &mut line);
            }
            match out.write_all(line.as_bytes()) {
                Ok(()) => true,
                Err(error) => {
                    write_error = Some(error);
                    false
                }
            }
        },
    );
    let flushed = out.flush();
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("nexamd replay: {error}");
            return ExitCode::FAILURE;
        }
    };
    match write_error.map_or(flushed, Err) {
        Ok(()) => {}
        // The reader went away (`| head`): not an error of ours.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nexamd replay: cannot write: {error}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "nexamd replay: {} messages, {} ticks, {} unparsable messages, {} bad lines",
        summary.messages, summary.ticks, summary.parse_errors, summary.bad_lines
    );
    ExitCode::SUCCESS
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
    // Before anything else starts a thread.
    let heap = malloc::tune();
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
    if cli.auth {
        config.auth.enabled = true;
    }
    logging::init(config.log.format, &config.log.level);
    tracing::debug!(?heap, "heap thresholds");
    match cli.command {
        Some(Command::Import(args)) => return import(args, &config.engine.data_dir),
        Some(Command::Keys(command)) => return keys(command, &config.engine.data_dir),
        Some(Command::Replay(args)) if args.emit.is_some() => return replay_emit(&args),
        Some(Command::Replay(args)) => {
            let replay = feeds::ReplayConfig {
                enabled: true,
                venue: args.venue,
                file: args.file,
                speed: if args.max {
                    0.0
                } else {
                    args.speed.unwrap_or(1.0)
                },
            };
            if let Err(error) = replay
                .validate("replay")
                .and_then(|()| feeds::venues::parser(&replay.venue).map(drop))
            {
                eprintln!("nexamd replay: {error}");
                return ExitCode::from(2);
            }
            config.feeds = config::FeedsConfig::replay_only(replay);
        }
        None => {}
    }
    if let Err(message) = check_exposure(&config, cli.insecure) {
        eprintln!("nexamd: {message}");
        return ExitCode::from(2);
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
