//! Every message of the Sealed PBFT protocol, each signed at the application layer under
//! its own domain tag (see docs/PROTOCOL.md, "Messages").
//!
//! # Design
//! Votes are [`Signed`] payloads: the signature covers the canonical (postcard) encoding
//! of the payload under a domain unique to the payload type, so a vote can be forwarded
//! (certificates, evidence) and checked by anyone who knows the membership, and a
//! signature made for one phase can never be replayed as another.
//!
//! | payload | phase | sender |
//! |---|---|---|
//! | [`Proposal`] | gather 1 | primary |
//! | [`Commit`] | gather 2 (sealed) | every eligible member (Full BFT) |
//! | [`CommitSet`] | gather 2b (closes the commits) | primary (Full BFT) |
//! | [`Reveal`] | gather 3 | committed members / the deciding layer |
//! | [`Tally`] | pre-prepare | primary |
//! | [`Accept`] | prepare | every eligible member |
//! | [`Confirm`] | commit | every eligible member |
//! | [`ViewChange`] | view change | any member |
//! | [`NewView`] | view change | the new primary |
//!
//! # Signing bytes
//! A signature covers a payload's *signing bytes* ([`Signable::signing_bytes`]), which
//! always begin with its `(slot, view)`. For the messages whose size grows with the
//! batch or its results, they are small and name the rest by digest:
//! - a [`Proposal`]: `(slot, view, batch digest)`; the batch digest covers the parent,
//!   the batch, the evidence and the absences;
//! - a [`Reveal`]: its [`RevealSeal`], every outcome as its digest;
//! - a [`Tally`]: `(slot, view, value digest V)`; `V` covers the whole tally;
//! - a [`NewView`]: `(slot, view, digest of its view changes)`;
//! - a [`ViewChange`]: its prepared certificate without the tally (the tally
//!   authenticates itself by its digest).
//!
//! A receiver computes the digests from the payload it holds, so a signature still
//! authenticates every byte of it (SHA-256's collision resistance). What changes is the
//! size of a misbehaviour proof, which carries signing bytes (`evidence.rs`): two
//! conflicting tallies of 3 MiB each are a proof of a few hundred bytes, which fits any
//! proposal. Before, such a proof was larger than a frame, and an honest primary carrying
//! it could never send its proposal: one equivocating member stalled the cluster.

use serde::{Deserialize, Serialize};

use super::absence::{AbsenceProof, Attest};
use super::entry::{DecidedEntry, Decision};
use super::evidence::Misbehaviour;
use super::fork::ForkProof;
use crate::crypto::{Canonical, Signable, Signed, sha256_parts};
use crate::ops::{Outcome, SignedOperation};
use crate::types::{Digest, NodeId, Slot, View};

/// Gather phase 1: the primary's batch for a slot, with the misbehaviour proofs it
/// carries into the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Slot being decided.
    pub slot: Slot,
    /// View of the proposing primary.
    pub view: View,
    /// Signed operations, all of one mechanism, at most `max_batch`.
    pub batch: Vec<SignedOperation>,
    /// The value digest `V` of the previous slot's decided entry, as the primary holds it
    /// (all zero for the first slot or when unknown): a member holding another one has
    /// met a fork (`fork.rs`).
    pub parent: Digest,
    /// Verified misbehaviour proofs to be recorded (and slashed) with this slot.
    pub evidence: Vec<Misbehaviour>,
    /// Quorum-attested absences of earlier slots to be recorded (and penalised).
    pub absences: Vec<AbsenceProof>,
}

impl Signable for Proposal {
    const DOMAIN: &'static [u8] = b"spore/consensus/proposal/v2";

    /// Slot, view and the batch digest, which covers everything else (module doc,
    /// "Signing bytes").
    fn signing_bytes(&self) -> Vec<u8> {
        crate::crypto::canonical_bytes(&(self.slot, self.view, self.batch_digest()))
    }
}

impl Proposal {
    /// The batch digest `d`: SHA-256 over the slot, the batch and the evidence.
    pub fn batch_digest(&self) -> Digest {
        let body = crate::crypto::canonical_bytes(&(
            &self.parent,
            &self.batch,
            &self.evidence,
            &self.absences,
        ));
        sha256_parts(&[b"spore/consensus/batch/v1", &self.slot.to_le_bytes(), &body])
    }
}

/// Gather phase 2: a sealed commitment to this member's results for the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Slot.
    pub slot: Slot,
    /// View.
    pub view: View,
    /// Batch digest `d`.
    pub batch: Digest,
    /// `H(domain || slot || d || outcome digests || salt || node id)` (see `commitment.rs`).
    pub commitment: Digest,
}

impl Signable for Commit {
    const DOMAIN: &'static [u8] = b"spore/consensus/commit/v1";
}

/// Gather phase 2b (Full BFT): the primary closes the commit phase. The set holds a
/// quorum of commits to one batch; only its members reveal, and only their reveals
/// count, so no result can be formed after another was visible (docs/PROTOCOL.md,
/// "Sealing").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSet {
    /// Slot.
    pub slot: Slot,
    /// View.
    pub view: View,
    /// Batch digest `d`.
    pub batch: Digest,
    /// The commits, one per signer, ascending by signer.
    pub commits: Vec<Signed<Commit>>,
}

impl Signable for CommitSet {
    const DOMAIN: &'static [u8] = b"spore/consensus/commit-set/v1";
}

impl CommitSet {
    /// Whether it holds exactly `commits` (same signers, same signed commits).
    pub fn holds_exactly(&self, commits: &[Signed<Commit>]) -> bool {
        let mut a: Vec<&Signed<Commit>> = self.commits.iter().collect();
        let mut b: Vec<&Signed<Commit>> = commits.iter().collect();
        a.sort_by_key(|c| c.signer);
        b.sort_by_key(|c| c.signer);
        a == b
    }
}

/// Gather phase 3: the member's results and the salt that opens its commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reveal {
    /// Slot.
    pub slot: Slot,
    /// View.
    pub view: View,
    /// Batch digest `d`.
    pub batch: Digest,
    /// One outcome per operation of the batch, in batch order.
    pub outcomes: Vec<Outcome>,
    /// The salt of the commitment (all zero on the authority path, which has no commit).
    pub salt: Digest,
}

impl Signable for Reveal {
    const DOMAIN: &'static [u8] = b"spore/consensus/reveal/v2";

    /// The seal: the outcomes as their digests (module doc, "Signing bytes").
    fn signing_bytes(&self) -> Vec<u8> {
        crate::crypto::canonical_bytes(&self.seal())
    }
}

impl Reveal {
    /// What the reveal's signature covers: every field, each outcome as its digest (the
    /// digests the commitment binds).
    pub fn seal(&self) -> RevealSeal {
        RevealSeal {
            slot: self.slot,
            view: self.view,
            batch: self.batch,
            outcomes: self.outcomes.iter().map(Canonical::digest).collect(),
            salt: self.salt,
        }
    }
}

/// A [`Reveal`] with its outcomes as digests: what a reveal's signature covers, so a
/// `Signed<RevealSeal>` made from a signed reveal verifies with the reveal's signature.
/// A misbehaviour proof carries it instead of the reveal: its size is bounded by the
/// batch's operation count, not by the outcomes' bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealSeal {
    /// Slot.
    pub slot: Slot,
    /// View.
    pub view: View,
    /// Batch digest `d`.
    pub batch: Digest,
    /// The digest of each outcome, in batch order.
    pub outcomes: Vec<Digest>,
    /// The salt of the commitment.
    pub salt: Digest,
}

impl Signable for RevealSeal {
    const DOMAIN: &'static [u8] = Reveal::DOMAIN;
}

impl Signed<Reveal> {
    /// The seal of the reveal under the same signature.
    pub fn sealed(&self) -> Signed<RevealSeal> {
        Signed {
            payload: self.payload.seal(),
            signer: self.signer,
            signature: self.signature,
        }
    }
}

/// Pre-prepare: the primary's tally of the gathered results and the decision of every
/// operation. Its digest is the value `V` the agreement phases vote on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The proposal the tally is about (signed by the same primary).
    pub proposal: Signed<Proposal>,
    /// The sealed commits the primary holds (Full BFT; empty on the authority path).
    pub commits: Vec<Signed<Commit>>,
    /// The reveals the decisions are computed from.
    pub reveals: Vec<Signed<Reveal>>,
    /// One decision per operation of the batch.
    pub decisions: Vec<Decision>,
}

impl Signable for Tally {
    const DOMAIN: &'static [u8] = b"spore/consensus/tally/v2";

    /// Slot, view and the value digest, which covers everything else (module doc,
    /// "Signing bytes").
    fn signing_bytes(&self) -> Vec<u8> {
        crate::crypto::canonical_bytes(&(self.slot(), self.view(), self.value()))
    }
}

impl Canonical for Tally {}

impl Tally {
    /// Slot of the tally.
    pub fn slot(&self) -> Slot {
        self.proposal.payload.slot
    }

    /// View in which the tally was made.
    pub fn view(&self) -> View {
        self.proposal.payload.view
    }

    /// The value digest `V` voted on by [`Accept`] and [`Confirm`].
    pub fn value(&self) -> Digest {
        sha256_parts(&[b"spore/consensus/value/v1", &self.canonical_bytes()])
    }
}

/// Prepare: "I accept value `V` for this slot in this view" (at most one per slot and view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accept {
    /// Slot.
    pub slot: Slot,
    /// View in which the vote is cast.
    pub view: View,
    /// Value digest `V` ([`Tally::value`]).
    pub value: Digest,
}

impl Signable for Accept {
    const DOMAIN: &'static [u8] = b"spore/consensus/accept/v1";
}

/// Commit (PBFT's): "I am prepared on `V`" (at most one per slot and view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirm {
    /// Slot.
    pub slot: Slot,
    /// View in which the vote is cast.
    pub view: View,
    /// Value digest `V`.
    pub value: Digest,
}

impl Signable for Confirm {
    const DOMAIN: &'static [u8] = b"spore/consensus/confirm/v1";
}

/// A prepared certificate: a tally and a quorum of [`Accept`] for its value in one view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedCert {
    /// View of the accepts (the tally may come from an earlier view, re-proposed).
    pub view: View,
    /// The value.
    pub tally: Signed<Tally>,
    /// A quorum of accepts for `(slot, view, tally.value())`.
    pub accepts: Vec<Signed<Accept>>,
}

impl PreparedCert {
    /// The certificate as a view change carries it (with its tally).
    pub fn claim(&self) -> PreparedClaim {
        PreparedClaim {
            view: self.view,
            value: self.tally.payload.value(),
            accepts: self.accepts.clone(),
            tally: Some(self.tally.clone()),
        }
    }
}

/// A prepared certificate as a view change carries it: the value, a quorum of accepts for
/// it, and the tally whose value it is. The view change's signature covers the value and
/// the accepts but not the tally, which authenticates itself (its digest is the value, and
/// its primary signed it); so a new-view carries the tally of the one certificate it
/// re-proposes and drops the others', and stays within a frame (docs/PROTOCOL.md, "View
/// change").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedClaim {
    /// View of the accepts.
    pub view: View,
    /// The value the accepts are for.
    pub value: Digest,
    /// A quorum of accepts for `(slot, view, value)`.
    pub accepts: Vec<Signed<Accept>>,
    /// The tally with that value (left out of all but one view change of a new-view).
    pub tally: Option<Signed<Tally>>,
}

impl PreparedClaim {
    /// The full certificate, if the tally is carried.
    pub fn cert(&self) -> Option<PreparedCert> {
        self.tally.as_ref().map(|tally| PreparedCert {
            view: self.view,
            tally: tally.clone(),
            accepts: self.accepts.clone(),
        })
    }
}

/// "I leave my view for `new_view`", with the highest prepared certificate I hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewChange {
    /// The slot the sender has not decided yet.
    pub slot: Slot,
    /// The view the sender moves to.
    pub new_view: View,
    /// The sender's highest prepared certificate for the slot.
    pub prepared: Option<PreparedClaim>,
}

impl Signable for ViewChange {
    const DOMAIN: &'static [u8] = b"spore/consensus/view-change/v2";

    /// Slot, view, and the prepared certificate without its tally.
    fn signing_bytes(&self) -> Vec<u8> {
        let prepared = self
            .prepared
            .as_ref()
            .map(|p| (p.view, p.value, &p.accepts));
        crate::crypto::canonical_bytes(&(self.slot, self.new_view, prepared))
    }
}

/// The new primary's proof that a quorum moved to its view, fixing what it may propose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewView {
    /// Slot.
    pub slot: Slot,
    /// The new view.
    pub view: View,
    /// A quorum of view changes for `(slot, view)`.
    pub view_changes: Vec<Signed<ViewChange>>,
}

impl Signable for NewView {
    const DOMAIN: &'static [u8] = b"spore/consensus/new-view/v2";

    /// Slot, view and the digest of the view changes, tallies included (module doc,
    /// "Signing bytes").
    fn signing_bytes(&self) -> Vec<u8> {
        let changes = sha256_parts(&[
            b"spore/consensus/new-view-changes/v1",
            &crate::crypto::canonical_bytes(&self.view_changes),
        ]);
        crate::crypto::canonical_bytes(&(self.slot, self.view, changes))
    }
}

impl NewView {
    /// The certificate of the locking rule: the highest-view prepared certificate among
    /// the view changes (ties broken by the smaller value digest, so every node picks the
    /// same one; by the safety argument two certificates of one view carry one value), and
    /// among equal ones one that carries its tally.
    pub fn highest_prepared(&self) -> Option<&PreparedClaim> {
        self.view_changes
            .iter()
            .filter_map(|vc| vc.payload.prepared.as_ref())
            .max_by(|a, b| {
                a.view
                    .cmp(&b.view)
                    .then_with(|| b.value.cmp(&a.value))
                    .then_with(|| a.tally.is_some().cmp(&b.tally.is_some()))
            })
    }
}

/// Every message a node sends or receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Gather 1.
    Proposal(Signed<Proposal>),
    /// Gather 2.
    Commit(Signed<Commit>),
    /// Gather 2b: the primary's closed commit set.
    CommitSet(Box<Signed<CommitSet>>),
    /// Gather 3.
    Reveal(Signed<Reveal>),
    /// Pre-prepare.
    Tally(Box<Signed<Tally>>),
    /// Prepare.
    Accept(Signed<Accept>),
    /// Commit.
    Confirm(Signed<Confirm>),
    /// View change.
    ViewChange(Box<Signed<ViewChange>>),
    /// New view.
    NewView(Box<Signed<NewView>>),
    /// A misbehaviour proof, gossiped so the next primary records it.
    Evidence(Box<Misbehaviour>),
    /// An attestation of who was absent from a decided slot.
    Attest(Box<Signed<Attest>>),
    /// Two certified entries for one slot: a fork (carries its own proofs).
    Fork(Box<ForkProof>),
    /// Clients' signed operations, forwarded so every member's mempool holds them, in
    /// bundles (`gossip.rs`) of at most `gossip::MAX_BUNDLE_OPS`.
    Submit(Vec<SignedOperation>),
    /// "Send me the decided entries from this slot on."
    CatchUpRequest {
        /// First slot wanted.
        from: Slot,
    },
    /// Decided entries, each with its certificate, in slot order.
    CatchUpResponse {
        /// The entries.
        entries: Vec<DecidedEntry>,
    },
}

impl Message {
    /// The signer of a signed vote (`None` for evidence and catch-up).
    pub fn signer(&self) -> Option<NodeId> {
        Some(match self {
            Message::Proposal(m) => m.signer,
            Message::Commit(m) => m.signer,
            Message::CommitSet(m) => m.signer,
            Message::Reveal(m) => m.signer,
            Message::Tally(m) => m.signer,
            Message::Accept(m) => m.signer,
            Message::Confirm(m) => m.signer,
            Message::ViewChange(m) => m.signer,
            Message::NewView(m) => m.signer,
            Message::Attest(m) => m.signer,
            Message::Evidence(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => return None,
        })
    }

    /// The message's own signature as a [`crate::crypto::Claim`] (`None` for messages
    /// that carry no signature of their own: evidence, forks, submissions, catch-up).
    pub fn own_claim(&self) -> Option<crate::crypto::Claim> {
        Some(match self {
            Message::Proposal(m) => m.claim(),
            Message::Commit(m) => m.claim(),
            Message::CommitSet(m) => m.claim(),
            Message::Reveal(m) => m.claim(),
            Message::Tally(m) => m.claim(),
            Message::Accept(m) => m.claim(),
            Message::Confirm(m) => m.claim(),
            Message::ViewChange(m) => m.claim(),
            Message::NewView(m) => m.claim(),
            Message::Attest(m) => m.claim(),
            Message::Evidence(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => return None,
        })
    }

    /// The slot a message is about (`None` for evidence and catch-up).
    pub fn slot(&self) -> Option<Slot> {
        Some(match self {
            Message::Proposal(m) => m.payload.slot,
            Message::Commit(m) => m.payload.slot,
            Message::CommitSet(m) => m.payload.slot,
            Message::Reveal(m) => m.payload.slot,
            Message::Tally(m) => m.payload.slot(),
            Message::Accept(m) => m.payload.slot,
            Message::Confirm(m) => m.payload.slot,
            Message::ViewChange(m) => m.payload.slot,
            Message::NewView(m) => m.payload.slot,
            Message::Attest(m) => m.payload.slot,
            Message::Evidence(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => return None,
        })
    }

    /// The view a vote is cast in (`new_view` for a view change).
    pub fn view(&self) -> Option<View> {
        Some(match self {
            Message::Proposal(m) => m.payload.view,
            Message::Commit(m) => m.payload.view,
            Message::CommitSet(m) => m.payload.view,
            Message::Reveal(m) => m.payload.view,
            Message::Tally(m) => m.payload.view(),
            Message::Accept(m) => m.payload.view,
            Message::Confirm(m) => m.payload.view,
            Message::ViewChange(m) => m.payload.new_view,
            Message::NewView(m) => m.payload.view,
            Message::Attest(_)
            | Message::Evidence(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => return None,
        })
    }

    /// The phase name of a vote (equivocation is two different votes of one phase).
    pub fn phase(&self) -> &'static str {
        match self {
            Message::Proposal(_) => "proposal",
            Message::Commit(_) => "commit",
            Message::CommitSet(_) => "commit-set",
            Message::Reveal(_) => "reveal",
            Message::Tally(_) => "tally",
            Message::Accept(_) => "accept",
            Message::Confirm(_) => "confirm",
            Message::ViewChange(_) => "view-change",
            Message::NewView(_) => "new-view",
            Message::Evidence(_) => "evidence",
            Message::Attest(_) => "attest",
            Message::Fork(_) => "fork",
            Message::Submit(_) => "submit",
            Message::CatchUpRequest { .. } => "catch-up-request",
            Message::CatchUpResponse { .. } => "catch-up-response",
        }
    }

    /// Check the signature of a signed vote (evidence and catch-up carry their own proofs
    /// and are verified by their handlers).
    pub fn verify_signature(&self) -> Result<(), crate::crypto::CryptoError> {
        match self {
            Message::Proposal(m) => m.verify(),
            Message::Commit(m) => m.verify(),
            Message::CommitSet(m) => m.verify(),
            Message::Reveal(m) => m.verify(),
            Message::Tally(m) => m.verify(),
            Message::Accept(m) => m.verify(),
            Message::Confirm(m) => m.verify(),
            Message::ViewChange(m) => m.verify(),
            Message::NewView(m) => m.verify(),
            Message::Attest(m) => m.verify(),
            Message::Evidence(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => Ok(()),
        }
    }

    /// Digest of the payload alone (two votes of one phase with different payload digests
    /// are an equivocation).
    pub fn payload_digest(&self) -> Option<Digest> {
        use crate::crypto::canonical_bytes as cb;
        use crate::crypto::sha256;
        Some(match self {
            Message::Proposal(m) => sha256(&cb(&m.payload)),
            Message::Commit(m) => sha256(&cb(&m.payload)),
            Message::CommitSet(m) => sha256(&cb(&m.payload)),
            Message::Reveal(m) => sha256(&cb(&m.payload)),
            Message::Tally(m) => sha256(&cb(&m.payload)),
            Message::Accept(m) => sha256(&cb(&m.payload)),
            Message::Confirm(m) => sha256(&cb(&m.payload)),
            Message::ViewChange(m) => sha256(&cb(&m.payload)),
            Message::NewView(m) => sha256(&cb(&m.payload)),
            Message::Attest(m) => sha256(&cb(&m.payload)),
            Message::Evidence(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => return None,
        })
    }
}
