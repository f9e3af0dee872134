//! Wall-clock time as `i64` nanoseconds since the Unix epoch, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds in a second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;
/// Nanoseconds in a millisecond.
pub const NANOS_PER_MILLI: i64 = 1_000_000;

/// Now, in ns since the Unix epoch (a vDSO call on Linux, no syscall). A clock set before
/// 1970 reads as 0; one past 2262 saturates.
#[inline]
pub fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) => i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2024_and_moves_forward() {
        let a = now_ns();
        assert!(a > 1_704_067_200 * NANOS_PER_SEC, "{a}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while now_ns() <= a {
            assert!(std::time::Instant::now() < deadline, "clock did not move");
            std::hint::spin_loop();
        }
    }
}
