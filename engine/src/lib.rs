//! The core of nexamd: the numbers, the tick record and the ring that every other crate
//! builds on. No I/O and no async runtime live here.
//!
//! Data flows one way: a feed parses provider text into [`Price`]/[`Qty`], interns the
//! instrument in the [`Registry`], builds a [`Tick`] and publishes it through a ring
//! [`Producer`]; each consumer (storage, portfolio, fanout) reads the [`Ring`] from its own
//! [`Consumer`] cursor.

/// Bars and bar intervals.
pub mod access;
pub mod bar;
pub mod cell;
pub mod clock;
/// Errors of this crate.
pub mod error;
pub mod fixed;
pub mod json;
pub mod latency;
pub mod metrics;
/// Handles between domain crates: valuations to the fanout, portfolio visibility.
pub mod publish;
pub mod random;
pub mod record;
pub mod registry;
pub mod ring;
/// UTC time text: RFC 3339 and epoch parsing and printing, civil-date helpers.
pub mod time;

pub use bar::{Bar, BarSink, Interval};
pub use cell::TickCell;
pub use error::{DecimalError, Error, Result};
pub use fixed::{Price, Qty};
pub use record::{Payload, Quote, Side, Tick, TickKind, Trade};
pub use registry::{Instrument, InstrumentId, Registry};
pub use ring::{
    Consumer, ConsumerStats, Gap, Producer, Ring, RingBuilder, RingStats, WaitOutcome, WaitStrategy,
};
