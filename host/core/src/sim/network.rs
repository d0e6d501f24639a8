//! A seeded, simulated network with virtual time: delay with jitter, loss, duplication,
//! reordering, partitions that heal, and a global stabilisation time (GST).
//!
//! # Design
//! The network does not hold messages itself. [`Network::route`] decides the fate of one
//! message sent at virtual time `now` from one endpoint to another and returns the arrival
//! times (none when it is lost, two when it is duplicated); the caller pushes the deliveries
//! into an [`EventQueue`], which orders every event by `(time, sequence number)`.
//!
//! # Determinism
//! All choices come from one [`SimRng`] owned by the network, and the queue breaks ties by
//! insertion order, so a scenario replayed with the same seed delivers the same messages in
//! the same order at the same virtual times, bit for bit.
//!
//! # Model
//! Before GST the network is asynchronous and hostile within its configuration: each message
//! is delayed uniformly in `min_delay..=max_delay`, may be dropped, duplicated or held back
//! (reordered) by an extra delay, and messages between the two sides of an active partition
//! are cut. From GST on, the network is synchronous: every message between endpoints arrives
//! exactly once within `min_delay..=gst_max_delay`. Partitions must heal by GST.

use std::collections::BTreeMap;

use super::rng::{PPM, SimRng};

/// Virtual time in milliseconds since the start of a scenario.
pub type Time = u64;

/// An endpoint of the simulated network: one running node instance (a twin is an endpoint of
/// its own even though it shares its key with another instance).
pub type Endpoint = usize;

/// Behaviour of every link before GST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Smallest one-way delay.
    pub min_delay: Time,
    /// Largest one-way delay before any reordering hold-back (uniform jitter in between).
    pub max_delay: Time,
    /// Probability, in parts per million, that a message is lost.
    pub drop_ppm: u32,
    /// Probability, in parts per million, that a message is delivered twice.
    pub duplicate_ppm: u32,
    /// Probability, in parts per million, that a message is held back by up to `reorder_extra`.
    pub reorder_ppm: u32,
    /// Largest extra hold-back of a reordered message.
    pub reorder_extra: Time,
}

impl LinkConfig {
    /// A perfect link: every message arrives once, after exactly `delay`.
    pub fn reliable(delay: Time) -> Self {
        Self {
            min_delay: delay,
            max_delay: delay,
            drop_ppm: 0,
            duplicate_ppm: 0,
            reorder_ppm: 0,
            reorder_extra: 0,
        }
    }
}

/// A network partition: endpoints on different sides cannot exchange messages while it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The side of each endpoint (indexed by endpoint); endpoints beyond the vector are on side 0.
    pub sides: Vec<u8>,
    /// Virtual time at which the partition starts.
    pub start: Time,
    /// Virtual time at which it heals.
    pub heal_at: Time,
    /// If `true`, cut messages are held and delivered after the heal (a stalled link); if
    /// `false`, they are lost.
    pub hold: bool,
}

impl Partition {
    /// Whether the link `from -> to` is cut at time `now`.
    pub fn cuts(&self, now: Time, from: Endpoint, to: Endpoint) -> bool {
        let side = |e: Endpoint| self.sides.get(e).copied().unwrap_or(0);
        now >= self.start && now < self.heal_at && side(from) != side(to)
    }
}

/// The whole network configuration of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Link behaviour before GST.
    pub link: LinkConfig,
    /// Global stabilisation time: from here on the network is reliable and bounded.
    pub gst: Time,
    /// Largest one-way delay after GST (the known bound Δ of partial synchrony).
    pub gst_max_delay: Time,
    /// An optional partition; it must heal no later than `gst`.
    pub partition: Option<Partition>,
}

impl NetConfig {
    /// A synchronous network from time zero: every message arrives once after `delay`.
    pub fn synchronous(delay: Time) -> Self {
        Self {
            link: LinkConfig::reliable(delay),
            gst: 0,
            gst_max_delay: delay,
            partition: None,
        }
    }

    /// Whether the network behaves synchronously for the whole run (no loss, no partition,
    /// GST at zero). Invariants that only hold under synchrony check this.
    pub fn is_synchronous(&self) -> bool {
        self.gst == 0 && self.partition.is_none()
    }
}

/// Counters of what the network did to the messages it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Deliveries scheduled (a duplicated message counts twice).
    pub scheduled: u64,
    /// Messages lost to the drop probability.
    pub dropped: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Messages held back by the reordering rule.
    pub reordered: u64,
    /// Messages cut (lost or held) by a partition.
    pub partitioned: u64,
}

/// The link model: decides when (and whether) each message arrives.
#[derive(Debug, Clone)]
pub struct Network {
    cfg: NetConfig,
    rng: SimRng,
    stats: NetStats,
}

impl Network {
    /// A network following `cfg`, with all its choices drawn from `rng`.
    pub fn new(cfg: NetConfig, rng: SimRng) -> Self {
        Self {
            cfg,
            rng,
            stats: NetStats::default(),
        }
    }

    /// The configuration this network follows.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// What the network has done so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// The arrival times of a message sent at `now` from `from` to `to`: empty if it is lost,
    /// two entries if it is duplicated. A message to oneself arrives at once, exactly once.
    pub fn route(&mut self, now: Time, from: Endpoint, to: Endpoint) -> Vec<Time> {
        self.stats.sent += 1;
        if from == to {
            self.stats.scheduled += 1;
            return vec![now];
        }
        let mut depart = now;
        if let Some(p) = &self.cfg.partition
            && p.cuts(now, from, to)
        {
            self.stats.partitioned += 1;
            if !p.hold {
                return Vec::new();
            }
            depart = p.heal_at;
        }
        if depart >= self.cfg.gst {
            let d = self
                .rng
                .range(self.cfg.link.min_delay, self.cfg.gst_max_delay);
            self.stats.scheduled += 1;
            return vec![depart + d];
        }
        let link = &self.cfg.link;
        if self.rng.chance(link.drop_ppm) {
            self.stats.dropped += 1;
            return Vec::new();
        }
        let copies = if self.rng.chance(link.duplicate_ppm) {
            2
        } else {
            1
        };
        let mut out = Vec::with_capacity(copies);
        for _ in 0..copies {
            let mut d = self.rng.range(link.min_delay, link.max_delay);
            if self.rng.chance(link.reorder_ppm) {
                self.stats.reordered += 1;
                d += self.rng.range(1, link.reorder_extra.max(1));
            }
            out.push(depart + d);
        }
        self.stats.scheduled += copies as u64;
        self.stats.duplicated += (copies - 1) as u64;
        out
    }

    /// Whether a probability given as a fraction in `0.0..=1.0` is valid, and its value in
    /// parts per million (rounded).
    pub fn ppm_from_fraction(p: f64) -> Option<u32> {
        if !(0.0..=1.0).contains(&p) {
            return None;
        }
        // In range by the check above, so the cast cannot truncate.
        Some((p * f64::from(PPM)).round() as u32)
    }
}

/// A queue of timed events, popped in `(time, insertion order)` order.
#[derive(Debug, Clone)]
pub struct EventQueue<E> {
    events: BTreeMap<(Time, u64), E>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            events: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedule `event` at time `at`.
    pub fn push(&mut self, at: Time, event: E) {
        self.events.insert((at, self.next_seq), event);
        self.next_seq += 1;
    }

    /// Remove and return the earliest event with its time.
    pub fn pop(&mut self) -> Option<(Time, E)> {
        self.events.pop_first().map(|((t, _), e)| (t, e))
    }

    /// The time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<Time> {
        self.events.first_key_value().map(|((t, _), _)| *t)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy() -> NetConfig {
        NetConfig {
            link: LinkConfig {
                min_delay: 1,
                max_delay: 20,
                drop_ppm: 100_000,
                duplicate_ppm: 100_000,
                reorder_ppm: 100_000,
                reorder_extra: 100,
            },
            gst: 1_000,
            gst_max_delay: 10,
            partition: Some(Partition {
                sides: vec![0, 0, 1, 1],
                start: 0,
                heal_at: 500,
                hold: false,
            }),
        }
    }

    #[test]
    fn same_seed_routes_identically() {
        let mut a = Network::new(lossy(), SimRng::new(5));
        let mut b = Network::new(lossy(), SimRng::new(5));
        for i in 0..500u64 {
            let (from, to) = ((i % 4) as usize, ((i / 4) % 4) as usize);
            assert_eq!(a.route(i, from, to), b.route(i, from, to));
        }
        assert_eq!(a.stats(), b.stats());
    }

    #[test]
    fn partition_cuts_across_sides_until_heal() {
        let mut n = Network::new(lossy(), SimRng::new(1));
        assert!(n.route(10, 0, 2).is_empty());
        assert!(n.route(499, 3, 1).is_empty());
        assert_eq!(n.stats().partitioned, 2);
        let mut held = lossy();
        if let Some(p) = held.partition.as_mut() {
            p.hold = true;
        }
        let mut h = Network::new(held, SimRng::new(1));
        for t in h.route(10, 0, 2) {
            assert!(t >= 500);
        }
    }

    #[test]
    fn before_gst_drops_duplicates_and_reorders_after_gst_is_bounded_and_exact() {
        let mut n = Network::new(lossy(), SimRng::new(2));
        for i in 0..2_000 {
            n.route(600 + (i % 300), 0, 1);
        }
        let s = n.stats();
        assert!(
            s.dropped > 0 && s.duplicated > 0 && s.reordered > 0,
            "{s:?}"
        );
        for i in 0..2_000 {
            let at = n.route(1_000 + i, 1, 0);
            assert_eq!(at.len(), 1);
            assert!(at[0] > 1_000 + i && at[0] <= 1_000 + i + 10);
        }
    }

    #[test]
    fn self_messages_arrive_at_once() {
        let mut n = Network::new(lossy(), SimRng::new(3));
        assert_eq!(n.route(42, 2, 2), vec![42]);
    }

    #[test]
    fn queue_orders_by_time_then_insertion() {
        let mut q = EventQueue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, "a"), (1, "b"), (5, "c"), (5, "d")]);
    }

    #[test]
    fn fractions_convert_to_ppm() {
        assert_eq!(Network::ppm_from_fraction(0.1), Some(100_000));
        assert_eq!(Network::ppm_from_fraction(1.5), None);
    }
}
