//! `tcp-floor` end to end: the real binary moves stamped records over loopback and reports
//! what it measured.

use std::process::Command;

/// The number after `key ` on the line starting with `line`, as printed by `tcp-floor`.
fn field(out: &str, line: &str, key: &str) -> f64 {
    let text = out
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no `{line}` line in:\n{out}"));
    let rest = &text[text
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + key.len()..];
    let number: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().unwrap_or_else(|_| panic!("{key} in {text}"))
}

#[test]
fn delivers_every_offered_message_and_reports_latency() {
    let out = Command::new(env!("CARGO_BIN_EXE_tcp-floor"))
        .args([
            "--conns",
            "8",
            "--rate",
            "500",
            "--batch",
            "2",
            "--seconds",
            "1",
        ])
        .output()
        .expect("tcp-floor runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 8 sockets x 500/s over a 1 s window: 4,000 records stamped inside it. Records carry the
    // time they were written, so a sender thread descheduled at an edge of the window moves
    // some of them across it: a loose band, not an exact count.
    let samples = field(&stdout, "latency us:", "(n");
    assert!((3_000.0..=5_000.0).contains(&samples), "{stdout}");
    let (p50, max) = (
        field(&stdout, "latency us:", "p50"),
        field(&stdout, "latency us:", "max"),
    );
    assert!(p50 > 0.0 && p50 <= max, "{stdout}");
    // With a 2-message batch every 4 ms, each write carries two records.
    let writes = field(&stdout, "sender wrote", ") in");
    let messages = field(&stdout, "sender wrote", "wrote");
    assert!((messages - 2.0 * writes).abs() < f64::EPSILON, "{stdout}");
}

#[test]
fn rejects_a_record_too_small_for_its_stamp() {
    let out = Command::new(env!("CARGO_BIN_EXE_tcp-floor"))
        .args(["--size", "4"])
        .output()
        .expect("tcp-floor runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--size"));
}
