//! Latency histograms: HDR histograms of nanoseconds, recorded in batches (one lock per
//! batch, never per tick) and summarized for `/metrics` and `/v1/latency`.
//!
//! Each stage keeps two views: since start, and a sliding window of the last [`WINDOW`]
//! (six slots of ten seconds; a slot older than the window is cleared before reuse, and the
//! window's figures merge the slots still inside it).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::metrics::{MetricType, PromText};

/// Largest latency recorded, in ns (one minute); larger values are clamped to it.
pub const MAX_NS: u64 = 60_000_000_000;
/// Prometheus bucket bounds, in seconds.
pub const BUCKETS_S: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The sliding window's length.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Slots in the window.
const SLOTS: usize = 6;
/// One slot's span.
const SLOT: Duration = Duration::from_secs(10);

/// One stage's histogram.
#[derive(Debug)]
pub struct LatencyHistogram {
    stage: String,
    histogram: Mutex<Histograms>,
}

#[derive(Debug)]
struct Histograms {
    total: Histogram<u64>,
    /// Per slot: the number of the 10 s period it holds (from `origin`), and its values.
    slots: Vec<(u64, Histogram<u64>)>,
    origin: Instant,
}

impl Histograms {
    fn period(&self) -> u64 {
        (self.origin.elapsed().as_nanos() / SLOT.as_nanos()) as u64
    }

    /// The slot for now, cleared first if it held an older period, and the since-start
    /// histogram: every value recorded goes into both. Reads the clock once per call.
    fn targets(&mut self) -> (&mut Histogram<u64>, &mut Histogram<u64>) {
        let period = self.period();
        let (held, slot) = &mut self.slots[(period % SLOTS as u64) as usize];
        if *held != period {
            slot.reset();
            *held = period;
        }
        (&mut self.total, slot)
    }

    /// The slots inside the window, merged.
    fn window(&self) -> Histogram<u64> {
        let period = self.period();
        let mut merged = new_histogram();
        for (held, histogram) in &self.slots {
            if period.saturating_sub(*held) < SLOTS as u64 && *held <= period {
                let _ = merged.add(histogram);
            }
        }
        merged
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("3 significant figures is valid"))
}

fn summarize(histogram: &Histogram<u64>) -> LatencySummary {
    if histogram.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: histogram.len(),
        p50: histogram.value_at_quantile(0.5),
        p90: histogram.value_at_quantile(0.9),
        p99: histogram.value_at_quantile(0.99),
        p999: histogram.value_at_quantile(0.999),
        max: histogram.max(),
    }
}

fn write_summary(out: &mut String, s: &LatencySummary) {
    out.push_str(&format!(
        "\"count\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{}",
        s.count, s.p50, s.p90, s.p99, s.p999, s.max
    ));
}

/// Percentiles of a histogram, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
}

impl LatencyHistogram {
    /// An empty histogram for `stage` (1 ns to [`MAX_NS`], 3 significant digits).
    pub fn new(stage: impl Into<String>) -> LatencyHistogram {
        LatencyHistogram {
            stage: stage.into(),
            histogram: Mutex::new(Histograms {
                total: new_histogram(),
                slots: (0..SLOTS).map(|_| (u64::MAX, new_histogram())).collect(),
                origin: Instant::now(),
            }),
        }
    }

    /// The stage's name.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Histograms> {
        self.histogram.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records every value of `values` (ns; negatives count as 0) under one lock.
    pub fn record_all(&self, values: impl IntoIterator<Item = i64>) {
        let mut h = self.lock();
        let (total, slot) = h.targets();
        for value in values {
            let ns = (value.max(1) as u64).min(MAX_NS);
            // Within bounds by construction, so these cannot fail.
            let _ = total.record(ns);
            let _ = slot.record(ns);
        }
    }

    /// Records `count` values of `ns` under one lock.
    pub fn record_n(&self, ns: i64, count: u64) {
        if count == 0 {
            return;
        }
        let ns = (ns.max(1) as u64).min(MAX_NS);
        let mut h = self.lock();
        let (total, slot) = h.targets();
        let _ = total.record_n(ns, count);
        let _ = slot.record_n(ns, count);
    }

    /// The percentiles since start.
    pub fn summary(&self) -> LatencySummary {
        summarize(&self.lock().total)
    }

    /// The percentiles over the last [`WINDOW`].
    pub fn window_summary(&self) -> LatencySummary {
        summarize(&self.lock().window())
    }

    /// Writes the histogram as a Prometheus histogram family `name` (seconds).
    pub fn write_prometheus(&self, text: &mut PromText, name: &str, help: &str) {
        text.family(name, MetricType::Histogram, help);
        self.write_prometheus_samples(text, name);
    }

    /// The samples of [`LatencyHistogram::write_prometheus`] without the family header, for
    /// several stages in one family.
    pub fn write_prometheus_samples(&self, text: &mut PromText, name: &str) {
        let guard = self.lock();
        let histogram = &guard.total;
        let stage = self.stage.as_str();
        let bucket = format!("{name}_bucket");
        for bound in BUCKETS_S {
            let ns = (bound * 1e9) as u64;
            let count = histogram.count_between(0, ns);
            text.sample(
                &bucket,
                &[("stage", stage), ("le", &bound.to_string())],
                count,
            );
        }
        text.sample(
            &bucket,
            &[("stage", stage), ("le", "+Inf")],
            histogram.len(),
        );
        let sum_s = histogram.mean() * histogram.len() as f64 / 1e9;
        text.sample(&format!("{name}_sum"), &[("stage", stage)], sum_s);
        text.sample(
            &format!("{name}_count"),
            &[("stage", stage)],
            histogram.len(),
        );
    }

    /// Appends the summaries as a JSON object, in ns: since start at the top level, the last
    /// [`WINDOW`] under `window`:
    /// `{"count":..,"p50":..,"p90":..,"p99":..,"p99_9":..,"max":..,"window":{"count":..,...}}`.
    pub fn write_json(&self, out: &mut String) {
        let (total, window) = {
            let h = self.lock();
            (summarize(&h.total), summarize(&h.window()))
        };
        out.push('{');
        write_summary(out, &total);
        out.push_str(",\"window\":{");
        write_summary(out, &window);
        out.push_str("}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_recorded_values() {
        let h = LatencyHistogram::new("fanout");
        assert_eq!(h.summary(), LatencySummary::default());
        h.record_all((1..=1000).map(|v| v * 1000));
        let s = h.summary();
        assert_eq!(s.count, 1000);
        // 3 significant digits: within 0.1%.
        assert!((499_000..=501_000).contains(&s.p50), "{s:?}");
        assert!((989_000..=991_000).contains(&s.p99), "{s:?}");
        assert!((999_000..=1_001_000).contains(&s.max), "{s:?}");
        h.record_all([-5, i64::MAX]);
        assert_eq!(h.summary().count, 1002);
        assert_eq!(
            h.window_summary().count,
            1002,
            "all recorded within the window"
        );
        let mut json = String::new();
        h.write_json(&mut json);
        assert!(json.starts_with("{\"count\":1002,\"p50\":"), "{json}");
        assert!(json.contains(",\"window\":{\"count\":1002,"), "{json}");
    }

    #[test]
    fn the_window_forgets_what_is_older_than_a_minute() {
        let h = LatencyHistogram::new("ring.storage");
        h.record_all([1_000; 10]);
        // As if 65 s had passed since those were recorded.
        {
            let mut inner = h.lock();
            inner.origin = inner.origin.checked_sub(Duration::from_secs(65)).unwrap();
        }
        assert_eq!(h.window_summary().count, 0);
        assert_eq!(h.summary().count, 10);
        h.record_n(2_000, 5);
        assert_eq!(h.window_summary().count, 5);
        assert_eq!(h.summary().count, 15);
    }

    #[test]
    fn writes_cumulative_prometheus_buckets() {
        let h = LatencyHistogram::new("fanout");
        h.record_all([5_000, 20_000, 2_000_000]);
        let mut text = PromText::new();
        h.write_prometheus(&mut text, "nexamd_latency_seconds", "Latency.");
        let text = text.finish();
        assert!(
            text.contains("# TYPE nexamd_latency_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("nexamd_latency_seconds_bucket{stage=\"fanout\",le=\"0.00001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("nexamd_latency_seconds_bucket{stage=\"fanout\",le=\"0.000025\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("nexamd_latency_seconds_bucket{stage=\"fanout\",le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("nexamd_latency_seconds_count{stage=\"fanout\"} 3"),
            "{text}"
        );
    }
}
