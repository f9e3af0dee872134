//! Latency per stage through the real binary: every stage of the pipeline shows up in
//! `/v1/latency` (since start and over the window) and in `/metrics` as a Prometheus histogram.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{start_with_config, wait_until};

#[test]
fn every_stage_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(
        dir.path(),
        "[feeds.synthetic]\nrate = 5000\ninstruments = 5\n\
         [storage]\nflush_interval_ms = 200\n",
    );
    let stages = [
        "ring.storage",
        "ring.portfolio",
        "ring.fanout",
        "storage.journal",
        "storage.parquet",
    ];
    let latency: Value = wait_until(Duration::from_secs(20), "samples in every stage", || {
        let latency: Value = serde_json::from_str(&engine.get("/v1/latency").1).unwrap();
        stages
            .iter()
            .all(|stage| latency["stages"][stage]["count"].as_u64().unwrap_or(0) > 0)
            .then_some(latency)
    });
    assert_eq!(latency["window_s"], 60);
    for stage in stages {
        let figures = &latency["stages"][stage];
        let window = &figures["window"];
        assert!(window["count"].as_u64().unwrap() > 0, "{stage}: {figures}");
        for field in ["p50", "p90", "p99", "p99_9", "max"] {
            assert!(
                figures[field].as_u64().unwrap() > 0,
                "{stage}.{field}: {figures}"
            );
            assert!(
                window[field].as_u64().is_some(),
                "{stage}.window.{field}: {figures}"
            );
        }
        let p50 = figures["p50"].as_u64().unwrap();
        assert!(
            p50 <= figures["max"].as_u64().unwrap(),
            "{stage}: {figures}"
        );
    }
    let (_, metrics) = engine.get("/metrics");
    for stage in stages {
        let count = format!("nexamd_latency_seconds_count{{stage=\"{stage}\"}}");
        assert!(metrics.contains(&count), "{count} in /metrics");
    }
}
