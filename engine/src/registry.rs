//! The instrument registry: `VENUE:SYMBOL` names interned to dense `u32` ids.
//!
//! Reads (`id`, `get`, `all`) take no lock: they load an immutable snapshot through an
//! [`ArcSwap`]. Interning a new name, which happens when a feed subscribes and not per tick,
//! copies the snapshot under a writer mutex and swaps the new one in.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::error::{Error, Result};

/// Longest accepted instrument name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// A dense instrument id, assigned in interning order from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct InstrumentId(pub u32);

/// One interned instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    /// Its id.
    pub id: InstrumentId,
    /// The full name, `VENUE:SYMBOL`.
    pub name: Arc<str>,
    venue_len: usize,
}

impl Instrument {
    /// The venue part, before the first `:`.
    pub fn venue(&self) -> &str {
        &self.name[..self.venue_len]
    }

    /// The symbol part, after the first `:`.
    pub fn symbol(&self) -> &str {
        &self.name[self.venue_len + 1..]
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Checks `VENUE:SYMBOL`: a venue of `A-Z`, `0-9` or `_`; a symbol of printable ASCII without
/// spaces (it may hold `/`, `-`, `.` or further `:`); at most [`MAX_NAME_LEN`] bytes in all.
/// Returns the venue's length.
pub fn validate_name(name: &str) -> Result<usize> {
    let invalid = || Error::InvalidInstrument(name.chars().take(MAX_NAME_LEN + 8).collect());
    let (venue, symbol) = name.split_once(':').ok_or_else(invalid)?;
    let venue_ok = !venue.is_empty()
        && venue
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let symbol_ok = !symbol.is_empty() && symbol.bytes().all(|b| b.is_ascii_graphic());
    if venue_ok && symbol_ok && name.len() <= MAX_NAME_LEN {
        Ok(venue.len())
    } else {
        Err(invalid())
    }
}

#[derive(Default)]
struct Snapshot {
    by_name: HashMap<Arc<str>, InstrumentId>,
    by_id: Vec<Arc<Instrument>>,
}

/// The registry. Share it as `Arc<Registry>`.
#[derive(Default)]
pub struct Registry {
    snapshot: ArcSwap<Snapshot>,
    writer: Mutex<()>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("instruments", &self.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The id of `name`, interning it first if it is new.
    pub fn intern(&self, name: &str) -> Result<InstrumentId> {
        if let Some(id) = self.id(name) {
            return Ok(id);
        }
        let venue_len = validate_name(name)?;
        // A poisoned writer lock only means another interner panicked between lock and swap;
        // the snapshot it guards is always whole, so carry on.
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.snapshot.load_full();
        if let Some(&id) = current.by_name.get(name) {
            return Ok(id);
        }
        let id = u32::try_from(current.by_id.len())
            .ok()
            .filter(|&n| n < u32::MAX)
            .map(InstrumentId)
            .ok_or(Error::RegistryFull)?;
        let name: Arc<str> = Arc::from(name);
        let mut next = Snapshot {
            by_name: current.by_name.clone(),
            by_id: current.by_id.clone(),
        };
        next.by_name.insert(name.clone(), id);
        next.by_id.push(Arc::new(Instrument {
            id,
            name,
            venue_len,
        }));
        self.snapshot.store(Arc::new(next));
        Ok(id)
    }

    /// The id of an interned name. Lock-free.
    pub fn id(&self, name: &str) -> Option<InstrumentId> {
        self.snapshot.load().by_name.get(name).copied()
    }

    /// The instrument behind an id. Lock-free.
    pub fn get(&self, id: InstrumentId) -> Option<Arc<Instrument>> {
        self.snapshot.load().by_id.get(id.0 as usize).cloned()
    }

    /// Every instrument, in id order. Lock-free.
    pub fn all(&self) -> Vec<Arc<Instrument>> {
        self.snapshot.load().by_id.clone()
    }

    /// How many instruments are interned.
    pub fn len(&self) -> usize {
        self.snapshot.load().by_id.len()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("BINANCE:BTCUSDT", "BINANCE", "BTCUSDT")]
    #[case("COINBASE:BTC-USD", "COINBASE", "BTC-USD")]
    #[case("KRAKEN:BTC/USD", "KRAKEN", "BTC/USD")]
    #[case("SIM:AAA", "SIM", "AAA")]
    #[case("X_1:a:b", "X_1", "a:b")]
    fn interns_valid_names(#[case] name: &str, #[case] venue: &str, #[case] symbol: &str) {
        let registry = Registry::new();
        let id = registry.intern(name).unwrap();
        let instrument = registry.get(id).unwrap();
        assert_eq!(instrument.venue(), venue);
        assert_eq!(instrument.symbol(), symbol);
        assert_eq!(instrument.to_string(), name);
    }

    #[rstest]
    #[case("")]
    #[case("BTCUSDT")]
    #[case(":BTC")]
    #[case("SIM:")]
    #[case("sim:AAA")]
    #[case("SIM:A A")]
    #[case("SIM:\u{e9}")]
    #[case("SIM:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    fn rejects_invalid_names(#[case] name: &str) {
        let registry = Registry::new();
        assert!(matches!(
            registry.intern(name),
            Err(Error::InvalidInstrument(_))
        ));
        assert!(registry.is_empty());
    }

    #[test]
    fn ids_are_dense_and_stable() {
        let registry = Registry::new();
        let a = registry.intern("SIM:AAA").unwrap();
        let b = registry.intern("SIM:AAB").unwrap();
        assert_eq!((a, b), (InstrumentId(0), InstrumentId(1)));
        assert_eq!(registry.intern("SIM:AAA").unwrap(), a);
        assert_eq!(registry.id("SIM:AAB"), Some(b));
        assert_eq!(registry.id("SIM:ZZZ"), None);
        assert_eq!(registry.get(InstrumentId(2)), None);
        let names: Vec<_> = registry.all().iter().map(|i| i.to_string()).collect();
        assert_eq!(names, ["SIM:AAA", "SIM:AAB"]);
    }

    #[test]
    fn concurrent_interning_gives_one_id_per_name() {
        let registry = Arc::new(Registry::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let registry = registry.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .map(|i| {
                            let name = format!("SIM:I{}", (i * (t + 1)) % 200);
                            (name.clone(), registry.intern(&name).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashMap::new();
        for thread in threads {
            for (name, id) in thread.join().unwrap() {
                assert_eq!(*seen.entry(name).or_insert(id), id);
            }
        }
        assert_eq!(registry.len(), seen.len());
        for (name, id) in seen {
            assert_eq!(registry.get(id).unwrap().name.as_ref(), name);
        }
    }
}
