//! The pace of what clients make the event loop read and build for them: log pages, the
//! stored decision of an operation submitted again after it was decided, and status
//! reports.
//!
//! # Why
//! A request of a few bytes costs the loop a store read and a decode of up to a log
//! page (8 MiB) or a whole decided entry (several MiB), or a status report. The
//! [`AnswerBudget`](super::client::AnswerBudget) bounds the bytes held while clients read
//! their answers, not the rate: a client that reads at once frees its room at once, and
//! could keep the loop reading megabytes without a break. Peers are paced for the same
//! work (catch-up, module parts; [`super::pacing`]); these are the clients' paces.
//!
//! # Rule
//! Three [`Pacer`]s, all must admit: one window for all clients together ([`ALL`]), which
//! bounds the loop's work whatever the number of keys (client keys cost nothing to make);
//! one per source address ([`SOURCE`], the listener's [`Source`]: an IPv4 address or an
//! IPv6 /64), half of everyone's, so that one host with many keys cannot take it all;
//! and one per client key ([`EACH`]), so that one client cannot take its address's
//! whole share. A read past any is answered [`Paced`] (the client retries), never
//! queued. The bytes are charged
//! after the read ([`ClientReads::charge`]); [`ClientReads::admit`] says how many are left
//! so a log page is cut to them (at least one entry, so a window may overshoot by one).
//! Submissions and module uploads are not paced here: they have their own budgets
//! (mempool, upload pool).

use spore_core::types::NodeId;

use super::client_share::Source;
use super::pacing::{Pace, Pacer};

/// What all clients together may have read for them per second.
pub const ALL: Pace = Pace {
    per_second: 512,
    bytes_per_second: 32 * 1024 * 1024,
};

/// What the clients of one source address may have read for them per second: half of
/// everyone's.
pub const SOURCE: Pace = Pace {
    per_second: ALL.per_second / 2,
    bytes_per_second: ALL.bytes_per_second / 2,
};

/// What one client key may have read for it per second.
pub const EACH: Pace = Pace {
    per_second: 128,
    bytes_per_second: 8 * 1024 * 1024,
};

/// The key of the window shared by all clients (a pacer of its own: no client key is
/// counted in it).
const EVERYONE: NodeId = NodeId([0; 32]);

/// A read refused by the pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "busy: the node reads at most {} MiB a second from its store for one client key, {} MiB \
     for one address and {} MiB for all clients together ({}, {} and {} requests); try \
     again in a second",
    EACH.bytes_per_second >> 20,
    SOURCE.bytes_per_second >> 20,
    ALL.bytes_per_second >> 20,
    EACH.per_second,
    SOURCE.per_second,
    ALL.per_second
)]
pub struct Paced;

/// The paces of client reads (see the module doc).
#[derive(Debug)]
pub struct ClientReads {
    all: Pacer,
    source: Pacer<Source>,
    each: Pacer,
}

impl Default for ClientReads {
    fn default() -> Self {
        Self::new(ALL, SOURCE, EACH)
    }
}

impl ClientReads {
    /// Paces `all` for every client together, `source` per source address and `each`
    /// per client key.
    pub fn new(all: Pace, source: Pace, each: Pace) -> Self {
        Self {
            all: Pacer::new(all),
            source: Pacer::new(source),
            each: Pacer::new(each),
        }
    }

    /// Whether one more read for `client` (from `source`) may be made at `now` (ms): the
    /// bytes it may still read, or [`Paced`]. The narrowest window is asked first, so a
    /// key past its pace does not use up its address's or everyone's count.
    pub fn admit(&mut self, (client, source): (NodeId, Source), now: u64) -> Result<u64, Paced> {
        let own = self.each.admit(client, now).ok_or(Paced)?;
        let here = self.source.admit(source, now).ok_or(Paced)?;
        let all = self.all.admit(EVERYONE, now).ok_or(Paced)?;
        Ok(own.min(here).min(all))
    }

    /// Charge `bytes` read for `client` from `source` (after [`Self::admit`]).
    pub fn charge(&mut self, (client, source): (NodeId, Source), bytes: u64) {
        self.each.charge(client, bytes);
        self.source.charge(source, bytes);
        self.all.charge(EVERYONE, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u16) -> NodeId {
        let mut id = [1u8; 32];
        id[..2].copy_from_slice(&n.to_be_bytes());
        NodeId(id)
    }

    /// Client key `n` from source address `a`.
    fn at(n: u16, a: u8) -> (NodeId, Source) {
        (key(n), Source::V4([10, 0, 0, a]))
    }

    /// Client key `n` from its own address.
    fn alone(n: u16) -> (NodeId, Source) {
        (key(n), Source::V4([10, 1, (n >> 8) as u8, n as u8]))
    }

    const SMALL_ALL: Pace = Pace {
        per_second: 10,
        bytes_per_second: 1_000,
    };
    const SMALL_EACH: Pace = Pace {
        per_second: 4,
        bytes_per_second: 400,
    };
    const SMALL_SOURCE: Pace = Pace {
        per_second: 5,
        bytes_per_second: 500,
    };

    /// One key is held to its own pace while another is still served (control: the
    /// second key's reads are admitted, so the refusal is the first key's pace).
    #[test]
    fn one_key_is_held_to_its_pace() {
        let mut r = ClientReads::new(SMALL_ALL, SMALL_SOURCE, SMALL_EACH);
        let served = (0..20).filter(|_| r.admit(alone(1), 0).is_ok()).count();
        assert_eq!(served, 4);
        assert_eq!(
            r.admit(alone(2), 0),
            Ok(400),
            "another key has its own share"
        );
        assert!(r.admit(alone(1), 1_000).is_ok(), "the next second");
    }

    /// Bytes: a key that read its bytes is refused before its count; what is left is
    /// the smaller of its own and everyone's.
    #[test]
    fn bytes_are_charged_to_the_key_and_to_everyone() {
        let mut r = ClientReads::new(SMALL_ALL, SMALL_SOURCE, SMALL_EACH);
        assert_eq!(r.admit(alone(1), 0), Ok(400));
        r.charge(alone(1), 400);
        assert_eq!(r.admit(alone(1), 0), Err(Paced));
        // Everyone's window has 600 left; a second key may read 400 of them.
        assert_eq!(r.admit(alone(2), 0), Ok(400));
        r.charge(alone(2), 400);
        assert_eq!(r.admit(alone(3), 0), Ok(200), "everyone's 200 left");
    }

    /// Many keys together are held to everyone's pace: fresh keys cost an attacker
    /// nothing, so the count per key alone would not bound the loop's work (control:
    /// the same keys under a pace for everyone as large as their sum are all served).
    #[test]
    fn many_keys_together_are_held_to_everyones_pace() {
        let mut r = ClientReads::new(SMALL_ALL, SMALL_SOURCE, SMALL_EACH);
        let served = (0..100u16)
            .filter(|n| r.admit(alone(*n), 0).is_ok())
            .count();
        assert_eq!(served, SMALL_ALL.per_second as usize);
        let wide = Pace {
            per_second: 100,
            bytes_per_second: u64::MAX,
        };
        let mut control = ClientReads::new(wide, wide, SMALL_EACH);
        assert_eq!(
            (0..100u16)
                .filter(|n| control.admit(alone(*n), 0).is_ok())
                .count(),
            100
        );
        assert!(Paced.to_string().starts_with("busy:"));
    }

    /// One address with many keys is held to its address's share, so clients from
    /// another address are still served (control: with an address's pace as wide as
    /// everyone's, the many keys of one address use up everyone's window and the other
    /// address is refused).
    #[test]
    fn many_keys_of_one_address_leave_room_for_another() {
        let mut r = ClientReads::new(SMALL_ALL, SMALL_SOURCE, SMALL_EACH);
        let served = (0..100u16)
            .filter(|n| r.admit(at(*n, 1), 0).is_ok())
            .count();
        assert_eq!(served, SMALL_SOURCE.per_second as usize);
        assert!(r.admit(at(500, 2), 0).is_ok(), "another address is served");
        let mut control = ClientReads::new(SMALL_ALL, SMALL_ALL, SMALL_EACH);
        let served = (0..100u16)
            .filter(|n| control.admit(at(*n, 1), 0).is_ok())
            .count();
        assert_eq!(served, SMALL_ALL.per_second as usize);
        assert_eq!(control.admit(at(500, 2), 0), Err(Paced));
    }
}
