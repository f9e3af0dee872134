//! [`TickCell`]: one tick that a single writer replaces and any number of readers copy,
//! without locks. The same seqlock as a ring slot, with a version counter as the stamp.

use std::sync::atomic::{AtomicU64, Ordering, fence};

use crate::record::{TICK_WORDS, Tick};

/// A single-writer, multi-reader cell holding the latest tick. Empty until first written.
#[derive(Debug)]
#[repr(align(64))]
pub struct TickCell {
    /// Even: stable (0 = never written). Odd: a write is under way.
    version: AtomicU64,
    words: [AtomicU64; TICK_WORDS],
}

impl Default for TickCell {
    fn default() -> Self {
        TickCell {
            version: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl TickCell {
    /// Replaces the tick. Only one thread may write a given cell.
    #[inline]
    pub fn store(&self, tick: &Tick) {
        let version = self.version.load(Ordering::Relaxed);
        self.version.store(version + 1, Ordering::Relaxed);
        // Release fence: a reader that sees a word below also sees the odd version.
        fence(Ordering::Release);
        for (cell, word) in self.words.iter().zip(tick.to_words()) {
            cell.store(word, Ordering::Relaxed);
        }
        // Release: a reader that loads the even version sees every word above.
        self.version.store(version + 2, Ordering::Release);
    }

    /// A consistent copy of the tick, or `None` if the cell was never written. Retries while
    /// a write is under way; a write takes nanoseconds, so this does not wait long.
    #[inline]
    pub fn load(&self) -> Option<Tick> {
        loop {
            let before = self.version.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let words: [u64; TICK_WORDS] =
                std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
            // Acquire fence: if a word above came from a newer write, the re-read sees its
            // version.
            fence(Ordering::Acquire);
            if self.version.load(Ordering::Relaxed) == before {
                return Some(Tick::from_words(&words));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Price, Qty};
    use crate::record::Quote;
    use crate::registry::InstrumentId;
    use std::sync::Arc;

    fn tick(n: i64) -> Tick {
        let mut tick = Tick::quote(
            InstrumentId(n as u32),
            n,
            n,
            Quote {
                bid: Price::from_units(n),
                bid_size: Qty::from_units(n),
                ask: Price::from_units(n),
                ask_size: Qty::from_units(n),
            },
        );
        tick.seq = n as u64;
        tick
    }

    #[test]
    fn empty_until_written_then_holds_the_latest() {
        let cell = TickCell::default();
        assert_eq!(cell.load(), None);
        cell.store(&tick(1));
        cell.store(&tick(2));
        assert_eq!(cell.load(), Some(tick(2)));
    }

    #[test]
    fn readers_never_see_a_torn_tick() {
        let cell = Arc::new(TickCell::default());
        let writer = {
            let cell = cell.clone();
            std::thread::spawn(move || {
                for n in 1..200_000 {
                    cell.store(&tick(n));
                }
            })
        };
        let mut last = 0;
        while !writer.is_finished() {
            if let Some(t) = cell.load() {
                let n = t.seq as i64;
                assert_eq!(t, tick(n), "torn read");
                assert!(n >= last, "went back in time");
                last = n;
            }
        }
        writer.join().unwrap();
        assert_eq!(cell.load(), Some(tick(199_999)));
    }
}
