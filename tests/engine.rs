//! The real `nexamd` binary: start-up, HTTP ops endpoints, ticks flowing, config errors,
//! the data directory lock and clean shutdown on signals.

mod support;

use std::time::Duration;

use support::{binary, start, wait_until};

fn ingested(engine: &support::Engine) -> f64 {
    engine
        .metric("nexamd_ticks_ingested_total{feed=\"synthetic\"}")
        .expect("ingest counter in /metrics")
}

#[test]
fn runs_the_default_config_serves_ops_endpoints_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Run from the repository, so config/default.toml is the file used.
    let mut engine = start(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        &["--data-dir", data.to_str().unwrap()],
    );
    assert!(engine.logged("config/default.toml"));

    let (status, body) = engine.get("/health");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");

    wait_until(Duration::from_secs(15), "/ready to answer 200", || {
        (engine.get("/ready").0 == 200).then_some(())
    });

    // Ticks flow: the counter rises by thousands, and the fanout consumer keeps up.
    let first = ingested(&engine);
    let later = wait_until(Duration::from_secs(15), "5,000 more ticks", || {
        let now = ingested(&engine);
        (now >= first + 5_000.0).then_some(now)
    });
    assert!(later > first);
    let (_, metrics) = engine.get("/metrics");
    for family in [
        "# TYPE nexamd_ticks_ingested_total counter",
        "# TYPE nexamd_ring_depth gauge",
        "nexamd_ring_capacity 65536",
        "nexamd_consumer_lag{consumer=\"fanout\",gating=\"false\"}",
        "nexamd_consumer_lapped_total{consumer=\"fanout\",gating=\"false\"} 0",
        "nexamd_feed_state{feed=\"synthetic\",state=\"live\"} 1",
        "nexamd_instruments 103",
    ] {
        assert!(metrics.contains(family), "missing {family} in\n{metrics}");
    }

    // Live values reach the market data endpoints.
    let (status, body) = engine.get("/v1/snapshot?instruments=SIM:AAA,SIM:ACV");
    assert_eq!(status, 200, "{body}");
    let snapshot: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(snapshot["SIM:AAA"]["quote"]["type"], "snapshot");
    assert_eq!(snapshot["SIM:AAA"]["quote"]["channel"], "quotes.SIM:AAA");
    let (status, body) = engine.get("/v1/nothing-here");
    assert_eq!(status, 404);
    assert!(body.contains("\"code\":\"not_found\""));

    engine.signal("TERM");
    let status = engine.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(0),
        "log: {:#?}",
        engine.log.lock().unwrap()
    );
    wait_until(Duration::from_secs(5), "the stop log line", || {
        engine.logged("engine stopped").then_some(())
    });
    assert!(engine.logged("consumer drained and stopped"));
    assert!(data.join("LOCK").exists());
}

#[test]
fn sigint_stops_cleanly_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = start(dir.path(), &["--data-dir", "data"]);
    // No config/ in this directory: the embedded default is used.
    assert!(engine.logged("<embedded config/default.toml>"));
    wait_until(Duration::from_secs(15), "first ticks", || {
        (ingested(&engine) > 0.0).then_some(())
    });
    engine.signal("INT");
    assert_eq!(engine.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(
        dir.path().join("data/LOCK").exists(),
        "relative data dir is under the cwd"
    );
}

/// Runs `command` to completion, checks it exited with `code`, and returns its stderr.
fn stderr_of_failure(command: &mut std::process::Command, code: i32) -> String {
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{command:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the binary on a config file holding `text`; returns the file's path and stderr.
fn run_with_bad_config(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, text).unwrap();
    let path = config.to_str().unwrap().to_owned();
    let stderr = stderr_of_failure(binary().args(["--config", &path]), 2);
    (path, stderr)
}

#[test]
fn a_bad_config_fails_and_names_the_key_and_the_file() {
    for (text, expected) in [
        (
            "[feeds.synthetic]\nrate = 100\nburst_size = 4\n",
            "unknown key `feeds.synthetic.burst_size`",
        ),
        ("bogus = 1\n", "unknown key `bogus`"),
        (
            "[engine]\nring_capacity = 1000\n",
            "invalid value for `engine.ring_capacity`",
        ),
        (
            "[fanout]\nmax_channels = 0\n",
            "invalid value for `fanout.max_channels`",
        ),
    ] {
        let (path, stderr) = run_with_bad_config(text);
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert!(stderr.contains(&path), "{text}: {stderr}");
    }
}

#[test]
fn a_missing_config_file_fails_clearly() {
    let stderr = stderr_of_failure(binary().args(["--config", "/nonexistent/x.toml"]), 2);
    assert!(
        stderr.contains("cannot read config file /nonexistent/x.toml"),
        "{stderr}"
    );
}

#[test]
fn a_second_engine_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let _first = start(dir.path(), &["--data-dir", data]);
    let stderr = stderr_of_failure(
        binary().args(["--listen", "127.0.0.1:0", "--data-dir", data]),
        1,
    );
    assert!(
        stderr.contains("is in use by another nexamd process"),
        "{stderr}"
    );
}

#[test]
fn a_listen_address_in_use_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let stderr = stderr_of_failure(
        binary()
            .current_dir(dir.path())
            .args(["--listen", &addr, "--data-dir", "data"]),
        1,
    );
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}
