//! The client protocol: requests a client sends a node and the node's answers.
//!
//! # Design
//! One QUIC bidirectional stream per request, ALPN [`CLIENT_ALPN`]: the client writes
//! one [`Request`] frame and finishes its side; the node answers with one or more
//! [`Response`] frames (a followed submission gets `Accepted`, then `Decided`) and
//! finishes. Frames are the transport's length-prefixed postcard frames.

use serde::{Deserialize, Serialize};
use spore_core::consensus::{DecidedEntry, Decision};
use spore_core::ops::SignedOperation;
use spore_core::types::{Digest, Hierarchy, NodeId, Slot, TrustBps, View};

/// ALPN of the client protocol (distinct from the peer protocol).
pub const CLIENT_ALPN: &[u8] = b"spore-client/1";

/// Largest client frame (module uploads included): room for a module at the ceiling of
/// `timing.max-module-bytes` (32 MiB) and the request around it.
pub const MAX_CLIENT_FRAME: u32 = 33 * 1024 * 1024;

/// A client request.
// One request per stream, decoded once: the size of the signed operation inline is not
// worth a box on every submission.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Submit a signed operation; with `follow`, stay on the stream until it is decided.
    /// Refused at once (an `Error` naming the reason, e.g. the missing role) when the
    /// host's authorisation rules refuse it.
    Submit {
        /// The operation, signed by its submitter.
        op: SignedOperation,
        /// Wait for the decision.
        follow: bool,
    },
    /// The node's view of the cluster.
    Status,
    /// Decided entries from `from` on (at most `limit`).
    Log {
        /// First slot.
        from: Slot,
        /// Most entries.
        limit: u32,
    },
    /// Store a module blob on the node (and offer it to its peers); answers its hash.
    /// Only for client keys that the policy grants `module-upload`.
    UploadModule(Vec<u8>),
}

/// A node's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The operation entered the mempool under this digest.
    Accepted(Digest),
    /// A followed operation was decided.
    Decided(OpDecision),
    /// The status report.
    Status(Box<StatusReport>),
    /// Decided entries, in slot order.
    Log(Vec<DecidedEntry>),
    /// A module blob is stored under this hash.
    Uploaded(Digest),
    /// The request failed.
    Error(String),
}

/// How one operation was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpDecision {
    /// Operation digest.
    pub digest: Digest,
    /// Slot of the decision.
    pub slot: Slot,
    /// Index in the batch.
    pub index: u32,
    /// The decision (outcome, or escalation).
    pub decision: Decision,
}

/// One member as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    /// Id.
    pub id: NodeId,
    /// Name.
    pub name: String,
    /// Hierarchy level.
    pub level: Hierarchy,
    /// Trust (bps).
    pub trust: TrustBps,
    /// In the eligible set.
    pub eligible: bool,
    /// Peer address.
    pub address: String,
}

/// The active module of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRow {
    /// Role name.
    pub role: String,
    /// Active hash.
    pub active: Digest,
    /// Previous hash.
    pub previous: Option<Digest>,
    /// First slot using `active`.
    pub since: Slot,
    /// Whether this node's runtime runs `active` (false while its bytes are fetched or
    /// compiled).
    pub loaded: bool,
}

/// A node's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// This node.
    pub node: NodeId,
    /// Chain id.
    pub chain_id: String,
    /// Genesis digest: the chain a signed operation names.
    pub genesis: Digest,
    /// Next slot to decide.
    pub slot: Slot,
    /// Current view.
    pub view: View,
    /// Whether a view change is in progress.
    pub view_changing: bool,
    /// Primary of the view.
    pub primary: Option<NodeId>,
    /// Seed of the view.
    pub seed: Option<NodeId>,
    /// Pending operations.
    pub mempool: u64,
    /// Members with trust and hierarchy.
    pub members: Vec<MemberRow>,
    /// Active modules.
    pub modules: Vec<ModuleRow>,
    /// Slots decided by this process.
    pub decided: u64,
    /// View changes started by this process.
    pub view_changes: u64,
    /// Misbehaviour proofs seen.
    pub evidence: u64,
    /// Consensus messages refused, by reason.
    pub rejected: Vec<(String, u64)>,
    /// Transport frames refused (malformed, oversized, undecodable).
    pub rejected_frames: u64,
    /// Connections refused at the TLS handshake (non-members, wrong keys).
    pub handshake_refusals: u64,
    /// Module calls this node abandoned after repeated local faults (it abstained rather
    /// than report a local fault as a result).
    pub abstained_calls: u64,
    /// Module blobs from peers dropped (unsolicited, or over the size limit).
    pub dropped_blobs: u64,
    /// Unreferenced module blobs deleted to make room for uploads within the quota.
    #[serde(default)]
    pub collected_blobs: u64,
    /// A fork this node detected and halted on: the slot, the two values and the
    /// members that confirmed both (docs/OPERATIONS.md, "Forks").
    pub fork: Option<ForkRow>,
    /// Recent state changes (slot, description), oldest first.
    pub events: Vec<(Slot, String)>,
    /// Digest of the replicated state.
    pub state_digest: Digest,
}

/// A detected fork, as `spore status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkRow {
    /// The forked slot.
    pub slot: Slot,
    /// The value this node decided (or first saw).
    pub first: Digest,
    /// The conflicting value.
    pub second: Digest,
    /// Members whose confirms are in both certificates.
    pub culprits: Vec<NodeId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::frame;

    #[test]
    fn requests_and_answers_round_trip_through_frames() -> anyhow::Result<()> {
        let requests = [
            Request::Status,
            Request::Log { from: 3, limit: 9 },
            Request::UploadModule(vec![0, 97, 115, 109]),
            Request::Submit {
                op: spore_core::ops::SignedOperation::sign(
                    crate::modules::samples::compute_op(),
                    Digest([1; 32]),
                    10,
                    &spore_core::crypto::Keypair::from_seed([1; 32]),
                ),
                follow: true,
            },
        ];
        for r in requests {
            let bytes = frame::encode(&r, MAX_CLIENT_FRAME)?;
            let back: Request = frame::decode_body(&bytes[frame::LEN_PREFIX..])?;
            assert_eq!(back, r);
        }
        let answer = Response::Error("x".into());
        let bytes = frame::encode(&answer, MAX_CLIENT_FRAME)?;
        assert_eq!(
            frame::decode_body::<Response>(&bytes[frame::LEN_PREFIX..])?,
            answer
        );
        Ok(())
    }

    #[test]
    fn garbage_is_not_a_request() {
        assert!(frame::decode_body::<Request>(&[0xff, 0xff, 0xff]).is_err());
        assert!(frame::decode_body::<Request>(&[]).is_err());
    }
}
