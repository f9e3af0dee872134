//! Runs the real `nexamd` binary for integration tests: free ports (the engine binds port 0
//! and logs the address), JSON logs read from stderr, plain HTTP/1.1 over loopback.

#![allow(dead_code)]

pub mod ws;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Polls `condition` until it holds or `timeout` passes; panics with `what` on timeout.
pub fn wait_until<T>(timeout: Duration, what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Exact decimal text as 1e-9 units, parsed without the engine's parser (tests check the
/// engine's numbers against it).
pub fn units(text: &str) -> i128 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 9, "{text}");
    let negative = int.starts_with('-');
    let whole: i128 = int.trim_start_matches('-').parse().unwrap_or(0);
    let frac: i128 = format!("{frac:0<9}").parse().unwrap();
    let value = whole * 1_000_000_000 + frac;
    if negative { -value } else { value }
}

/// A running engine process.
pub struct Engine {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every stderr line so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// The binary under test.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nexamd"))
}

/// Runs `command` to completion and checks it succeeded (showing its stderr if not).
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Starts the binary with `args` (plus `--listen 127.0.0.1:0 --log-format json`) in `cwd` and
/// waits for its `listening` log line.
pub fn start(cwd: &Path, args: &[&str]) -> Engine {
    let mut child = binary()
        .current_dir(cwd)
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nexamd");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = mpsc::channel();
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Logged before the address is announced, so a test that has the address
                // also sees the listening line.
                log.lock().unwrap().push(line.clone());
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "listening"
                {
                    let addr: SocketAddr = event["addr"].as_str().unwrap().parse().unwrap();
                    let _ = addr_tx.send(addr);
                }
            }
        });
    }
    let addr = match addr_rx.recv_timeout(Duration::from_secs(15)) {
        Ok(addr) => addr,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "no listening line within 15 s; log: {:#?}",
                log.lock().unwrap()
            );
        }
    };
    Engine { child, addr, log }
}

/// Starts the binary in `dir` with `config` (TOML) written to `dir/nexamd.toml`.
pub fn start_with_config(dir: &Path, config: &str) -> Engine {
    let path = dir.join("nexamd.toml");
    std::fs::write(&path, config).unwrap();
    start(
        dir,
        &["--config", path.to_str().unwrap(), "--data-dir", "data"],
    )
}

impl Engine {
    /// GET `path`; returns status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    /// Sends `signal` (e.g. "TERM") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        wait_until(timeout, "nexamd to exit", || child.try_wait().unwrap())
    }

    /// Whether any log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// The value of a sample line `name{labels} value` in /metrics.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200);
        body.lines()
            .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Any request with extra headers and a body: status, lower-cased head, body text.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = connect(addr, Duration::from_secs(30));
    // HTTP/1.0: no chunked encoding, the body ends with the connection.
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let (status, head, body) = read_response(stream);
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// A GET whose body is bytes (Arrow, Parquet): status, lower-cased head, body.
pub fn http_get_bytes(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = connect(addr, Duration::from_secs(30));
    // HTTP/1.0: no chunked encoding, the body ends with the connection.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    read_response(stream)
}

/// A minimal HTTP/1.1 GET with `Connection: close`.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = connect(addr, Duration::from_secs(10));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (status, head, body) = read_response(stream);
    let body = String::from_utf8_lossy(&body);
    let chunked = head.contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(&body)
        } else {
            body.into_owned()
        },
    )
}

fn connect(addr: SocketAddr, read_timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(read_timeout)).unwrap();
    stream
}

/// Reads a response until the server closes the connection: status, lower-cased head, body.
fn read_response(mut stream: TcpStream) -> (u16, String, Vec<u8>) {
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    response.drain(..split + 4);
    (status, head, response)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}
