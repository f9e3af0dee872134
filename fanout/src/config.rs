//! `[fanout]`: limits and timers of the WebSocket hub.

use std::time::Duration;

use serde::Deserialize;

use crate::queue::QueuePolicy;

/// `[fanout]` in the engine config. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FanoutConfig {
    /// Open WebSocket connections at most; more get HTTP 503.
    pub max_connections: usize,
    /// Open WebSocket connections per API key at most (with auth on); more get HTTP 429.
    pub max_connections_per_key: usize,
    /// Channels per connection at most.
    pub max_channels: usize,
    /// Largest incoming frame, bytes.
    pub max_frame_bytes: usize,
    /// Outbound queue size above which it conflates, bytes.
    pub queue_soft_bytes: usize,
    /// Outbound queue size past which the connection is closed (4008), bytes.
    pub queue_hard_bytes: usize,
    /// Close (4008) when the socket accepts nothing for this long while messages wait, ms.
    pub stall_timeout_ms: u64,
    /// WebSocket ping interval, ms.
    pub ping_interval_ms: u64,
    /// Close (4009) when nothing was received for this long, ms.
    pub heartbeat_timeout_ms: u64,
    /// Subscribe and unsubscribe operations per second, sustained.
    pub ops_per_second: u32,
    /// Subscribe and unsubscribe operations allowed in a burst.
    pub ops_burst: u32,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            max_connections: 20_000,
            max_connections_per_key: 100,
            max_channels: 1024,
            max_frame_bytes: 64 * 1024,
            queue_soft_bytes: 64 * 1024,
            queue_hard_bytes: 4 * 1024 * 1024,
            stall_timeout_ms: 10_000,
            ping_interval_ms: 15_000,
            heartbeat_timeout_ms: 45_000,
            ops_per_second: 20,
            ops_burst: 40,
        }
    }
}

impl FanoutConfig {
    /// Checks the values; on error returns the key (under `fanout.`) and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let positive: [(&str, u64); 10] = [
            ("max_connections", self.max_connections as u64),
            (
                "max_connections_per_key",
                self.max_connections_per_key as u64,
            ),
            ("max_channels", self.max_channels as u64),
            ("max_frame_bytes", self.max_frame_bytes as u64),
            ("queue_soft_bytes", self.queue_soft_bytes as u64),
            ("stall_timeout_ms", self.stall_timeout_ms),
            ("ping_interval_ms", self.ping_interval_ms),
            ("heartbeat_timeout_ms", self.heartbeat_timeout_ms),
            ("ops_per_second", u64::from(self.ops_per_second)),
            ("ops_burst", u64::from(self.ops_burst)),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err((format!("fanout.{key}"), "must be greater than 0".into()));
        }
        if self.queue_hard_bytes <= self.queue_soft_bytes {
            return Err((
                "fanout.queue_hard_bytes".into(),
                "must be greater than fanout.queue_soft_bytes".into(),
            ));
        }
        if self.heartbeat_timeout_ms <= self.ping_interval_ms {
            return Err((
                "fanout.heartbeat_timeout_ms".into(),
                "must be greater than fanout.ping_interval_ms".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn policy(&self) -> QueuePolicy {
        QueuePolicy {
            soft: self.queue_soft_bytes,
            hard: self.queue_hard_bytes,
        }
    }

    pub(crate) fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_timeout_ms)
    }

    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub(crate) fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        FanoutConfig::default().validate().unwrap();
        let bad = FanoutConfig {
            max_channels: 0,
            ..FanoutConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "fanout.max_channels");
        let bad = FanoutConfig {
            queue_hard_bytes: 1,
            ..FanoutConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "fanout.queue_hard_bytes");
        let bad = FanoutConfig {
            heartbeat_timeout_ms: 1,
            ..FanoutConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "fanout.heartbeat_timeout_ms");
    }
}
