//! Linux process facts from `/proc`: open-file limits and resident memory.
//!
//! The workspace forbids `unsafe`, so the generator cannot call `setrlimit` itself; when the
//! soft `RLIMIT_NOFILE` is too low it asks util-linux `prlimit` (if installed) to raise it to
//! the hard limit, then re-reads `/proc/self/limits` and warns if it is still too low. The
//! reliable way is `ulimit -n 65536` in the shell before starting the generator and the server.

use std::process::{Command, Stdio};

/// File descriptors the generator needs beyond one per connection (runtime, stdio, HTTP).
pub const FD_MARGIN: u64 = 64;

/// Soft and hard `Max open files` of a process (`None` = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// Soft limit.
    pub soft: Option<u64>,
    /// Hard limit.
    pub hard: Option<u64>,
}

/// Parses the `Max open files` line of a `/proc/PID/limits` text.
pub fn parse_nofile(limits: &str) -> Option<NofileLimit> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut value = || match fields.next()? {
        "unlimited" => Some(None),
        v => v.parse().ok().map(Some),
    };
    Some(NofileLimit {
        soft: value()?,
        hard: value()?,
    })
}

/// The open-file limit of process `pid` (`"self"` for this one).
pub fn nofile(pid: &str) -> Option<NofileLimit> {
    parse_nofile(&std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?)
}

/// Parses `VmRSS` (KiB) from a `/proc/PID/status` text.
pub fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident set size of process `pid`, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    parse_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Makes sure this process may open `connections` sockets: raises the soft open-file limit to
/// the hard one through `prlimit` if needed. Returns warnings to print (empty when fine).
pub fn ensure_nofile(connections: usize, server_pid: Option<u32>) -> Vec<String> {
    let need = connections as u64 + FD_MARGIN;
    let mut warnings = Vec::new();
    let short = |l: NofileLimit| l.soft.is_some_and(|s| s < need);
    if let Some(limit) = nofile("self").filter(|&l| short(l)) {
        let target = limit
            .hard
            .map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
        let _ = Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={target}:"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(after) = nofile("self").filter(|&l| short(l)) {
            warnings.push(format!(
                "open-file limit of the generator is {} (hard {}), below the {need} needed for \
                 {connections} connections: run `ulimit -n 65536` (or higher) first",
                show(after.soft),
                show(after.hard)
            ));
        }
    }
    if let Some(pid) = server_pid
        && let Some(limit) = nofile(&pid.to_string()).filter(|&l| short(l))
    {
        warnings.push(format!(
            "open-file limit of the server (pid {pid}) is {}, below {need}: start it after \
             `ulimit -n 65536`",
            show(limit.soft)
        ));
    }
    warnings
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max processes             63704                63704                processes \n\
        Max open files            1024                 unlimited            files     \n";

    #[test]
    fn parses_nofile_and_rss() {
        let l = parse_nofile(LIMITS).unwrap();
        assert_eq!(
            l,
            NofileLimit {
                soft: Some(1024),
                hard: None
            }
        );
        assert_eq!(
            parse_rss_kib("Name:\tnexamd\nVmRSS:\t   12345 kB\nThreads: 4\n"),
            Some(12345)
        );
        assert_eq!(parse_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn reads_own_process() {
        assert!(nofile("self").is_some());
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(ensure_nofile(1, None).is_empty());
    }
}
