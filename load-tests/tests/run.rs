//! End-to-end runs of the load generator's library entry point against an in-test server on
//! loopback (see `support`).

mod support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::Duration;

use clap::Parser;
use load_tests::{Args, Report, run};
use support::{FakeServer, GAP_MISSED};

/// Runs the generator with `extra` options against `server`, within a deadline.
async fn load(server: &str, extra: &[&str]) -> Report {
    let argv = ["nexamd-load", "--server", server]
        .into_iter()
        .chain(extra.iter().copied());
    let args = Args::try_parse_from(argv).expect("arguments parse");
    tokio::time::timeout(Duration::from_secs(30), run(&args))
        .await
        .expect("the run ends in time")
        .expect("the run succeeds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measures_latency_and_counts_messages() {
    let server = FakeServer::start(&["SIM:AAA", "SIM:AAB", "SIM:AAC", "SIM:AAD"]).await;
    let opts = [
        "-n",
        "4",
        "-k",
        "3",
        "-m",
        "3",
        "-d",
        "1",
        "--source-addrs",
        "3",
        "--connect-concurrency",
        "2",
    ];
    let r = load(&server.addr.to_string(), &opts).await;

    assert_eq!((r.connect.ok, r.connect.failed), (4, 0), "{r}");
    assert_eq!(r.instruments, 3);
    let by_type = &r.messages.by_type;
    assert_eq!((by_type["subscribed"], by_type["snapshot"]), (4, 12), "{r}");
    assert!(by_type["trade"] + by_type["quote"] > 0, "{r}");
    assert!(
        r.messages.window_ticks > 0 && r.messages.ticks_per_s > 0.0,
        "{r}"
    );
    let latency = r.latency_us.as_ref().expect("latency recorded");
    assert_eq!(
        latency.samples, r.messages.window_ticks,
        "every live tick in the window is timed"
    );
    assert!(
        latency.max < 5_000_000.0,
        "old snapshots stay out of the histogram: {latency:?}"
    );
    assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max);
    assert_eq!((r.gaps.messages, r.gaps.missed), (4, 4 * GAP_MISSED));
    assert!(
        r.errors.is_empty() && r.closes.by_code.is_empty() && r.closes.dropped.is_empty(),
        "{r}"
    );

    let seen = server.seen.lock().unwrap();
    let peers: BTreeSet<String> = seen.peers.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(
        peers,
        BTreeSet::from(["127.0.0.1".into(), "127.0.0.2".into(), "127.0.0.3".into()])
    );
    assert_eq!(seen.subscribes.len(), 4);
    for subs in &seen.subscribes {
        assert_eq!(
            subs.iter().collect::<BTreeSet<_>>().len(),
            3,
            "distinct: {subs:?}"
        );
        assert!(
            subs.iter().all(|c| !c.ends_with("SIM:AAD")),
            "only the first M instruments"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_reported_apart() {
    let names: Vec<String> = (0..30).map(|i| format!("SIM:I{i:02}")).collect();
    let server = FakeServer::start(&[]).await;
    let list = names.join(",");
    let opts = [
        "-n",
        "3",
        "-k",
        "2",
        "-d",
        "1",
        "--instruments",
        &list,
        "--stall",
        "1",
        "--stall-channels",
        "25",
    ];
    let r = load(&server.addr.to_string(), &opts).await;

    assert_eq!((r.connect.ok, r.stalled.connections), (3, 1), "{r}");
    assert_eq!(
        r.stalled.closes_by_code.get(&4008),
        Some(&1),
        "the stalled one was closed 4008: {r}"
    );
    assert_eq!(
        r.messages.by_type["subscribed"], 2,
        "stalled messages are not counted: {r}"
    );
    assert!(r.closes.by_code.is_empty(), "{r}");
    assert!(r.latency_us.is_some(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_report_server_rss() {
    let server = FakeServer::start(&[]).await;
    let pid = std::process::id().to_string();
    let r = load(
        &server.addr.to_string(),
        &["--idle", "-n", "5", "-d", "0.3", "--server-pid", &pid],
    )
    .await;

    assert_eq!((r.mode, r.connect.ok), ("idle", 5), "{r}");
    assert_eq!(r.messages.total, 0);
    assert!(r.latency_us.is_none());
    assert_eq!(server.seen.lock().unwrap().peers.len(), 5);
    let rss = r.server_rss.expect("rss read");
    assert!(
        rss.before_kib.is_some() && rss.end_kib.is_some() && rss.per_connection_bytes.is_some()
    );
}

#[tokio::test]
async fn connect_failures_are_counted() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("127.0.0.1:{port}");
    let r = load(
        &server,
        &[
            "-n",
            "3",
            "--instruments",
            "SIM:AAA",
            "-k",
            "1",
            "-d",
            "0.1",
        ],
    )
    .await;

    assert_eq!((r.connect.ok, r.connect.failed), (0, 3), "{r}");
    assert_eq!(
        r.connect.failures.get("tcp: connection refused"),
        Some(&3),
        "{r}"
    );
}
