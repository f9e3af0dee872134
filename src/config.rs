//! The engine's configuration: TOML parsed into serde types that reject unknown keys, then
//! validated once. Every error names the file and the dotted key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fanout::FanoutConfig;
use feeds::{ReplayConfig, SyntheticConfig, VenueConfig};
use serde::Deserialize;
use storage::StorageConfig;

/// The default config, built into the binary: used when `config/default.toml` is not found
/// in the working directory and no `--config` is given.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");
/// Where the default config is looked for first.
pub const DEFAULT_PATH: &str = "config/default.toml";

/// A config that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed, or a key is unknown or of the wrong type.
    #[error("config file {path}: {problem} `{key}`: {message}")]
    Parse {
        /// The file.
        path: String,
        /// "unknown key" or "invalid value for".
        problem: &'static str,
        /// Dotted key path (empty for a syntax error).
        key: String,
        /// The parser's message.
        message: String,
    },
    /// A value parsed but is out of range or inconsistent.
    #[error("config file {path}: invalid value for `{key}`: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Dotted key path.
        key: String,
        /// Why.
        reason: String,
    },
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address for HTTP and WebSocket.
    pub listen: SocketAddr,
    /// Largest HTTP request body, bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: portfolio_core::http::MAX_BODY_BYTES,
        }
    }
}

/// `[auth]`: API keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Require an API key on every route but `/health` and `/ready` (also `--auth`).
    pub enabled: bool,
}

/// How ring threads wait when idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WaitKind {
    /// Yield, then park (the ring's default strategy).
    #[default]
    Park,
    /// Spin then yield; never sleeps.
    Yield,
    /// Spin forever.
    Spin,
}

impl WaitKind {
    /// The ring's strategy for this choice.
    pub fn strategy(self) -> engine::WaitStrategy {
        match self {
            WaitKind::Park => engine::WaitStrategy::default(),
            WaitKind::Yield => engine::WaitStrategy::Yield { spins: 256 },
            WaitKind::Spin => engine::WaitStrategy::BusySpin,
        }
    }
}

/// Largest accepted ring capacity (2^24 slots = 1 GiB).
pub const MAX_RING_CAPACITY: usize = 1 << 24;

/// `[engine]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Ring slots, a power of two.
    pub ring_capacity: usize,
    /// Idle wait.
    pub wait: WaitKind,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            data_dir: PathBuf::from("./data"),
            ring_capacity: 65_536,
            wait: WaitKind::Park,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Output format.
    pub format: LogFormat,
    /// tracing filter directives.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Plain,
            level: "info".into(),
        }
    }
}

/// `[feeds]`: one table per feed, named by venue.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsConfig {
    /// `[feeds.synthetic]`.
    pub synthetic: Option<SyntheticConfig>,
    /// `[feeds.replay]`: a capture file as a feed.
    pub replay: Option<ReplayConfig>,
    /// `[feeds.binance]`.
    pub binance: Option<VenueConfig>,
    /// `[feeds.coinbase]`.
    pub coinbase: Option<VenueConfig>,
    /// `[feeds.kraken]`.
    pub kraken: Option<VenueConfig>,
    /// `[feeds.bitstamp]`.
    pub bitstamp: Option<VenueConfig>,
    /// `[feeds.polygon]`.
    pub polygon: Option<VenueConfig>,
    /// `[feeds.alpaca]`.
    pub alpaca: Option<VenueConfig>,
}

impl FeedsConfig {
    /// The provider tables present, by venue name.
    pub fn venues(&self) -> impl Iterator<Item = (&'static str, &VenueConfig)> {
        [
            ("binance", &self.binance),
            ("coinbase", &self.coinbase),
            ("kraken", &self.kraken),
            ("bitstamp", &self.bitstamp),
            ("polygon", &self.polygon),
            ("alpaca", &self.alpaca),
        ]
        .into_iter()
        .filter_map(|(name, config)| config.as_ref().map(|c| (name, c)))
    }

    /// Only the replay of `replay`, every other feed off (`nexamd replay`).
    pub fn replay_only(replay: ReplayConfig) -> FeedsConfig {
        FeedsConfig {
            replay: Some(replay),
            ..FeedsConfig::default()
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[engine]`.
    pub engine: EngineConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[fanout]`.
    pub fanout: FanoutConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
    /// `[feeds]`.
    pub feeds: FeedsConfig,
    /// `[storage]`.
    pub storage: StorageConfig,
    /// `[portfolio]`.
    pub portfolio: portfolio_core::currency::CurrencyConfig,
}

/// Where a config came from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// The copy built into the binary.
    Embedded,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Embedded => f.write_str("<embedded config/default.toml>"),
        }
    }
}

impl Config {
    /// Loads `path`, or without one `config/default.toml` if present, else the embedded copy.
    pub fn load(path: Option<&Path>) -> Result<(Config, Source), ConfigError> {
        let (text, source) = match path {
            Some(path) => (read(path)?, Source::File(path.to_owned())),
            None if Path::new(DEFAULT_PATH).is_file() => {
                let path = Path::new(DEFAULT_PATH);
                (read(path)?, Source::File(path.to_owned()))
            }
            None => (EMBEDDED_DEFAULT.to_owned(), Source::Embedded),
        };
        let config = Config::parse(&text, &source.to_string())?;
        Ok((config, source))
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let parse_error = |problem, key: String, message: String| ConfigError::Parse {
            path: origin.to_owned(),
            problem,
            key,
            message,
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| parse_error("syntax error near", String::new(), e.to_string()))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let message = e.inner().message().to_owned();
            // The path ends with the offending key, unknown keys included.
            let key = e.path().to_string();
            let problem = if message.starts_with("unknown field") {
                "unknown key"
            } else {
                "invalid value for"
            };
            parse_error(problem, key, message)
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: origin.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let capacity = self.engine.ring_capacity;
        if !(capacity.is_power_of_two() && (2..=MAX_RING_CAPACITY).contains(&capacity)) {
            return Err(invalid(
                "engine.ring_capacity",
                format!("must be a power of two from 2 to {MAX_RING_CAPACITY}, got {capacity}"),
            ));
        }
        if self.engine.data_dir.as_os_str().is_empty() {
            return Err(invalid("engine.data_dir", "must not be empty".into()));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(invalid("log.level", e.to_string()));
        }
        if !(1..=64 << 20).contains(&self.server.max_body_bytes) {
            return Err(invalid(
                "server.max_body_bytes",
                format!("must be 1 to 67108864, got {}", self.server.max_body_bytes),
            ));
        }
        if let Err((key, reason)) = self.fanout.validate() {
            return Err(invalid(&key, reason));
        }
        if let Err((key, reason)) = self.storage.validate() {
            return Err(invalid(&key, reason));
        }
        if let Err((key, reason)) = self.portfolio.validate() {
            return Err(invalid(&key, reason));
        }
        let feed_error = |table: &str, e: feeds::Error| match e {
            feeds::Error::Config { key, reason } => invalid(&key, reason),
            other => invalid(table, other.to_string()),
        };
        if let Some(synthetic) = &self.feeds.synthetic {
            synthetic
                .validate("feeds.synthetic")
                .map_err(|e| feed_error("feeds.synthetic", e))?;
        }
        if let Some(replay) = &self.feeds.replay {
            replay
                .validate("feeds.replay")
                .map_err(|e| feed_error("feeds.replay", e))?;
            feeds::venues::parser(&replay.venue).map_err(|e| match e {
                feeds::Error::Config { reason, .. } => invalid("feeds.replay.venue", reason),
                other => invalid("feeds.replay.venue", other.to_string()),
            })?;
        }
        for (name, venue) in self.feeds.venues() {
            // Venue-specific keys and credentials are checked when the feed is built.
            let table = format!("feeds.{name}");
            venue.validate(&table).map_err(|e| feed_error(&table, e))?;
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Config::parse(text, "test.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_embedded_default_is_the_documented_default() {
        let config = Config::parse(EMBEDDED_DEFAULT, "embedded").unwrap();
        let mut expected = Config::default();
        expected.feeds.synthetic = Some(SyntheticConfig::default());
        assert_eq!(config, expected);
    }

    #[test]
    fn an_empty_file_means_defaults_without_feeds() {
        assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        for (text, key) in [
            ("listen = 1", "`listen`"),
            (
                "[server]\nlisten = \"127.0.0.1:1\"\nport = 2",
                "`server.port`",
            ),
            ("[feeds.synthetic]\nrat = 5", "`feeds.synthetic.rat`"),
            ("[feeds.nasdaq]\nurl = \"x\"", "`feeds.nasdaq`"),
            ("[engine]\nring_capacty = 8", "`engine.ring_capacty`"),
            ("[storage]\ngrace = 5", "`storage.grace`"),
            (
                "[storage.journal]\nfsync_ms = 5",
                "`storage.journal.fsync_ms`",
            ),
            (
                "[storage.questdb]\naddr = \"h:1\"\nhost = 1",
                "`storage.questdb.host`",
            ),
        ] {
            let message = error(text);
            assert!(message.contains("test.toml"), "{message}");
            assert!(message.contains(&format!("unknown key {key}")), "{message}");
        }
    }

    #[test]
    fn invalid_values_are_named_with_their_path() {
        for (text, key) in [
            ("[server]\nlisten = \"nowhere\"", "`server.listen`"),
            ("[engine]\nring_capacity = 1000", "`engine.ring_capacity`"),
            ("[engine]\nring_capacity = -1", "`engine.ring_capacity`"),
            ("[engine]\nwait = \"sometimes\"", "`engine.wait`"),
            ("[log]\nformat = \"xml\"", "`log.format`"),
            ("[log]\nlevel = \"=!\"", "`log.level`"),
            ("[feeds.synthetic]\nrate = 0", "`feeds.synthetic.rate`"),
            (
                "[feeds.synthetic]\nrate = \"fast\"",
                "`feeds.synthetic.rate`",
            ),
            ("[storage]\nmax_rows = 0", "`storage.max_rows`"),
            (
                "[storage.journal]\nfsync = \"sometimes\"",
                "`storage.journal.fsync`",
            ),
            (
                "[storage.retention]\nticks_days = -1",
                "`storage.retention.ticks_days`",
            ),
            (
                "[storage.questdb]\naddr = \"nowhere\"",
                "`storage.questdb.addr`",
            ),
        ] {
            let message = error(text);
            assert!(message.contains("test.toml"), "{message}");
            assert!(
                message.contains(&format!("invalid value for {key}")),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn every_example_config_loads_and_builds_its_feeds() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut seen = 0;
        let mut venues = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let (config, _) = Config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
                for (name, venue) in config.feeds.venues() {
                    // Venue keys are checked when the feed is built; credentials come from
                    // the environment, which this test does not set.
                    match feeds::venues::live(name, venue) {
                        Ok(_) => {}
                        Err(e) if e.to_string().contains("environment variable") => {}
                        Err(e) => panic!("{}: {e}", path.display()),
                    }
                    venues.push(name);
                }
                seen += 1;
            }
        }
        assert!(seen >= 2, "{seen} configs in {}", dir.display());
        venues.sort_unstable();
        let mut expected = feeds::venues::NAMES.to_vec();
        expected.sort_unstable();
        assert_eq!(venues, expected, "one example config per venue");
    }

    #[test]
    fn the_benchmark_configs_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for dir in ["load-tests/configs", "benches/scripts"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "toml") {
                    Config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
                    seen += 1;
                }
            }
        }
        assert!(seen >= 3, "{seen} benchmark configs");
    }

    #[test]
    fn syntax_errors_say_so() {
        let message = error("[server\nlisten=");
        assert!(message.contains("test.toml: syntax error"), "{message}");
    }

    #[test]
    fn load_reports_a_missing_file() {
        let message = Config::load(Some(Path::new("/nonexistent/nexamd.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("cannot read config file /nonexistent/nexamd.toml"),
            "{message}"
        );
    }
}
