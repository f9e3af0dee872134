//! The human summary of a [`Report`] (its `Display`).

use std::collections::BTreeMap;
use std::fmt;

use crate::report::Report;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.connect;
        writeln!(
            f,
            "nexamd-load {} ({} mode) against ws://{}/v1/ws",
            self.version, self.mode, self.config.server
        )?;
        writeln!(
            f,
            "connections  {} ok, {} failed of {} (set-up {:.2} s)",
            c.ok, c.failed, c.attempted, c.phase_s
        )?;
        for (reason, n) in &c.failures {
            writeln!(f, "  failed      {n} x {reason}")?;
        }
        let m = &self.messages;
        writeln!(f, "window       {:.2} s", self.window_s)?;
        writeln!(
            f,
            "messages     {} total, {} ticks in window, {:.0} msg/s",
            m.total, m.window_ticks, m.ticks_per_s
        )?;
        let by_type: Vec<String> = m
            .by_type
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !by_type.is_empty() {
            writeln!(f, "  by type     {}", by_type.join(", "))?;
        }
        match &self.latency_us {
            Some(l) => writeln!(
                f,
                "latency µs   p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  ({} samples)",
                l.p50, l.p90, l.p99, l.p999, l.max, l.samples
            )?,
            None => writeln!(f, "latency      no samples")?,
        }
        writeln!(
            f,
            "gaps         {} ({} ticks missed)",
            self.gaps.messages, self.gaps.missed
        )?;
        writeln!(f, "errors       {}", show_map(&self.errors))?;
        writeln!(
            f,
            "closes       {}; dropped without close: {}",
            show_map(&self.closes.by_code),
            show_map(&self.closes.dropped)
        )?;
        if m.bad_frames + m.clock_skew > 0 {
            writeln!(
                f,
                "anomalies    {} bad frames, {} clock-skewed samples",
                m.bad_frames, m.clock_skew
            )?;
        }
        let s = &self.stalled;
        if s.connections > 0 {
            writeln!(
                f,
                "stalled      {} connections: closes {}; dropped {}; {} still open",
                s.connections,
                show_map(&s.closes_by_code),
                show_map(&s.dropped),
                s.still_open
            )?;
        }
        if let Some(r) = &self.server_rss {
            let kib = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v} KiB"));
            write!(
                f,
                "server rss   pid {}: {} -> {} -> {}",
                r.pid,
                kib(r.before_kib),
                kib(r.connected_kib),
                kib(r.end_kib)
            )?;
            match r.per_connection_bytes {
                Some(b) => writeln!(f, " ({b:.0} B per connection)")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

fn show_map<K: fmt::Display>(map: &BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use crate::report::tests::sample_report;

    #[test]
    fn summary_mentions_the_key_figures() {
        let text = sample_report().to_string();
        for needle in [
            "3 ok, 1 failed of 4",
            "p99.9",
            "4008: 1",
            "too_many_channels: 1",
            "1024 B per connection",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
    }
}
