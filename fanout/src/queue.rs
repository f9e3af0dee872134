//! A connection's outbound queue and its policy: in order below the soft watermark, conflated
//! per channel above it, refused past the hard limit.
//!
//! The queue also knows which channels the connection has and, for each, the sequence number
//! of the snapshot it was sent: a message for a channel the connection no longer has, or not
//! newer than its snapshot, is dropped. That makes `unsubscribed` final and keeps `seq`
//! increasing per channel even when the dispatcher races a subscribe.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use axum::extract::ws::Utf8Bytes;

use crate::channel::ChannelKey;

/// One queued frame.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The JSON text, shared with every other subscriber.
    pub text: Utf8Bytes,
    /// The channel of a market data message; `None` for control messages, which are never
    /// conflated or filtered.
    pub key: Option<ChannelKey>,
    /// The engine sequence number (market data), for ordering per channel.
    pub seq: u64,
    /// `ts_recv` of the tick behind the message (0 for control), for the latency histogram.
    pub ts_recv: i64,
}

impl Outgoing {
    /// A control message.
    pub fn control(text: String) -> Outgoing {
        Outgoing {
            text: text.into(),
            key: None,
            seq: 0,
            ts_recv: 0,
        }
    }
}

/// Watermarks in bytes of queued text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Above this, conflate.
    pub soft: usize,
    /// Past this, refuse (the connection is closed as a slow consumer).
    pub hard: usize,
}

/// What [`Queue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Appended.
    Queued,
    /// Replaced the channel's queued message in place.
    Conflated,
    /// Not for this connection (channel not subscribed, or not newer than its snapshot).
    Filtered,
    /// Refused: the queue would pass its hard limit.
    Full,
}

/// Hashes a [`ChannelKey`] with one multiply: keys are already well spread integers.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type KeyMap<V> = HashMap<ChannelKey, V, BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Clone, Copy)]
struct ChannelState {
    /// Messages with `seq <= floor` are stale (already covered by the snapshot).
    floor: u64,
    /// Absolute position of this channel's newest queued message, if still queued.
    queued_at: Option<u64>,
}

/// The queue. Guarded by the connection's mutex: the dispatcher pushes, the writer drains.
#[derive(Debug, Default)]
pub struct Queue {
    items: VecDeque<Outgoing>,
    /// Absolute position of `items[0]`.
    head: u64,
    bytes: usize,
    channels: KeyMap<ChannelState>,
}

impl Queue {
    /// Bytes of text queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Starts accepting `key`'s messages newer than `floor` (its snapshot's seq, or 0).
    pub fn open_channel(&mut self, key: ChannelKey, floor: u64) {
        let state = self.channels.entry(key).or_insert(ChannelState {
            floor,
            queued_at: None,
        });
        state.floor = state.floor.max(floor);
    }

    /// Stops accepting `key`'s messages and drops those still queued.
    pub fn close_channel(&mut self, key: ChannelKey) {
        if self.channels.remove(&key).is_some() {
            let before = self.items.len();
            let mut freed = 0;
            self.items.retain(|m| {
                let keep = m.key != Some(key);
                if !keep {
                    freed += m.text.len();
                }
                keep
            });
            self.bytes -= freed;
            // Positions after removed items shift; forget them (conflation restarts cleanly).
            if self.items.len() != before {
                for state in self.channels.values_mut() {
                    state.queued_at = None;
                }
            }
        }
    }

    /// Queues `message` under `policy`.
    pub fn push(&mut self, message: Outgoing, policy: QueuePolicy) -> Push {
        let len = message.text.len();
        let Some(key) = message.key else {
            self.bytes += len;
            self.items.push_back(message);
            return Push::Queued;
        };
        let head = self.head;
        let Some(state) = self.channels.get_mut(&key) else {
            return Push::Filtered;
        };
        if message.seq <= state.floor {
            return Push::Filtered;
        }
        state.floor = message.seq;
        if self.bytes + len > policy.soft
            && let Some(at) = state.queued_at.filter(|&at| at >= head)
        {
            let slot = &mut self.items[(at - head) as usize];
            self.bytes = self.bytes - slot.text.len() + len;
            *slot = message;
            return Push::Conflated;
        }
        if self.bytes + len > policy.hard {
            return Push::Full;
        }
        state.queued_at = Some(head + self.items.len() as u64);
        self.bytes += len;
        self.items.push_back(message);
        Push::Queued
    }

    /// Moves every queued message into `out`, oldest first.
    pub fn drain_into(&mut self, out: &mut Vec<Outgoing>) {
        self.head += self.items.len() as u64;
        self.bytes = 0;
        out.extend(self.items.drain(..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: QueuePolicy = QueuePolicy {
        soft: 100,
        hard: 300,
    };
    const A: ChannelKey = ChannelKey(1);
    const B: ChannelKey = ChannelKey(2);

    fn msg(key: ChannelKey, seq: u64, len: usize) -> Outgoing {
        Outgoing {
            text: format!("{seq:0len$}").into(),
            key: Some(key),
            seq,
            ts_recv: seq as i64,
        }
    }

    fn drained(queue: &mut Queue) -> Vec<(Option<ChannelKey>, u64)> {
        let mut out = Vec::new();
        queue.drain_into(&mut out);
        out.iter().map(|m| (m.key, m.seq)).collect()
    }

    fn queue() -> Queue {
        let mut queue = Queue::default();
        queue.open_channel(A, 0);
        queue.open_channel(B, 0);
        queue
    }

    #[test]
    fn below_the_soft_watermark_everything_queues_in_order() {
        let mut q = queue();
        for seq in 1..=4 {
            let key = if seq % 2 == 0 { B } else { A };
            assert_eq!(q.push(msg(key, seq, 20), POLICY), Push::Queued);
        }
        assert_eq!(q.bytes(), 80);
        assert_eq!(
            drained(&mut q),
            [(Some(A), 1), (Some(B), 2), (Some(A), 3), (Some(B), 4)]
        );
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn above_the_soft_watermark_the_newest_per_channel_wins_in_place() {
        let mut q = queue();
        assert_eq!(q.push(msg(A, 1, 60), POLICY), Push::Queued);
        assert_eq!(q.push(msg(B, 2, 30), POLICY), Push::Queued);
        // 90 + 30 > 100: conflate A's queued message.
        assert_eq!(q.push(msg(A, 3, 30), POLICY), Push::Conflated);
        assert_eq!(q.bytes(), 60);
        assert_eq!(
            q.push(msg(A, 4, 30), POLICY),
            Push::Queued,
            "back under the watermark"
        );
        assert_eq!(q.push(msg(B, 5, 20), POLICY), Push::Conflated);
        assert_eq!(q.bytes(), 80);
        assert_eq!(drained(&mut q), [(Some(A), 3), (Some(B), 5), (Some(A), 4)]);
    }

    #[test]
    fn control_messages_are_never_conflated() {
        let mut q = queue();
        q.push(msg(A, 1, 90), POLICY);
        for _ in 0..3 {
            assert_eq!(
                q.push(Outgoing::control("x".repeat(20)), POLICY),
                Push::Queued
            );
        }
        assert_eq!(q.len(), 4);
    }

    #[test]
    fn past_the_hard_limit_pushes_are_refused() {
        let mut q = queue();
        // A channel with nothing queued cannot conflate, so the queue grows to the hard limit.
        let mut seq = 0;
        let mut keys = (10..).map(ChannelKey);
        let outcome = loop {
            let key = keys.next().unwrap();
            q.open_channel(key, 0);
            seq += 1;
            match q.push(msg(key, seq, 50), POLICY) {
                Push::Queued => continue,
                other => break other,
            }
        };
        assert_eq!(outcome, Push::Full);
        assert_eq!(q.bytes(), 300);
    }

    #[test]
    fn unsubscribed_and_stale_messages_are_filtered() {
        let mut q = Queue::default();
        assert_eq!(
            q.push(msg(A, 1, 10), POLICY),
            Push::Filtered,
            "not subscribed"
        );
        q.open_channel(A, 5);
        assert_eq!(
            q.push(msg(A, 5, 10), POLICY),
            Push::Filtered,
            "covered by snapshot"
        );
        assert_eq!(q.push(msg(A, 6, 10), POLICY), Push::Queued);
        assert_eq!(
            q.push(msg(A, 6, 10), POLICY),
            Push::Filtered,
            "seq only increases"
        );
        q.push(Outgoing::control("c".into()), POLICY);
        q.close_channel(A);
        assert_eq!(q.push(msg(A, 7, 10), POLICY), Push::Filtered);
        assert_eq!(
            drained(&mut q),
            [(None, 0)],
            "queued A messages left with the channel"
        );
    }

    #[test]
    fn conflation_keeps_working_across_drains() {
        let mut q = queue();
        q.push(msg(A, 1, 90), POLICY);
        drained(&mut q);
        assert_eq!(q.push(msg(A, 2, 90), POLICY), Push::Queued);
        assert_eq!(q.push(msg(A, 3, 90), POLICY), Push::Conflated);
        assert_eq!(drained(&mut q), [(Some(A), 3)]);
    }
}
