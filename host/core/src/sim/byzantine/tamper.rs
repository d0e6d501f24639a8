//! Helpers the Byzantine actors share: altering and re-signing votes, splitting peers.

use crate::consensus::{Effect, Message};
use crate::crypto::{Keypair, Signable, Signed, sha256_parts};
use crate::sim::modules::wrong_result;
use crate::sim::rng::SimRng;
use crate::types::{Digest, NodeId};

/// Sign `payload` with `key` (a Byzantine actor signs only with its own key).
pub fn sign<T: Signable>(payload: T, key: &Keypair) -> Signed<T> {
    Signed::new(payload, key)
}

/// A digest different from `d`, derived from it (for conflicting votes).
pub fn other_digest(d: &Digest, salt: &[u8]) -> Digest {
    sha256_parts(&[b"spore/sim/byzantine/v1", d.as_ref(), salt])
}

/// A version of the vote `msg` with a different payload of the same phase, slot and view,
/// signed by `key`; `None` for messages that are not votes this can alter.
pub fn conflicting(msg: &Message, key: &Keypair) -> Option<Message> {
    Some(match msg {
        Message::Commit(c) => {
            let mut p = c.payload.clone();
            p.commitment = other_digest(&p.commitment, b"commit");
            Message::Commit(sign(p, key))
        }
        Message::Reveal(r) => {
            let mut p = r.payload.clone();
            p.outcomes = p.outcomes.iter().map(wrong_result).collect();
            Message::Reveal(sign(p, key))
        }
        Message::Accept(a) => {
            let mut p = a.payload.clone();
            p.value = other_digest(&p.value, b"accept");
            Message::Accept(sign(p, key))
        }
        Message::Confirm(c) => {
            let mut p = c.payload.clone();
            p.value = other_digest(&p.value, b"confirm");
            Message::Confirm(sign(p, key))
        }
        _ => return None,
    })
}

/// Split `peers` into two non-empty halves at random (the second is empty only if there is
/// a single peer).
pub fn split(peers: &[NodeId], rng: &mut SimRng) -> (Vec<NodeId>, Vec<NodeId>) {
    let mut shuffled = peers.to_vec();
    rng.shuffle(&mut shuffled);
    let mid = shuffled.len().div_ceil(2);
    let second = shuffled.split_off(mid);
    (shuffled, second)
}

/// Send `msg` to each of `to` individually.
pub fn send_each(out: &mut Vec<Effect>, to: &[NodeId], msg: &Message) {
    for peer in to {
        out.push(Effect::Send {
            to: *peer,
            msg: msg.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Accept;

    #[test]
    fn conflicting_votes_differ_but_keep_slot_view_and_phase() {
        let key = Keypair::from_seed([3; 32]);
        let vote = Message::Accept(sign(
            Accept {
                slot: 4,
                view: 2,
                value: Digest([1; 32]),
            },
            &key,
        ));
        let other = conflicting(&vote, &key);
        let other = other.as_ref();
        assert_eq!(other.map(Message::phase), Some("accept"));
        assert_eq!(other.and_then(Message::slot), Some(4));
        assert_eq!(other.and_then(Message::view), Some(2));
        assert_ne!(
            other.and_then(Message::payload_digest),
            vote.payload_digest()
        );
        assert_eq!(other.map(Message::verify_signature), Some(Ok(())));
    }

    #[test]
    fn split_covers_all_peers() {
        let peers: Vec<NodeId> = (0..5).map(|b| NodeId([b; 32])).collect();
        let (a, b) = split(&peers, &mut SimRng::new(1));
        assert_eq!(a.len() + b.len(), 5);
        assert!(!a.is_empty() && !b.is_empty());
    }
}
