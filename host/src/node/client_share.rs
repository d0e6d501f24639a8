//! Fair shares of the client listener between the network addresses clients come from.
//!
//! Client keys are free, so a pool divided per key divides nothing: one attacker with
//! many keys held every client connection (and could fill the pool of small request
//! bytes), and honest clients were refused until it let go. The listener divides by the
//! *source* of a connection instead ([`Source`]: an IPv4 address, or an IPv6 /64, the
//! block a single host is usually given), which an attacker must pay for:
//! - **Connections.** While the listener is full, a newcomer from a source holding fewer
//!   connections than the largest holder takes the oldest connection of that holder
//!   (closed with [`ERR_EVICTED`]), as long as the holder keeps at least as many as the
//!   newcomer then has. So with k sources present each can hold about `max / k`
//!   connections whatever the others do, and one source alone may still use them all (a
//!   bench, many clients behind one NAT). The listener asks a newcomer to a full table to
//!   prove its address first (a QUIC retry, `client.rs`), so a spoofed source closes
//!   nobody's connection; and evictions are paced ([`EVICTION_PACE`]), so a source that
//!   connects and leaves in a loop cannot churn another's connections faster.
//! - **Small request bytes.** Each source may have at most [`SOURCE_SMALL_SHARE`] of the
//!   small request pool in flight; the rest stays for the others. A source's pool
//!   outlives its connections while requests still hold room in it, so reconnecting does
//!   not get a fresh share.
//!
//! An attacker holding many addresses (a botnet, many IPv6 /64s) still shares the pools
//! with everyone: this bounds what one address can take, not what a crowd can.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// QUIC application error code of a client connection closed to make room for a client
/// from another address while the listener was full.
pub const ERR_EVICTED: u32 = 0x5b11;

/// At most one connection is closed to make room per this interval, whoever asks.
pub const EVICTION_PACE: Duration = Duration::from_millis(100);

/// Bytes of small request bodies one source may have in flight: an eighth of the
/// node-wide pool ([`super::client::CLIENT_SMALL_BUDGET`]), at least 32 operations of
/// the largest size.
pub const SOURCE_SMALL_SHARE: usize = super::client::CLIENT_SMALL_BUDGET / 8;

/// Where a client connection comes from, as far as its fair share goes: an IPv4 address
/// (an IPv4-mapped IPv6 address counts as its IPv4 address), or the /64 of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address.
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    Source::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
                }
            },
        }
    }
}

/// The listener's table of connections per source, with each source's small-byte pool.
#[derive(Debug)]
pub struct Shares {
    max: usize,
    /// At most one eviction per this interval ([`EVICTION_PACE`] on a node).
    pace: Duration,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    total: usize,
    by_source: HashMap<Source, Holder>,
    /// Pools of sources without a connection whose requests still hold room in them.
    lingering: HashMap<Source, Weak<Semaphore>>,
    /// When the last connection was closed to make room.
    last_eviction: Option<Instant>,
}

#[derive(Debug)]
struct Holder {
    /// Oldest first: seat id and, once the handshake is done, the connection.
    seats: VecDeque<(u64, Option<quinn::Connection>)>,
    small: Arc<Semaphore>,
}

/// A connection's place in the [`Shares`]; dropping it gives the place up.
#[derive(Debug)]
pub struct Seat {
    shares: Arc<Shares>,
    source: Source,
    id: u64,
    small: Arc<Semaphore>,
}

impl Shares {
    /// Shares of `max` connections, closing at most one per `pace` to make room.
    pub fn new(max: usize, pace: Duration) -> Arc<Self> {
        Arc::new(Shares {
            max,
            pace,
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // The table holds no invariant a panic elsewhere could break half-way.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A seat for a connection from `source`, or `None` when the listener is full and
    /// `source` already holds its share. Taking a seat from a larger holder closes that
    /// holder's oldest connection.
    pub fn admit(self: &Arc<Self>, source: Source) -> Option<Seat> {
        let mut t = self.table();
        if t.total >= self.max {
            let now = Instant::now();
            if t.last_eviction
                .is_some_and(|at| now.saturating_duration_since(at) < self.pace)
            {
                return None;
            }
            let mine = t.by_source.get(&source).map_or(0, |h| h.seats.len());
            // The largest holder with a connection to close (a seat still in its
            // handshake has none yet).
            let victim = t
                .by_source
                .iter()
                .filter(|(_, h)| h.seats.iter().any(|(_, c)| c.is_some()))
                .max_by_key(|(_, h)| h.seats.len())
                .map(|(s, h)| (*s, h.seats.len()))?;
            if victim.1 < mine.saturating_add(2) {
                return None;
            }
            let holder = t.by_source.get_mut(&victim.0)?;
            let at = holder.seats.iter().position(|(_, c)| c.is_some())?;
            let (_, conn) = holder.seats.remove(at)?;
            if let Some(conn) = conn {
                conn.close(
                    ERR_EVICTED.into(),
                    b"the node is full: room made for a client from another address",
                );
            }
            t.total = t.total.saturating_sub(1);
            t.last_eviction = Some(now);
            t.forget_if_empty(victim.0);
        }
        t.next = t.next.wrapping_add(1);
        let id = t.next;
        t.total = t.total.saturating_add(1);
        if !t.by_source.contains_key(&source) {
            let small = t
                .lingering
                .remove(&source)
                .and_then(|w| w.upgrade())
                .unwrap_or_else(|| Arc::new(Semaphore::new(SOURCE_SMALL_SHARE)));
            t.by_source.insert(
                source,
                Holder {
                    seats: VecDeque::new(),
                    small,
                },
            );
        }
        let holder = t.by_source.get_mut(&source)?;
        holder.seats.push_back((id, None));
        let small = Arc::clone(&holder.small);
        Some(Seat {
            shares: Arc::clone(self),
            source,
            id,
            small,
        })
    }

    /// Whether every connection is taken.
    pub fn is_full(&self) -> bool {
        self.table().total >= self.max
    }

    /// Connections held now, in all.
    pub fn total(&self) -> usize {
        self.table().total
    }

    /// Connections held now by `source`.
    pub fn held_by(&self, source: Source) -> usize {
        self.table()
            .by_source
            .get(&source)
            .map_or(0, |h| h.seats.len())
    }
}

impl Table {
    /// Drop `source`'s entry once it holds no connection; its pool lingers while a
    /// request still holds room in it (the permits keep it alive).
    fn forget_if_empty(&mut self, source: Source) {
        if self
            .by_source
            .get(&source)
            .is_some_and(|h| h.seats.is_empty())
            && let Some(holder) = self.by_source.remove(&source)
        {
            self.lingering.retain(|_, w| w.strong_count() > 0);
            if holder.small.available_permits() < SOURCE_SMALL_SHARE {
                self.lingering.insert(source, Arc::downgrade(&holder.small));
            }
        }
    }
}

impl Seat {
    /// The connection this seat holds, once its handshake is done (so that a newcomer
    /// may close it).
    pub fn attach(&self, conn: &quinn::Connection) {
        let mut t = self.shares.table();
        if let Some(seat) = t
            .by_source
            .get_mut(&self.source)
            .and_then(|h| h.seats.iter_mut().find(|(id, _)| *id == self.id))
        {
            seat.1 = Some(conn.clone());
        } else {
            // Evicted during the handshake (cannot happen: a seat without a connection
            // is never chosen), or the table was reset: do not serve it.
            conn.close(ERR_EVICTED.into(), b"the node is full");
        }
    }

    /// This source's pool of small request bytes ([`SOURCE_SMALL_SHARE`]).
    pub fn small_pool(&self) -> Arc<Semaphore> {
        Arc::clone(&self.small)
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut t = self.shares.table();
        let Some(holder) = t.by_source.get_mut(&self.source) else {
            return;
        };
        let Some(at) = holder.seats.iter().position(|(id, _)| *id == self.id) else {
            return; // evicted: already gone from the count
        };
        holder.seats.remove(at);
        t.total = t.total.saturating_sub(1);
        t.forget_if_empty(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(last: u8) -> Source {
        Source::from(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn sources_group_ipv6_by_64_and_map_ipv4() {
        let v6 = |seg: [u16; 8]| Source::from(IpAddr::from(seg));
        let a = v6([0x2001, 0xdb8, 1, 2, 0xaaaa, 0, 0, 1]);
        let b = v6([0x2001, 0xdb8, 1, 2, 0xbbbb, 0, 0, 9]);
        let c = v6([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = v6([0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203]);
        assert_eq!(mapped, Source::V4([10, 1, 2, 3]));
    }

    /// Seats without a connection yet (in their handshake) are never taken, so a full
    /// table of handshaking seats refuses; dropped seats give their place back.
    #[test]
    fn seats_are_counted_and_given_back() {
        let shares = Shares::new(2, EVICTION_PACE);
        let a = shares.admit(v4(2));
        let b = shares.admit(v4(2));
        assert!(a.is_some() && b.is_some());
        assert_eq!(shares.total(), 2);
        assert!(shares.admit(v4(3)).is_none(), "no connection to take yet");
        drop(a);
        assert_eq!(shares.held_by(v4(2)), 1);
        let c = shares.admit(v4(3));
        assert!(c.is_some());
        drop(b);
        assert_eq!(shares.total(), 1);
        drop(c);
        assert_eq!(shares.total(), 0);
    }

    /// A source that leaves while its requests hold room in its pool finds the same pool
    /// when it comes back (reconnecting gives no fresh share); a source whose pool is
    /// whole starts afresh.
    #[test]
    fn a_pool_in_use_outlives_the_connections() {
        let shares = Shares::new(4, EVICTION_PACE);
        let seat = shares.admit(v4(2));
        let held = seat
            .as_ref()
            .map(|s| s.small_pool().try_acquire_many_owned(1024));
        assert!(matches!(held, Some(Ok(_))));
        drop(seat);
        let back = shares.admit(v4(2));
        let left = back.as_ref().map(|s| s.small_pool().available_permits());
        assert_eq!(left, Some(SOURCE_SMALL_SHARE - 1024), "a fresh share");
        drop(held);
        drop(back);
        let fresh = shares.admit(v4(2));
        let left = fresh.as_ref().map(|s| s.small_pool().available_permits());
        assert_eq!(left, Some(SOURCE_SMALL_SHARE));
    }
}
