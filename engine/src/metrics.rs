//! Counters that cost nothing to bump on the hot path, and a writer for the Prometheus text
//! exposition format that every crate uses to render its figures for `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonic counter read by metrics scrapes.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` from any thread (one relaxed read-modify-write).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` when this thread is the counter's only writer: a plain load and store, no
    /// locked instruction. Concurrent writers would lose increments, so only the owner calls it.
    #[inline]
    pub fn add_single_writer(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Prometheus metric types this writer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Cumulative buckets with `_bucket`, `_sum` and `_count` samples.
    Histogram,
}

/// Builds a Prometheus text exposition (format 0.0.4).
#[derive(Debug, Default)]
pub struct PromText {
    out: String,
}

impl PromText {
    /// Content type of the text format.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// An empty exposition.
    pub fn new() -> PromText {
        PromText::default()
    }

    /// Starts a metric family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: MetricType, help: &str) -> &mut PromText {
        let kind = match kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) -> &mut PromText {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(key);
                self.out.push_str("=\"");
                for c in value.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(
        &mut self,
        name: &str,
        kind: MetricType,
        help: &str,
        value: impl std::fmt::Display,
    ) -> &mut PromText {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The text so far.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_and_escaped_labels() {
        let mut text = PromText::new();
        text.family("nexamd_x_total", MetricType::Counter, "Things.\nCounted.")
            .sample("nexamd_x_total", &[("feed", "a\"b\\c")], 3)
            .sample("nexamd_x_total", &[("feed", "d"), ("kind", "e")], 4);
        text.single("nexamd_depth", MetricType::Gauge, "Depth.", 7);
        assert_eq!(
            text.finish(),
            "# HELP nexamd_x_total Things.\\nCounted.\n# TYPE nexamd_x_total counter\n\
             nexamd_x_total{feed=\"a\\\"b\\\\c\"} 3\n\
             nexamd_x_total{feed=\"d\",kind=\"e\"} 4\n\
             # HELP nexamd_depth Depth.\n# TYPE nexamd_depth gauge\nnexamd_depth 7\n"
        );
    }

    #[test]
    fn counters_add_up() {
        let c = Counter::default();
        c.add(2);
        c.add_single_writer(3);
        assert_eq!(c.get(), 5);
    }
}
