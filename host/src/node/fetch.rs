//! Module blobs between nodes, in parts: what a node fetches and what it serves.
//!
//! # Design
//! A module may be larger than a peer frame (modules go up to the ceiling of
//! `timing.max-module-bytes`, 32 MiB; frames to 4 MiB), so blobs travel in parts of
//! [`PART_BYTES`]. Fetching is pulled by the node that lacks the bytes: it broadcasts a
//! request for the start, takes the first peer that answers as the source, and asks that
//! peer for each next part in turn. The assembled bytes are kept only if they hash to the
//! wanted digest (content-addressed: no peer can substitute a module).
//!
//! [`Fetches`] is a plain state machine over `now` in milliseconds; the driver sends what
//! it says and stores what it completes.
//!
//! # Against hostile peers
//! - Parts of a hash this node does not fetch are dropped (a peer cannot fill memory or
//!   the store with unsolicited bytes); so is a blob announced over the cluster's module
//!   size limit.
//! - At most [`MAX_FETCHES`] fetches at once, each at most the size limit: the memory a
//!   fetch can take is bounded.
//! - Every part but the last is exactly [`PART_BYTES`] (what an honest server sends,
//!   [`part_of`]): a source cannot keep a fetch alive with a trickle of tiny parts, each
//!   resetting the stall timer (one byte a second held a 32 MiB fetch for a year). A
//!   part at an offset already taken is ignored (an answer to a repeated request). A
//!   source that sends a malformed part or bytes that do not hash to the digest is not
//!   heard again by that fetch. A source that stalls for [`STALL_MS`] is shunned for that
//!   hash for [`SHUN_MS`], doubled at each further stall of it in the fetch, and the
//!   fetch starts over from the others (shunning expires, so an honest peer that was
//!   merely slow is asked again). So a turn of a hostile source lasts at most
//!   `total / PART_BYTES` parts of just under [`STALL_MS`] each (about 64 s for 32 MiB);
//!   bad bytes end its turns in that fetch, and sources that take turns at stalling are
//!   shunned ever longer, until an honest member is the source while they wait.
//! - A fetch that made no progress for [`GIVE_UP_MS`] is forgotten (if the bytes are still
//!   needed, the next need starts a new one): an unanswerable hash does not hold a slot.
//! - Serving is paced: at most [`SERVE_PARTS_PER_SECOND`] parts per peer per second, and
//!   at most [`SERVE_READS_PER_SECOND`] whole-blob reads: a request for a blob other than
//!   the one held for serving reads (and hashes) the whole blob from the store, and a
//!   peer alternating between two hashes, each part past its end, made the node copy
//!   and hash megabytes for nothing sent. An honest fetch reads its blob once and then
//!   takes parts of the held one. Both are [`Pacer`](super::pacing::Pacer)s, as for
//!   catch-up responses.

use std::collections::BTreeMap;

use spore_core::crypto::sha256;
use spore_core::types::{Digest, NodeId};

use super::pacing::{Pace, Pacer};

/// Bytes per part (a quarter of the default 4 MiB peer frame).
pub const PART_BYTES: usize = 1 << 20;

/// Most modules fetched at the same time.
pub const MAX_FETCHES: usize = 4;

/// A fetch whose source sent nothing for this long starts over from another peer.
pub const STALL_MS: u64 = 2_000;

/// How long a source that stalled or misbehaved is not asked for that hash again.
pub const SHUN_MS: u64 = 30_000;

/// A fetch with no progress for this long is forgotten.
pub const GIVE_UP_MS: u64 = 60_000;

/// Parts served to one peer per second, at most.
pub const SERVE_PARTS_PER_SECOND: u32 = 64;

/// Whole blobs read from the store to serve one peer per second, at most.
pub const SERVE_READS_PER_SECOND: u32 = 2;

/// One received part: `bytes` at `offset` of a blob of `total` bytes hashing to `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Content hash of the whole blob.
    pub hash: Digest,
    /// Size of the whole blob.
    pub total: u64,
    /// Where `bytes` start.
    pub offset: u64,
    /// The part's bytes.
    pub bytes: Vec<u8>,
}

/// What to do with a received part.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Dropped, and counted as a peer's misbehaviour or waste (the reason is logged).
    Dropped(&'static str),
    /// Not wanted from this peer now, but not hostile either (e.g. a second answer to a
    /// broadcast request, or a part of a module this node already has).
    Ignored,
    /// Ask `to` for the part at `offset`.
    Ask {
        /// The source.
        to: NodeId,
        /// The next offset.
        offset: u64,
    },
    /// The whole blob arrived and hashes to the wanted digest.
    Complete(Vec<u8>),
    /// The assembled bytes do not hash to the digest: the source is shunned and the fetch
    /// starts over (broadcast a request from offset 0).
    Restart,
}

#[derive(Debug, Default)]
struct Fetch {
    source: Option<NodeId>,
    total: u64,
    buf: Vec<u8>,
    /// When this fetch last received a part (or started).
    progress_at: u64,
    /// When the start was last asked for; `None`: ask at the next chance.
    asked_at: Option<u64>,
    /// Peers not heard for this hash, until when.
    shunned: BTreeMap<NodeId, u64>,
    /// How often each peer stalled as this fetch's source (its shunning doubles each time).
    stalls: BTreeMap<NodeId, u32>,
}

impl Fetch {
    /// Start over without the current source (shunned for this hash until `until`); the
    /// start is to be asked for again at once.
    fn restart(&mut self, now: u64, until: u64) {
        if let Some(source) = self.source.take() {
            self.shun(source, now, until);
        }
        self.buf = Vec::new();
        self.total = 0;
        self.asked_at = None;
    }

    /// The current source stalled: start over, shunning it for [`SHUN_MS`] doubled for
    /// each earlier stall of it in this fetch (at most 64 times), so that sources taking
    /// turns at stalling lose their turns ever longer and an honest member's comes.
    fn restart_stalled(&mut self, now: u64) {
        let shun = match self.source {
            Some(source) => {
                let stalls = self.stalls.entry(source).or_insert(0);
                *stalls = stalls.saturating_add(1);
                SHUN_MS.saturating_mul(1 << (*stalls - 1).min(6))
            }
            None => SHUN_MS,
        };
        self.restart(now, now.saturating_add(shun));
    }

    fn shun(&mut self, peer: NodeId, now: u64, until: u64) {
        self.shunned.retain(|_, until| *until > now);
        self.shunned.insert(peer, until);
    }

    fn shuns(&self, peer: &NodeId, now: u64) -> bool {
        self.shunned.get(peer).is_some_and(|until| now < *until)
    }
}

/// The module fetches of one node and the pacing of what it serves.
#[derive(Debug)]
pub struct Fetches {
    fetches: BTreeMap<Digest, Fetch>,
    served: Pacer,
    reads: Pacer,
}

impl Default for Fetches {
    fn default() -> Self {
        Self {
            fetches: BTreeMap::new(),
            // Parts are at most `PART_BYTES`: the count bounds the bytes sent.
            served: Pacer::new(Pace {
                per_second: SERVE_PARTS_PER_SECOND,
                bytes_per_second: u64::MAX,
            }),
            reads: Pacer::new(Pace {
                per_second: SERVE_READS_PER_SECOND,
                bytes_per_second: u64::MAX,
            }),
        }
    }
}

impl Fetches {
    /// Whether `hash` is being fetched.
    pub fn wants(&self, hash: &Digest) -> bool {
        self.fetches.contains_key(hash)
    }

    /// Hashes being fetched.
    pub fn wanted(&self) -> impl Iterator<Item = &Digest> {
        self.fetches.keys()
    }

    /// This node needs `hash`: returns whether to broadcast a request for its start (a
    /// new fetch, one that restarted, or one whose source stalled). `false` while a fetch
    /// progresses, or when [`MAX_FETCHES`] are already under way.
    pub fn want(&mut self, hash: Digest, now: u64) -> bool {
        self.fetches
            .retain(|_, f| now.saturating_sub(f.progress_at) < GIVE_UP_MS);
        let full = self.fetches.len() >= MAX_FETCHES;
        match self.fetches.get_mut(&hash) {
            Some(fetch) => {
                let idle_since = fetch.progress_at.max(fetch.asked_at.unwrap_or(0));
                if fetch.asked_at.is_some() && now.saturating_sub(idle_since) < STALL_MS {
                    return false;
                }
                if fetch.asked_at.is_some() {
                    // Stalled: another source; this one may be merely slow.
                    fetch.restart_stalled(now);
                }
                fetch.asked_at = Some(now);
                true
            }
            None if full => false,
            None => {
                self.fetches.insert(
                    hash,
                    Fetch {
                        progress_at: now,
                        asked_at: Some(now),
                        ..Fetch::default()
                    },
                );
                true
            }
        }
    }

    /// Forget `hash` (e.g. its bytes arrived by another way).
    pub fn forget(&mut self, hash: &Digest) {
        self.fetches.remove(hash);
    }

    /// A part from `from`; `limit` is the cluster's module size limit.
    pub fn on_part(&mut self, from: NodeId, part: Part, limit: u64, now: u64) -> Step {
        let Part {
            hash,
            total,
            offset,
            bytes,
        } = part;
        let Some(fetch) = self.fetches.get_mut(&hash) else {
            return Step::Dropped("a part of a module this node does not fetch");
        };
        if total == 0 || total > limit {
            fetch.shun(from, now, now.saturating_add(SHUN_MS));
            return Step::Dropped("a module announced over the size limit");
        }
        if fetch.shuns(&from, now) {
            return Step::Ignored;
        }
        match fetch.source {
            None if offset == 0 => {
                fetch.source = Some(from);
                fetch.total = total;
            }
            None => return Step::Ignored,
            Some(source) if source != from => return Step::Ignored,
            Some(_) => {}
        }
        if total == fetch.total
            && usize::try_from(offset).is_ok_and(|offset| offset < fetch.buf.len())
        {
            // A part already taken: the source answering a repeated request (the start is
            // asked for again after a stall), not a fault.
            return Step::Ignored;
        }
        let fits = usize::try_from(total)
            .ok()
            .zip(usize::try_from(offset).ok())
            .is_some_and(|(total, offset)| {
                // A whole part, or the rest of the blob.
                offset == fetch.buf.len()
                    && offset < total
                    && bytes.len() == PART_BYTES.min(total - offset)
            });
        if total != fetch.total || !fits {
            fetch.restart(now, u64::MAX);
            return Step::Dropped("a malformed part (wrong offset, length or total)");
        }
        fetch.buf.extend_from_slice(&bytes);
        fetch.progress_at = now;
        if (fetch.buf.len() as u64) < total {
            return Step::Ask {
                to: from,
                offset: fetch.buf.len() as u64,
            };
        }
        if sha256(&fetch.buf) != hash {
            fetch.restart(now, u64::MAX);
            return Step::Restart;
        }
        let done = std::mem::take(&mut fetch.buf);
        self.fetches.remove(&hash);
        Step::Complete(done)
    }

    /// Whether to serve one more part to `peer` now (at most [`SERVE_PARTS_PER_SECOND`]).
    pub fn may_serve(&mut self, peer: NodeId, now: u64) -> bool {
        self.served.admit(peer, now).is_some()
    }

    /// Whether to read a whole blob from the store to serve `peer` now (at most
    /// [`SERVE_READS_PER_SECOND`]).
    pub fn may_read(&mut self, peer: NodeId, now: u64) -> bool {
        self.reads.admit(peer, now).is_some()
    }
}

/// The part of `blob` starting at `offset` (empty past the end).
pub fn part_of(blob: &[u8], offset: u64) -> &[u8] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(blob.len());
    let end = start.saturating_add(PART_BYTES).min(blob.len());
    &blob[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    /// Feed `blob` from `from` through `fetches` as a serving peer would.
    fn transfer(fetches: &mut Fetches, from: NodeId, blob: &[u8], hash: Digest) -> Step {
        let mut offset = 0u64;
        loop {
            let part = part_of(blob, offset).to_vec();
            match fetches.on_part(
                from,
                Part {
                    hash,
                    total: blob.len() as u64,
                    offset,
                    bytes: part,
                },
                1 << 30,
                0,
            ) {
                Step::Ask { offset: next, .. } => offset = next,
                other => return other,
            }
        }
    }

    #[test]
    fn a_blob_larger_than_a_frame_arrives_in_parts_and_is_hash_checked() {
        let blob: Vec<u8> = (0..(5 * PART_BYTES + 7)).map(|i| (i % 251) as u8).collect();
        let hash = sha256(&blob);
        let mut f = Fetches::default();
        assert!(f.want(hash, 0));
        assert!(!f.want(hash, 1), "one request while it progresses");
        assert_eq!(transfer(&mut f, node(1), &blob, hash), Step::Complete(blob));
        assert!(!f.wants(&hash));
    }

    #[test]
    fn substituted_bytes_shun_the_source_and_restart() {
        let blob = vec![7u8; 3 * PART_BYTES];
        let hash = sha256(&blob);
        let mut f = Fetches::default();
        f.want(hash, 0);
        let forged = vec![8u8; 3 * PART_BYTES];
        assert_eq!(transfer(&mut f, node(1), &forged, hash), Step::Restart);
        // The forger is not heard again for this hash; an honest peer completes it.
        let part = part_of(&blob, 0).to_vec();
        assert_eq!(
            f.on_part(
                node(1),
                Part {
                    hash,
                    total: blob.len() as u64,
                    offset: 0,
                    bytes: part
                },
                1 << 30,
                0
            ),
            Step::Ignored
        );
        assert_eq!(transfer(&mut f, node(2), &blob, hash), Step::Complete(blob));
    }

    #[test]
    fn unsolicited_oversized_and_malformed_parts_are_dropped() {
        let blob = vec![1u8; 10];
        let hash = sha256(&blob);
        let mut f = Fetches::default();
        assert!(matches!(
            f.on_part(
                node(1),
                Part {
                    hash,
                    total: 10,
                    offset: 0,
                    bytes: blob.clone()
                },
                100,
                0
            ),
            Step::Dropped(_)
        ));
        f.want(hash, 0);
        assert!(matches!(
            f.on_part(
                node(1),
                Part {
                    hash,
                    total: 101,
                    offset: 0,
                    bytes: blob.clone()
                },
                100,
                0
            ),
            Step::Dropped(_)
        ));
        // A short part that is not the blob's end: dropped, and the source is shunned.
        assert!(matches!(
            f.on_part(
                node(2),
                Part {
                    hash,
                    total: 10,
                    offset: 0,
                    bytes: vec![1; 4]
                },
                100,
                0
            ),
            Step::Dropped(_)
        ));
        assert_eq!(
            f.on_part(
                node(2),
                Part {
                    hash,
                    total: 10,
                    offset: 0,
                    bytes: blob.clone()
                },
                100,
                0
            ),
            Step::Ignored
        );
        assert_eq!(
            f.on_part(
                node(3),
                Part {
                    hash,
                    total: 10,
                    offset: 0,
                    bytes: blob.clone()
                },
                100,
                0
            ),
            Step::Complete(blob)
        );
    }

    #[test]
    fn a_stalled_source_is_replaced_and_fetches_are_bounded() {
        const BIG: u64 = PART_BYTES as u64 + 10;
        let hash = Digest([9; 32]);
        let mut f = Fetches::default();
        assert!(f.want(hash, 0));
        f.on_part(
            node(1),
            Part {
                hash,
                total: BIG,
                offset: 0,
                bytes: vec![0; PART_BYTES],
            },
            1 << 30,
            0,
        );
        assert!(!f.want(hash, STALL_MS - 1));
        assert!(f.want(hash, STALL_MS), "stalled: ask again");
        assert_eq!(
            f.on_part(
                node(1),
                Part {
                    hash,
                    total: BIG,
                    offset: 0,
                    bytes: vec![0; PART_BYTES],
                },
                1 << 30,
                STALL_MS
            ),
            Step::Ignored,
            "the stalled source is shunned"
        );
        for n in 1..MAX_FETCHES as u8 {
            assert!(f.want(Digest([n; 32]), STALL_MS));
        }
        assert!(
            !f.want(Digest([200; 32]), STALL_MS),
            "at most MAX_FETCHES at once"
        );
        // The shunned source is heard again once its time is up.
        let back = STALL_MS + SHUN_MS;
        assert!(f.want(hash, back));
        assert!(matches!(
            f.on_part(
                node(1),
                Part {
                    hash,
                    total: BIG,
                    offset: 0,
                    bytes: vec![0; PART_BYTES],
                },
                1 << 30,
                back
            ),
            Step::Ask { .. }
        ));
        // A fetch nobody answers is forgotten, freeing its slot.
        assert!(
            f.want(Digest([200; 32]), back + GIVE_UP_MS),
            "a slot was freed"
        );
        assert!(!f.wants(&Digest([1; 32])));
    }

    /// A part at the wrong offset from the chosen source: dropped, the source shunned.
    #[test]
    fn a_part_at_the_wrong_offset_is_dropped() {
        let blob = vec![5u8; 2 * PART_BYTES + 10];
        let hash = sha256(&blob);
        let mut f = Fetches::default();
        f.want(hash, 0);
        let part = |offset: u64| Part {
            hash,
            total: blob.len() as u64,
            offset,
            bytes: part_of(&blob, offset).to_vec(),
        };
        let first = f.on_part(node(2), part(0), 1 << 30, 0);
        assert_eq!(
            first,
            Step::Ask {
                to: node(2),
                offset: PART_BYTES as u64
            }
        );
        let skipped = f.on_part(node(2), part(2 * PART_BYTES as u64), 1 << 30, 0);
        assert!(matches!(skipped, Step::Dropped(_)));
        assert_eq!(f.on_part(node(2), part(0), 1 << 30, 0), Step::Ignored);
        assert_eq!(transfer(&mut f, node(3), &blob, hash), Step::Complete(blob));
    }

    /// A source that trickles the blob a byte a second, each byte at the right offset,
    /// cannot hold the fetch: the first short part drops it for the rest of the fetch,
    /// even after the shunning of a stall would have expired, and the start is asked
    /// for again at once. (Before parts had to be whole, every byte counted as progress
    /// and `want` never asked another peer.)
    #[test]
    fn a_trickling_source_cannot_hold_a_fetch() {
        let total = 2 * PART_BYTES as u64;
        let hash = Digest([4; 32]);
        let mut f = Fetches::default();
        assert!(f.want(hash, 0));
        let mut asked_again = false;
        // Within the fetch's life (forgotten after GIVE_UP_MS without progress), and past
        // the time a stall's shunning ends.
        let seconds = SHUN_MS / 1_000 + 5;
        assert!(seconds * 1_000 < GIVE_UP_MS);
        for second in 0..seconds {
            let step = f.on_part(
                node(1),
                Part {
                    hash,
                    total,
                    offset: second,
                    bytes: vec![0],
                },
                1 << 30,
                second * 1_000,
            );
            assert!(
                !matches!(step, Step::Ask { .. }),
                "a one-byte part taken at {second} s"
            );
            asked_again |= f.want(hash, second * 1_000 + 500);
        }
        assert!(asked_again, "the fetch never asked another peer");
        let late = seconds * 1_000;
        let whole = Part {
            hash,
            total,
            offset: 0,
            bytes: vec![0; PART_BYTES],
        };
        assert_eq!(
            f.on_part(node(1), whole.clone(), 1 << 30, late),
            Step::Ignored,
            "the trickler is not heard again by this fetch"
        );
        assert!(matches!(
            f.on_part(node(2), whole, 1 << 30, late),
            Step::Ask { .. }
        ));
    }

    /// The source answering a repeated request for the start (asked again after a
    /// stall, answered twice) is not a fault: the part already taken is ignored and the
    /// fetch goes on from that source. Control: before, the second start failed the
    /// offset check and the honest source was shunned.
    #[test]
    fn a_part_already_taken_is_ignored() {
        let blob = vec![6u8; PART_BYTES + 10];
        let hash = sha256(&blob);
        let mut f = Fetches::default();
        f.want(hash, 0);
        let part = |offset: u64| Part {
            hash,
            total: blob.len() as u64,
            offset,
            bytes: part_of(&blob, offset).to_vec(),
        };
        assert!(matches!(
            f.on_part(node(1), part(0), 1 << 30, 0),
            Step::Ask { .. }
        ));
        assert_eq!(f.on_part(node(1), part(0), 1 << 30, 1), Step::Ignored);
        assert_eq!(
            f.on_part(node(1), part(PART_BYTES as u64), 1 << 30, 2),
            Step::Complete(blob.clone())
        );
    }

    /// A source that stalls again in the same fetch is shunned twice as long: two members
    /// taking turns at stalling cannot keep the start for themselves. Control: the first
    /// stall's shunning ends after `SHUN_MS`, the second's only after twice that.
    #[test]
    fn a_source_that_stalls_again_is_shunned_longer() {
        let hash = Digest([8; 32]);
        let mut f = Fetches::default();
        let start = |f: &mut Fetches, now: u64| {
            f.on_part(
                node(1),
                Part {
                    hash,
                    total: 2 * PART_BYTES as u64,
                    offset: 0,
                    bytes: vec![0; PART_BYTES],
                },
                1 << 30,
                now,
            )
        };
        assert!(f.want(hash, 0));
        assert!(matches!(start(&mut f, 0), Step::Ask { .. }));
        assert!(f.want(hash, STALL_MS), "first stall");
        let back = STALL_MS + SHUN_MS;
        assert_eq!(start(&mut f, back - 1), Step::Ignored);
        assert!(
            matches!(start(&mut f, back), Step::Ask { .. }),
            "heard again"
        );
        assert!(f.want(hash, back + STALL_MS), "second stall");
        let second = back + STALL_MS;
        assert_eq!(
            start(&mut f, second + SHUN_MS),
            Step::Ignored,
            "still shunned"
        );
        assert!(matches!(
            start(&mut f, second + 2 * SHUN_MS),
            Step::Ask { .. }
        ));
    }

    #[test]
    fn after_substituted_bytes_the_start_is_asked_for_at_once() {
        let blob = vec![3u8; 10];
        let hash = sha256(&blob);
        let mut f = Fetches::default();
        assert!(f.want(hash, 0));
        let forged = Part {
            hash,
            total: 10,
            offset: 0,
            bytes: vec![4u8; 10],
        };
        assert_eq!(f.on_part(node(1), forged, 100, 5), Step::Restart);
        assert!(f.want(hash, 6), "asked again without waiting for a stall");
    }

    #[test]
    fn serving_is_paced_per_peer() {
        let mut f = Fetches::default();
        let served = (0..100).filter(|_| f.may_serve(node(1), 10)).count();
        assert_eq!(served, SERVE_PARTS_PER_SECOND as usize);
        assert!(f.may_serve(node(2), 10), "another peer has its own share");
        assert!(f.may_serve(node(1), 1_010), "the next second");
    }

    /// Whole-blob reads to serve a peer are paced on their own: a peer making the node
    /// read a blob per request (alternating hashes, parts past the end) gets
    /// `SERVE_READS_PER_SECOND` reads a second, while its part count would allow 64. The
    /// control is the part pacing alone: all 64 admitted.
    #[test]
    fn whole_blob_reads_are_paced_per_peer() {
        let mut f = Fetches::default();
        let reads = (0..SERVE_PARTS_PER_SECOND)
            .filter(|_| f.may_serve(node(1), 10) && f.may_read(node(1), 10))
            .count();
        assert_eq!(reads, SERVE_READS_PER_SECOND as usize);
        let mut parts_only = Fetches::default();
        let parts = (0..SERVE_PARTS_PER_SECOND)
            .filter(|_| parts_only.may_serve(node(1), 10))
            .count();
        assert_eq!(parts, SERVE_PARTS_PER_SECOND as usize);
        assert!(f.may_read(node(1), 1_010), "the next second");
    }
}
