//! The run: fetch instruments, open and subscribe every connection, measure for the window,
//! stop, and summarize.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::args::{Args, SUBSCRIBE_CHUNK};
use crate::channels;
use crate::conn::{self, Outcome, Role, Shared};
use crate::http;
use crate::report::{Report, RssReport, RunData};
use crate::stats::LatencySink;
use crate::sys;

/// Latency histograms shared by the connections (each behind its own lock).
const LATENCY_SHARDS: usize = 8;

/// Runs the load described by `args` and returns its report (progress goes to stderr).
pub async fn run(args: &Args) -> Result<Report> {
    args.validate()?;
    for warning in sys::ensure_nofile(args.connections, args.server_pid) {
        eprintln!("warning: {warning}");
    }
    let target = tokio::net::lookup_host(&args.server)
        .await
        .with_context(|| format!("resolving {}", args.server))?
        .next()
        .with_context(|| format!("{} resolves to no address", args.server))?;
    let instruments = instruments(args).await?;
    let roles = roles(args, &instruments)?;
    let rss = sys::rss_kib;
    let mut server_rss = args.server_pid.map(|pid| RssReport {
        pid,
        before_kib: rss(pid),
        ..RssReport::default()
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        url: args.ws_url(),
        target,
        source_addrs: args.source_addrs,
        connect_timeout: args.connect_timeout(),
        permits: Semaphore::new(args.connect_concurrency),
        measuring: AtomicBool::new(false),
        stop: stop_rx,
        latency: LatencySink::new(LATENCY_SHARDS),
    });
    // Every task holds a clone of `ready_tx` until it is set up (or has failed); `recv` gives
    // `None` once all clones are gone.
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(1);
    let started = Instant::now();
    let tasks: Vec<_> = roles
        .into_iter()
        .enumerate()
        .map(|(i, role)| tokio::spawn(conn::run(Arc::clone(&shared), i, role, ready_tx.clone())))
        .collect();
    drop(ready_tx);
    let _ = ready_rx.recv().await;
    let connect_phase = started.elapsed();
    eprintln!(
        "nexamd-load: {} connections set up in {:.2} s; measuring for {} s",
        tasks.len(),
        connect_phase.as_secs_f64(),
        args.duration
    );
    if let Some(r) = &mut server_rss {
        r.connected_kib = rss(r.pid);
    }

    shared.measuring.store(true, Ordering::Relaxed);
    let window_start = Instant::now();
    tokio::time::sleep(args.window()).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let window = window_start.elapsed();
    if let Some(r) = &mut server_rss {
        r.end_kib = rss(r.pid);
    }
    let _ = stop_tx.send(true);

    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(
            task.await
                .unwrap_or_else(|e| Outcome::Failed(format!("task: {e}"))),
        );
    }
    let latency = shared.latency.merged();
    let run = RunData {
        instruments: instruments.len(),
        outcomes,
        connect_phase,
        window,
        latency,
        server_rss,
    };
    Ok(Report::new(args, run))
}

/// The first M instruments: from `--instruments` or `GET /v1/instruments`; none when idle.
async fn instruments(args: &Args) -> Result<Vec<String>> {
    if args.idle {
        return Ok(Vec::new());
    }
    let list = match &args.instruments {
        Some(list) => list.iter().take(args.instrument_count).cloned().collect(),
        None => http::fetch_instruments(&args.server, args.instrument_count).await?,
    };
    if list.is_empty() {
        bail!("no instruments to subscribe to");
    }
    if list.len() < args.instrument_count {
        eprintln!(
            "nexamd-load: only {} instruments available (asked for {})",
            list.len(),
            args.instrument_count
        );
    }
    Ok(list)
}

/// Each connection's role and subscribe frames: the first `--stall` connections stall.
fn roles(args: &Args, instruments: &[String]) -> Result<Vec<Role>> {
    if args.idle {
        return Ok((0..args.connections)
            .map(|_| Role::Active(Vec::new()))
            .collect());
    }
    let universe = channels::universe(instruments, args.kinds);
    (0..args.connections)
        .map(|i| {
            let stalled = i < args.stall;
            let k = if stalled {
                args.stall_channels
            } else {
                args.channels
            };
            let drawn = channels::draw(&universe, k, args.seed, i as u64)?;
            let frames = subscribe_frames(&drawn);
            Ok(if stalled {
                Role::Stalled(frames)
            } else {
                Role::Active(frames)
            })
        })
        .collect()
}

#[derive(Serialize)]
struct SubscribeOp<'a> {
    op: &'static str,
    channels: &'a [&'a str],
    req_id: u64,
}

/// The subscribe operations for `channels`, at most [`SUBSCRIBE_CHUNK`] channels each, with
/// `req_id` 1, 2, ...
pub fn subscribe_frames(channels: &[&str]) -> Vec<String> {
    channels
        .chunks(SUBSCRIBE_CHUNK)
        .zip(1..)
        .map(|(channels, req_id)| {
            let op = SubscribeOp {
                op: "subscribe",
                channels,
                req_id,
            };
            serde_json::to_string(&op).expect("a subscribe op always encodes")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_frames_are_chunked_protocol_ops() {
        let names: Vec<String> = (0..SUBSCRIBE_CHUNK + 1)
            .map(|i| format!("trades.SIM:{i}"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let frames = subscribe_frames(&refs);
        assert_eq!(frames.len(), 2);
        let first: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
        assert_eq!(first["op"], "subscribe");
        assert_eq!(first["req_id"], 1);
        assert_eq!(first["channels"].as_array().unwrap().len(), SUBSCRIBE_CHUNK);
        assert_eq!(
            frames[1],
            r#"{"op":"subscribe","channels":["trades.SIM:256"],"req_id":2}"#
        );
        assert!(subscribe_frames(&[]).is_empty());
    }
}
