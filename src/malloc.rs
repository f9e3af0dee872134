//! The process's heap settings (glibc only).
//!
//! A history query decodes tens of MB of columns and streams them out in 1 MiB chunks, then
//! frees them all. With glibc's defaults the freed top of the heap is handed back to the kernel
//! (`brk`/`madvise`) once it passes a threshold that glibc keeps moving, and the next query
//! page-faults every page in again: a year of 1m bars took 55-60 ms in-process instead of
//! 19 ms, and varied by 30 % from run to run with the heap's history (benches/BENCHMARKS.md,
//! storage, "Fifth round"). Fixed thresholds make it steady: blocks under
//! [`MMAP_THRESHOLD`] come from the heap, and up to [`TRIM_THRESHOLD`] of free heap is kept
//! for reuse instead of being returned.
//!
//! An operator who sets glibc's own malloc tunables (`GLIBC_TUNABLES=glibc.malloc.…`) keeps
//! them: nexamd then leaves the heap alone.

/// Allocations at least this large are mapped on their own (and unmapped when freed).
pub const MMAP_THRESHOLD: i32 = 64 << 20;
/// Free memory at the top of a heap kept for reuse before it is returned to the kernel.
pub const TRIM_THRESHOLD: i32 = 256 << 20;

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuned {
    /// The thresholds are set.
    Set,
    /// `GLIBC_TUNABLES` holds malloc settings of the operator's: left as they are.
    Operator,
    /// Not glibc, or glibc refused a setting: the allocator's defaults stay.
    Unsupported,
}

/// Sets the heap thresholds. Call it first thing in `main`, before any thread starts:
/// `mallopt` is not safe to call while other threads allocate.
pub fn tune() -> Tuned {
    let operator = std::env::var_os("GLIBC_TUNABLES")
        .is_some_and(|t| t.to_string_lossy().contains("glibc.malloc."));
    if operator {
        return Tuned::Operator;
    }
    set_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() -> Tuned {
    // SAFETY: `mallopt` takes two integers and only changes the allocator's parameters under
    // its own lock. It is called from `main` before any other thread exists, so no allocation
    // runs beside it (glibc documents it as unsafe to call concurrently with other
    // allocator calls during initialization).
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    };
    if ok { Tuned::Set } else { Tuned::Unsupported }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> Tuned {
    Tuned::Unsupported
}
