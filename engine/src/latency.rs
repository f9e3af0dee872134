//! Latency histograms: HDR histograms of nanoseconds, recorded in batches (one lock per
//! batch, never per tick) and summarized for `/metrics` and `/v1/latency`.

use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::metrics::{MetricType, PromText};

/// Largest latency recorded, in ns (one minute); larger values are clamped to it.
pub const MAX_NS: u64 = 60_000_000_000;
/// Prometheus bucket bounds, in seconds.
pub const BUCKETS_S: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One stage's histogram.
#[derive(Debug)]
pub struct LatencyHistogram {
    stage: &'static str,
    histogram: Mutex<Histogram<u64>>,
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
    pub fn new(stage: &'static str) -> LatencyHistogram {
        let histogram = Histogram::new_with_bounds(1, MAX_NS, 3)
            .unwrap_or_else(|_| Histogram::new(3).expect("3 significant figures is valid"));
        LatencyHistogram {
            stage,
            histogram: Mutex::new(histogram),
        }
    }

    /// The stage's name.
    pub fn stage(&self) -> &'static str {
        self.stage
    }

    /// Records every value of `values` (ns; negatives count as 0) under one lock.
    pub fn record_all(&self, values: impl IntoIterator<Item = i64>) {
        let mut histogram = self.histogram.lock().unwrap_or_else(|e| e.into_inner());
        for value in values {
            let ns = (value.max(1) as u64).min(MAX_NS);
            // Within bounds by construction, so this cannot fail.
            let _ = histogram.record(ns);
        }
    }

    /// The percentiles so far.
    pub fn summary(&self) -> LatencySummary {
        let histogram = self.histogram.lock().unwrap_or_else(|e| e.into_inner());
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

    /// Writes the histogram as a Prometheus histogram family `name` (seconds).
    pub fn write_prometheus(&self, text: &mut PromText, name: &str, help: &str) {
        text.family(name, MetricType::Histogram, help);
        self.write_prometheus_samples(text, name);
    }

    /// The samples of [`LatencyHistogram::write_prometheus`] without the family header, for
    /// several stages in one family.
    pub fn write_prometheus_samples(&self, text: &mut PromText, name: &str) {
        let histogram = self.histogram.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = format!("{name}_bucket");
        for bound in BUCKETS_S {
            let ns = (bound * 1e9) as u64;
            let count = histogram.count_between(0, ns);
            text.sample(
                &bucket,
                &[("stage", self.stage), ("le", &bound.to_string())],
                count,
            );
        }
        text.sample(
            &bucket,
            &[("stage", self.stage), ("le", "+Inf")],
            histogram.len(),
        );
        let sum_s = histogram.mean() * histogram.len() as f64 / 1e9;
        text.sample(&format!("{name}_sum"), &[("stage", self.stage)], sum_s);
        text.sample(
            &format!("{name}_count"),
            &[("stage", self.stage)],
            histogram.len(),
        );
    }

    /// Appends the summary as a JSON object: `{"count":..,"p50":..,...,"max":..}` in ns.
    pub fn write_json(&self, out: &mut String) {
        let s = self.summary();
        out.push_str(&format!(
            "{{\"count\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}",
            s.count, s.p50, s.p90, s.p99, s.p999, s.max
        ));
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
        let mut json = String::new();
        h.write_json(&mut json);
        assert!(json.starts_with("{\"count\":1002,\"p50\":"), "{json}");
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
