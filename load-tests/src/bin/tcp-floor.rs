//! `tcp-floor`: the fastest this machine can move a fanout's messages over loopback TCP, as a
//! floor to read the WebSocket hub's figures against (benches/BENCHMARKS.md, Part 2).
//!
//! No WebSocket, no JSON, no engine: one sender thread holds N accepted sockets and, every
//! tick period, stamps one fixed-size message with the time and writes it to each socket (one
//! `write` per socket per period, the best batching a hub can do without adding delay). One
//! receiver thread (a current-thread tokio runtime, a task per socket, like `nexamd-load`)
//! reads the records back and puts receive time minus stamp into an HDR histogram. With the
//! defaults, 1,000 sockets x 1,000 messages/s of 180 bytes, it is scenario (a)'s delivery
//! (about 1M messages/s) with every cost but the kernel's and the runtime's taken out.
//!
//! ```text
//! cargo run --release -p load-tests --bin tcp-floor -- --conns 1000 --rate 1000 --seconds 20
//! ```

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use load_tests::LatencySummary;
use load_tests::conn::source_addr;
use load_tests::stats::{new_histogram, now_ns};
use load_tests::sys::ensure_nofile;
use tokio::net::TcpSocket;

/// Loopback TCP fanout floor: a bare sender and a bare receiver, no protocol.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Sockets.
    #[arg(long, default_value_t = 1000)]
    conns: usize,
    /// Messages per second per socket (one write per socket per 1/rate s).
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Bytes per message (at least 8: the stamp).
    #[arg(long, default_value_t = 180)]
    size: usize,
    /// Measured seconds, after one second of warm-up.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Messages per write: the sender lingers `batch` periods and writes them together, each
    /// stamped with the time it would have been sent unbatched (so the linger counts as latency).
    #[arg(long, default_value_t = 1)]
    batch: u32,
    /// Source addresses 127.0.0.1..=127.0.0.S to spread the sockets over.
    #[arg(long, default_value_t = 16)]
    source_addrs: u8,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.size < 8 || args.rate == 0 || args.conns == 0 || args.batch == 0 {
        bail!("--size must be at least 8, --rate, --conns and --batch at least 1");
    }
    for warning in ensure_nofile(args.conns, None) {
        eprintln!("tcp-floor: {warning}");
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the sender")?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let period = Duration::from_nanos(1_000_000_000 / u64::from(args.rate));
    let shape = Shape {
        conns: args.conns,
        size: args.size,
        period,
        batch: args.batch as usize,
    };
    let sender_stop = Arc::clone(&stop);
    let sender = std::thread::Builder::new()
        .name("floor-sender".into())
        .spawn(move || send(&listener, &shape, &sender_stop))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let hist = runtime.block_on(receive(&args, addr, &stop))?;
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    let elapsed = sent.elapsed.as_secs_f64();

    println!(
        "conns {} rate {}/s size {} B batch {}: offered {:.0} msg/s",
        args.conns,
        args.rate,
        args.size,
        args.batch,
        args.conns as f64 * f64::from(args.rate)
    );
    println!(
        "sender wrote {} messages ({:.0}/s over {elapsed:.1} s) in {} writes, {} found the socket full",
        sent.messages,
        sent.messages as f64 / elapsed,
        sent.writes,
        sent.full
    );
    match LatencySummary::from_histogram(&hist) {
        Some(l) => println!(
            "latency us: p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} (n {})",
            l.p50, l.p90, l.p99, l.p999, l.max, l.samples
        ),
        None => println!("latency us: no record arrived inside the window (n 0)"),
    }
    if let Some(cpu) = process_cpu_secs() {
        println!("process cpu {cpu:.1} s (connection set-up included)");
    }
    Ok(())
}

/// What the sender did.
struct Sent {
    /// From the last accept to the stop.
    elapsed: Duration,
    messages: u64,
    writes: u64,
    full: u64,
}

/// What the sender sends.
struct Shape {
    conns: usize,
    size: usize,
    /// Time between two messages of one socket.
    period: Duration,
    /// Messages per write.
    batch: usize,
}

/// Accepts `conns` sockets, then every `batch` periods writes `batch` stamped messages to each
/// (one write per socket) until `stop`. Bytes a full socket did not take wait in that socket's
/// backlog and go first.
fn send(listener: &TcpListener, shape: &Shape, stop: &AtomicBool) -> anyhow::Result<Sent> {
    let Shape {
        conns,
        size,
        period,
        batch,
    } = *shape;
    let mut socks: Vec<(TcpStream, Vec<u8>)> = Vec::with_capacity(conns);
    while socks.len() < conns {
        let (sock, _) = listener.accept().context("accepting")?;
        sock.set_nodelay(true)?;
        sock.set_nonblocking(true)?;
        socks.push((sock, Vec::new()));
    }
    let mut msg = vec![b'x'; size * batch];
    let mut sent = Sent {
        elapsed: Duration::ZERO,
        messages: 0,
        writes: 0,
        full: 0,
    };
    let step = u64::try_from(period.as_nanos())?;
    let started = Instant::now();
    let mut next = started;
    while !stop.load(Ordering::Relaxed) {
        next += period * u32::try_from(batch)?;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for (sock, backlog) in &mut socks {
            let now = now_ns();
            for (j, record) in msg.chunks_exact_mut(size).enumerate() {
                let lingered = step * (batch - 1 - j) as u64;
                record[..8].copy_from_slice(&now.saturating_sub(lingered).to_le_bytes());
            }
            let out: &[u8] = if backlog.is_empty() {
                &msg
            } else {
                backlog.extend_from_slice(&msg);
                backlog
            };
            let written = match sock.write(out) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                Err(_) => continue, // the receiver went away: the run is ending
            };
            if written < out.len() {
                sent.full += 1;
                let rest = out[written..].to_vec();
                *backlog = rest;
            } else {
                backlog.clear();
            }
            sent.messages += batch as u64;
            sent.writes += 1;
        }
    }
    sent.elapsed = started.elapsed();
    Ok(sent)
}

/// Connects the sockets, reads every record until the window (one second after the last
/// connect, for `seconds`) ends, and returns the merged latency histogram of records stamped
/// inside the window.
async fn receive(
    args: &Args,
    addr: SocketAddr,
    stop: &AtomicBool,
) -> anyhow::Result<Histogram<u64>> {
    let mut streams = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source_addr(addr.ip(), args.source_addrs, i) {
            socket.bind(source)?;
        }
        let stream = socket.connect(addr).await.context("connecting")?;
        streams.push(stream);
    }
    let measure_from = now_ns() + 1_000_000_000;
    let measure_to = measure_from + args.seconds * 1_000_000_000;
    let size = args.size;
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            tokio::spawn(async move {
                let mut hist = new_histogram();
                let mut buf = vec![0u8; 64 * 1024];
                let mut filled = 0;
                loop {
                    stream.readable().await?;
                    let n = match stream.try_read(&mut buf[filled..]) {
                        Ok(0) => return Ok::<_, anyhow::Error>(hist),
                        Ok(n) => n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let now = now_ns();
                    filled += n;
                    let whole = filled - filled % size;
                    for record in buf[..whole].chunks_exact(size) {
                        let mut stamp = [0u8; 8];
                        stamp.copy_from_slice(&record[..8]);
                        let stamp = u64::from_le_bytes(stamp);
                        if stamp >= measure_to {
                            return Ok(hist);
                        }
                        if stamp >= measure_from {
                            hist.saturating_record(now.saturating_sub(stamp).max(1));
                        }
                    }
                    buf.copy_within(whole..filled, 0);
                    filled -= whole;
                }
            })
        })
        .collect();
    let mut total = new_histogram();
    for task in tasks {
        total.add(task.await??)?;
    }
    stop.store(true, Ordering::Relaxed);
    Ok(total)
}

/// User plus system CPU time of this process, s (`/proc/self/stat`, in USER_HZ = 100 ticks).
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
