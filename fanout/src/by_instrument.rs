//! [`ByInstrument`]: a table indexed by instrument id that grows in chunks as instruments
//! appear, and that readers index without locks.
//!
//! A chunk of [`CHUNK`] entries is allocated the first time one of its ids is asked for with
//! [`ByInstrument::get_or_init`]; afterwards a lookup is one atomic load and two indexings.

use std::sync::OnceLock;

use engine::InstrumentId;

/// Entries per chunk.
pub const CHUNK: usize = 256;
/// Highest instrument id a table holds, plus one.
pub const MAX_INSTRUMENTS: usize = 1 << 20;

/// A lazily chunked table of `T`, one entry per instrument id.
#[derive(Debug)]
pub struct ByInstrument<T> {
    chunks: Box<[OnceLock<Box<[T]>>]>,
}

impl<T: Default> Default for ByInstrument<T> {
    fn default() -> Self {
        ByInstrument {
            chunks: (0..MAX_INSTRUMENTS / CHUNK)
                .map(|_| OnceLock::new())
                .collect(),
        }
    }
}

impl<T: Default> ByInstrument<T> {
    /// The entry for `id`, if its chunk exists.
    #[inline]
    pub fn get(&self, id: InstrumentId) -> Option<&T> {
        let index = id.0 as usize;
        let chunk = self.chunks.get(index / CHUNK)?.get()?;
        Some(&chunk[index % CHUNK])
    }

    /// The entry for `id`, allocating its chunk if needed; `None` past [`MAX_INSTRUMENTS`].
    #[inline]
    pub fn get_or_init(&self, id: InstrumentId) -> Option<&T> {
        let index = id.0 as usize;
        let chunk = self
            .chunks
            .get(index / CHUNK)?
            .get_or_init(|| (0..CHUNK).map(|_| T::default()).collect());
        Some(&chunk[index % CHUNK])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn entries_appear_on_first_use_and_stay() {
        let table: ByInstrument<AtomicU32> = ByInstrument::default();
        assert!(table.get(InstrumentId(5)).is_none());
        table
            .get_or_init(InstrumentId(5))
            .unwrap()
            .store(7, Ordering::Relaxed);
        assert_eq!(
            table.get(InstrumentId(5)).unwrap().load(Ordering::Relaxed),
            7
        );
        assert_eq!(
            table.get(InstrumentId(6)).unwrap().load(Ordering::Relaxed),
            0
        );
        assert!(table.get(InstrumentId(CHUNK as u32)).is_none());
        assert!(
            table
                .get_or_init(InstrumentId(MAX_INSTRUMENTS as u32))
                .is_none()
        );
        assert!(table.get_or_init(InstrumentId(u32::MAX)).is_none());
    }
}
