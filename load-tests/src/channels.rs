//! Seeded, deterministic drawing of each connection's channels.
//!
//! The universe is every channel of the chosen kinds over the first M instruments, in
//! instrument order (`trades.X`, `quotes.X`, `trades.Y`, ...). Connection `i` draws K distinct
//! channels from it with a partial Fisher-Yates shuffle driven by a SplitMix64 generator
//! seeded from `(seed, i)`, so a run is reproducible and connections differ.

use anyhow::{Result, bail};

use crate::args::Kinds;

/// SplitMix64: a tiny, well-mixed 64-bit generator; plenty for choosing channels.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for stream `stream` of seed `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut g = SplitMix64(seed);
        let base = g.next_u64();
        SplitMix64(base ^ stream.wrapping_mul(0xD2B7_4407_B1CE_6E93))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`), by widening multiplication (bias is negligible).
    pub fn below(&mut self, bound: usize) -> usize {
        let wide = u128::from(self.next_u64()) * bound as u128;
        usize::try_from(wide >> 64).unwrap_or(0)
    }
}

/// Every channel name of `kinds` over `instruments`, in instrument order.
pub fn universe(instruments: &[String], kinds: Kinds) -> Vec<String> {
    instruments
        .iter()
        .flat_map(|id| kinds.prefixes().iter().map(move |p| format!("{p}.{id}")))
        .collect()
}

/// The `k` distinct channels of connection `conn`, drawn from `universe` with `seed`.
pub fn draw(universe: &[String], k: usize, seed: u64, conn: u64) -> Result<Vec<&str>> {
    if k > universe.len() {
        bail!(
            "cannot draw {k} distinct channels from {} (instruments x kinds)",
            universe.len()
        );
    }
    let mut rng = SplitMix64::new(seed, conn);
    let mut idx: Vec<usize> = (0..universe.len()).collect();
    for i in 0..k {
        let j = i + rng.below(idx.len() - i);
        idx.swap(i, j);
    }
    Ok(idx[..k].iter().map(|&i| universe[i].as_str()).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn instruments(m: usize) -> Vec<String> {
        (0..m).map(|i| format!("SIM:I{i:03}")).collect()
    }

    #[test]
    fn universe_covers_kinds_in_order() {
        let u = universe(&instruments(2), Kinds::Both);
        assert_eq!(
            u,
            [
                "trades.SIM:I000",
                "quotes.SIM:I000",
                "trades.SIM:I001",
                "quotes.SIM:I001"
            ]
        );
        assert_eq!(universe(&instruments(3), Kinds::Quotes).len(), 3);
    }

    #[test]
    fn draw_is_deterministic_per_seed_and_connection() {
        let u = universe(&instruments(50), Kinds::Both);
        let a = draw(&u, 10, 7, 3).unwrap();
        assert_eq!(a, draw(&u, 10, 7, 3).unwrap());
        assert_ne!(a, draw(&u, 10, 7, 4).unwrap(), "connections differ");
        assert_ne!(a, draw(&u, 10, 8, 3).unwrap(), "seeds differ");
    }

    #[test]
    fn draw_gives_distinct_channels_up_to_the_whole_universe() {
        let u = universe(&instruments(20), Kinds::Both);
        for k in [0, 1, 13, 39, 40] {
            for conn in 0..20 {
                let got = draw(&u, k, 42, conn).unwrap();
                assert_eq!(got.len(), k);
                let set: HashSet<&str> = got.iter().copied().collect();
                assert_eq!(set.len(), k, "k={k} conn={conn}: duplicates in {got:?}");
                assert!(got.iter().all(|c| u.iter().any(|x| x == c)));
            }
        }
        assert!(draw(&u, 41, 42, 0).is_err(), "K > 2M is refused");
    }

    #[test]
    fn draw_spreads_over_the_universe() {
        let u = universe(&instruments(10), Kinds::Trades);
        let seen: HashSet<&str> = (0..200).flat_map(|c| draw(&u, 1, 1, c).unwrap()).collect();
        assert_eq!(
            seen.len(),
            u.len(),
            "every channel is drawn by some connection"
        );
    }
}
