//! Self-checking ticks shared by the ring tests.
//!
//! Tick `n` of producer `p` carries `p` and `n` twice (in `instrument` and in `ts_event`), and
//! every other word (`ts_recv`, `flags` and the four payload words) is a different bijective mix
//! of the pair. Two distinct ticks therefore differ in every word but `seq`, so a read that
//! stitches words of two ticks together (a torn read), or of a tick and an empty slot, never
//! passes [`check`].

use engine::{InstrumentId, Price, Qty, Quote, Tick};

/// Producer ids start at 1, so no tick has the all-zero words of an empty slot.
pub const FIRST_PRODUCER: u32 = 1;

/// The splitmix64 finalizer of `key` on `lane`: a bijection of `key` for every lane.
fn mix(key: u64, lane: u64) -> u64 {
    let mut z = key
        .wrapping_add(lane.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_4764_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Tick `n` of producer `producer`, with `seq` 0 as a producer hands it to the ring.
pub fn tick(producer: u32, n: u32) -> Tick {
    assert!(
        (FIRST_PRODUCER..256).contains(&producer) && n < 1 << 24,
        "tick ({producer}, {n}) out of range"
    );
    let key = u64::from(producer) << 32 | u64::from(n);
    let lane = |i| mix(key, i) as i64;
    let mut tick = Tick::quote(
        InstrumentId(producer << 24 | n),
        key as i64,
        lane(1),
        Quote {
            bid: Price::from_units(lane(2)),
            bid_size: Qty::from_units(lane(3)),
            ask: Price::from_units(lane(4)),
            ask_size: Qty::from_units(lane(5)),
        },
    );
    tick.flags = lane(6) as u16;
    tick
}

/// The `(producer, n)` a tick read from the ring claims to be, if every word agrees with it.
pub fn check(read: &Tick) -> Result<(u32, u32), String> {
    let key = read.ts_event as u64;
    let (producer, n) = ((key >> 32) as u32, key as u32);
    if !(FIRST_PRODUCER..256).contains(&producer) || n >= 1 << 24 {
        return Err(format!("torn read at seq {}: {read:?}", read.seq));
    }
    let mut expected = tick(producer, n);
    expected.seq = read.seq;
    if *read != expected {
        return Err(format!(
            "torn read at seq {}: read {read:?}, expected {expected:?}",
            read.seq
        ));
    }
    Ok((producer, n))
}
