//! How a ring's producers and consumers wait: spin briefly, yield a few times, then park.
//!
//! On a 2-core machine a thread that spins forever takes a core from the thread it waits for,
//! so the default ([`WaitStrategy::default`]) parks after a few yields. It does not spin first:
//! a yield on an idle core returns as quickly as a short spin, and spinning consumers keep up
//! with the producer one tick at a time, which on two cores costs the producer a cache-line
//! transfer every few ticks and halved throughput (`benches/BENCHMARKS.md`, session 9).
//!
//! A parked thread is woken by the other side through a [`Signal`]: a thread about to park
//! arms the signal, and the next notify disarms it and wakes every parked thread, so only the
//! first publish after a consumer fell asleep pays for the wake-up; the others see a disarmed
//! signal with one relaxed load.
//! The park has a timeout as a backstop, because that load has no fence per tick and may miss
//! a thread that arms at that very moment. Such a miss costs at most the park timeout.

use std::sync::Mutex;
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::sync::{AtomicBool, Ordering, spin_hint, yield_now};

/// How a thread waits for the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin `spins` times, yield `yields` times, then park for at most `park` until woken.
    Park {
        /// Busy-wait iterations before yielding.
        spins: u32,
        /// `yield_now` calls before parking.
        yields: u32,
        /// Longest single park; the backstop for a missed wake-up.
        park: Duration,
    },
    /// Spin `spins` times, then yield forever: lower latency, burns a core while idle.
    Yield {
        /// Busy-wait iterations before yielding.
        spins: u32,
    },
    /// Spin forever: lowest latency, only for a core of its own.
    BusySpin,
}

impl WaitStrategy {
    /// The default strategy's spins: none (see the module docs).
    pub const DEFAULT_SPINS: u32 = 0;
    /// The default strategy's yields before it parks.
    pub const DEFAULT_YIELDS: u32 = 16;
    /// The default strategy's longest park.
    pub const DEFAULT_PARK: Duration = Duration::from_millis(1);
}

impl Default for WaitStrategy {
    /// `Park` with [`WaitStrategy::DEFAULT_SPINS`], [`WaitStrategy::DEFAULT_YIELDS`] and
    /// [`WaitStrategy::DEFAULT_PARK`].
    fn default() -> Self {
        WaitStrategy::Park {
            spins: WaitStrategy::DEFAULT_SPINS,
            yields: WaitStrategy::DEFAULT_YIELDS,
            park: WaitStrategy::DEFAULT_PARK,
        }
    }
}

/// Wakes the threads parked on one side of the ring.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// Set by a thread about to park; cleared by the notify that wakes it.
    armed: AtomicBool,
    /// Threads parked (or about to park) on this signal.
    threads: Mutex<Vec<Thread>>,
}

impl Signal {
    /// Wakes every parked thread. Costs one relaxed load when nobody armed the signal.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.armed.load(Ordering::Relaxed) {
            self.notify_slow();
        }
    }

    #[cold]
    fn notify_slow(&self) {
        if self.armed.swap(false, Ordering::AcqRel) {
            let threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
            for thread in threads.iter() {
                thread.unpark();
            }
        }
    }

    /// Adds the current thread to those `notify` wakes. Only parked threads are listed, so
    /// the list stays as short as the number of threads asleep at once.
    #[cfg(not(loom))]
    fn register(&self) -> std::thread::ThreadId {
        let me = std::thread::current();
        let id = me.id();
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(me);
        id
    }

    #[cfg(not(loom))]
    fn unregister(&self, id: std::thread::ThreadId) {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = threads.iter().position(|t| t.id() == id) {
            threads.swap_remove(i);
        }
    }

    /// Waits until `ready()` holds (true) or `deadline` passes (false).
    pub(crate) fn wait_until(
        &self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        let mut step: u64 = 0;
        loop {
            if ready() {
                return true;
            }
            if step % 64 == 63 && deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            step += 1;
            match strategy {
                WaitStrategy::BusySpin => spin_hint(),
                WaitStrategy::Yield { spins } => {
                    if step <= u64::from(spins) {
                        spin_hint()
                    } else {
                        yield_now()
                    }
                }
                WaitStrategy::Park {
                    spins,
                    yields,
                    park,
                } => {
                    if step <= u64::from(spins) {
                        spin_hint();
                    } else if step <= u64::from(spins) + u64::from(yields) {
                        yield_now();
                    } else {
                        return self.park(park, deadline, &mut ready);
                    }
                }
            }
        }
    }

    /// Parks until `ready()` or the deadline. Returns whether `ready()` held.
    fn park(
        &self,
        park: Duration,
        deadline: Option<Instant>,
        ready: &mut impl FnMut() -> bool,
    ) -> bool {
        #[cfg(loom)]
        {
            // loom does not model parking with timeouts: yield instead, the model stays whole.
            let _ = (park, deadline);
            loop {
                if ready() {
                    return true;
                }
                yield_now();
            }
        }
        #[cfg(not(loom))]
        {
            let id = self.register();
            let ready = loop {
                // Arm, then look once more: a notify after the arm wakes us; one before it
                // made `ready()` true already.
                self.armed.store(true, Ordering::SeqCst);
                if ready() {
                    break true;
                }
                let timeout = match deadline {
                    Some(d) => match d.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => left.min(park),
                        _ => break false,
                    },
                    None => park,
                };
                std::thread::park_timeout(timeout);
                if ready() {
                    break true;
                }
            };
            self.unregister(id);
            ready
        }
    }
}
