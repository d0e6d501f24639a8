//! What nodes send each other: consensus messages and module blobs.
//!
//! # Design
//! Consensus traffic is the sans-IO machine's [`Message`]. Module blobs travel beside
//! it, in parts (see [`super::fetch`]): a node that must activate a module it lacks asks
//! its peers by hash, keeps the assembled bytes only under their own SHA-256 (so they
//! cannot be substituted), and activates them only when a decided operation names that
//! hash; parts nobody asked for are dropped.
//!
//! # Bounded decoding
//! No type reachable from a [`Wire`] contains itself (misbehaviour proofs hold signed vote
//! bytes, not messages), so decoding a frame uses a fixed stack depth whatever its bytes,
//! and allocates at most what the frame holds.

use serde::{Deserialize, Serialize};
use spore_core::consensus::Message;
use spore_core::types::Digest;

/// One frame between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wire {
    /// A consensus message.
    Consensus(Message),
    /// Ask for the part of the module blob `hash` that starts at `offset`.
    ModuleRequest {
        /// Content hash of the blob.
        hash: Digest,
        /// Where the wanted part starts.
        offset: u64,
    },
    /// Part of a module blob (the whole blob's hash is recomputed once assembled).
    ModulePart {
        /// Content hash of the blob.
        hash: Digest,
        /// Size of the whole blob.
        total: u64,
        /// Where this part starts.
        offset: u64,
        /// At most [`super::fetch::PART_BYTES`] bytes.
        bytes: Vec<u8>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::frame;

    /// The frame that used to abort a node: a few MB of nested evidence (proof inside a
    /// proposal inside a proof ...). With no recursive type on the wire it decodes — and
    /// fails — in constant stack depth: here on a thread with a 64 KiB stack.
    #[test]
    fn deeply_nested_evidence_frames_are_refused_in_constant_stack() -> anyhow::Result<()> {
        // Wire::Consensus, Message::Evidence, Misbehaviour::ConflictingVotes, then the
        // tags of "a proposal carrying evidence" repeated for 4 MB.
        let mut body = vec![0u8, 8, 0];
        body.extend(std::iter::repeat_n([0u8, 8, 0, 0], 1_000_000).flatten());
        let result = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || frame::decode_body::<Wire>(&body).is_err())?
            .join();
        assert!(
            matches!(result, Ok(true)),
            "refused, and the thread survived"
        );
        Ok(())
    }
}
