//! Helpers the operation-forging actors share: stamping and signing forged operations,
//! deciding when to gossip them, and replacing the wrapped honest primary's proposal with
//! one whose batch is forged.
//!
//! # Design
//! An actor that forges operations wraps the honest machine and hands its effects to an
//! [`Injector`] together with a function that makes up to `n` forged operations. The
//! injector passes every effect through except the actor's own proposal broadcasts, which
//! it replaces with a proposal for the same slot and view whose batch is forged (re-signed
//! with the actor's key, so honest members must refuse it on authorisation), and now and
//! then appends a few forged submissions broadcast to the peers.

use super::tamper::sign;
use super::{Ctx, SimNode};
use crate::consensus::{Effect, Message, Proposal};
use crate::crypto::{Keypair, Signed};
use crate::ops::{Operation, SignedOperation};
use crate::sim::rng::SimRng;
use crate::types::{Digest, NodeId, Slot, View};

/// Most forged operations in one forged proposal.
pub const MAX_FORGED_BATCH: usize = 8;

/// Most forged submissions gossiped on one input.
pub const MAX_GOSSIP: usize = 2;

/// Chance (parts per million) that an input makes the actor gossip forged submissions.
pub const GOSSIP_PPM: u32 = 100_000;

/// How many slots beyond the next slot a forged operation expires: well inside the
/// expiry window, so only the host's other rules refuse it.
pub const EXPIRY_AHEAD: Slot = 100;

/// The chain and expiry a forged operation carries: the cluster's genesis digest and
/// [`EXPIRY_AHEAD`] slots after `node`'s next slot.
pub fn stamp(node: &SimNode) -> (Digest, Slot) {
    (
        node.state().genesis_digest(),
        node.slot().saturating_add(EXPIRY_AHEAD),
    )
}

/// `op` signed by `key` for `node`'s chain with the expiry of [`stamp`].
pub fn sign_op(node: &SimNode, op: Operation, key: &Keypair) -> SignedOperation {
    let (chain, expires) = stamp(node);
    SignedOperation::sign(op, chain, expires, key)
}

/// A fresh key drawn from `rng` (deterministic in the scenario seed).
pub fn fresh_key(rng: &mut SimRng) -> Keypair {
    let mut seed = [0u8; 32];
    rng.fill(&mut seed);
    Keypair::from_seed(seed)
}

/// A random digest drawn from `rng`.
pub fn random_digest(rng: &mut SimRng) -> Digest {
    let mut d = [0u8; 32];
    rng.fill(&mut d);
    Digest(d)
}

/// A random peer of the actor, if it has any.
pub fn random_peer(ctx: &mut Ctx<'_>) -> Option<NodeId> {
    let peers = ctx.peers();
    (!peers.is_empty()).then(|| peers[ctx.rng.index(peers.len())])
}

/// The batch a forged proposal may carry: the operations of the first one's mechanism,
/// without repeated ids, in order, at most [`MAX_FORGED_BATCH`].
pub fn batch_of(ops: Vec<SignedOperation>) -> Vec<SignedOperation> {
    let Some(mechanism) = ops.first().map(SignedOperation::mechanism) else {
        return Vec::new();
    };
    let mut ids: Vec<Digest> = Vec::new();
    let mut batch = Vec::new();
    for op in ops {
        if batch.len() >= MAX_FORGED_BATCH {
            break;
        }
        if op.mechanism() != mechanism {
            continue;
        }
        let id = op.id();
        if !ids.contains(&id) {
            ids.push(id);
            batch.push(op);
        }
    }
    batch
}

/// A proposal for `p`'s slot and view (keeping its evidence) whose batch is
/// [`batch_of`]`(ops)`, signed by `key`; `None` if no operation is left for the batch.
pub fn forge_proposal(
    p: &Proposal,
    ops: Vec<SignedOperation>,
    key: &Keypair,
) -> Option<Signed<Proposal>> {
    let batch = batch_of(ops);
    if batch.is_empty() {
        return None;
    }
    Some(sign(Proposal { batch, ..p.clone() }, key))
}

/// How many forged submissions to gossip on this input: usually none, otherwise
/// 1..=[`MAX_GOSSIP`].
pub fn gossip_count(rng: &mut SimRng) -> usize {
    if rng.chance(GOSSIP_PPM) {
        1 + rng.index(MAX_GOSSIP)
    } else {
        0
    }
}

/// Broadcast each of `ops` to the peers as a submission.
pub fn submit_all(out: &mut Vec<Effect>, ops: Vec<SignedOperation>) {
    for op in ops {
        out.push(Effect::Broadcast {
            msg: Message::Submit(vec![op]),
        });
    }
}

/// Replaces the wrapped primary's proposals with forged ones and gossips forged
/// submissions (see the module documentation).
#[derive(Debug, Default)]
pub struct Injector {
    /// The forged proposal sent for a (slot, view): re-broadcasts of the honest proposal
    /// are replaced by the same forgery rather than a new one.
    forged: Option<(Slot, View, Signed<Proposal>)>,
}

impl Injector {
    /// An injector that has forged nothing yet.
    pub fn new() -> Self {
        Injector::default()
    }

    /// Pass the honest `effects` through, replacing the actor's own proposal broadcasts
    /// with forged proposals, and now and then append forged submissions.
    /// `forge(ctx, n)` makes at most `n` forged operations (it may make fewer, or none:
    /// then the honest proposal goes out unchanged).
    pub fn apply<F>(&mut self, ctx: &mut Ctx<'_>, effects: Vec<Effect>, mut forge: F) -> Vec<Effect>
    where
        F: FnMut(&mut Ctx<'_>, usize) -> Vec<SignedOperation>,
    {
        let me = ctx.key.id();
        let mut out = Vec::with_capacity(effects.len() + MAX_GOSSIP);
        for effect in effects {
            match effect {
                Effect::Broadcast {
                    msg: Message::Proposal(p),
                } if p.signer == me => {
                    let msg = match self.replace(ctx, &p, &mut forge) {
                        Some(forged) => Message::Proposal(forged),
                        None => Message::Proposal(p),
                    };
                    out.push(Effect::Broadcast { msg });
                }
                other => out.push(other),
            }
        }
        let n = gossip_count(ctx.rng);
        if n > 0 {
            let mut ops = forge(ctx, n);
            ops.truncate(n);
            submit_all(&mut out, ops);
        }
        out
    }

    /// The forged replacement of the honest proposal `p` (the same one for a repeated
    /// slot and view).
    fn replace<F>(
        &mut self,
        ctx: &mut Ctx<'_>,
        p: &Signed<Proposal>,
        forge: &mut F,
    ) -> Option<Signed<Proposal>>
    where
        F: FnMut(&mut Ctx<'_>, usize) -> Vec<SignedOperation>,
    {
        let (slot, view) = (p.payload.slot, p.payload.view);
        if let Some((s, v, forged)) = &self.forged
            && *s == slot
            && *v == view
        {
            return Some(forged.clone());
        }
        let forged = forge_proposal(&p.payload, forge(ctx, MAX_FORGED_BATCH), ctx.key)?;
        self.forged = Some((slot, view, forged.clone()));
        Some(forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{ComputeTask, MaintenanceTask, MaintenanceType, SlotWindow};

    fn compute(i: u8, key: &Keypair) -> SignedOperation {
        SignedOperation::sign(
            Operation::Compute(ComputeTask {
                kind: "median-price".into(),
                input: vec![i],
            }),
            Digest([1; 32]),
            50,
            key,
        )
    }

    #[test]
    fn batches_keep_one_mechanism_distinct_ids_and_the_limit() {
        let key = Keypair::from_seed([7; 32]);
        let maintenance = SignedOperation::sign(
            Operation::MaintenanceTask(MaintenanceTask {
                task: MaintenanceType::CertificateRotation,
                components: vec![],
                window: SlotWindow { start: 1, end: 2 },
            }),
            Digest([1; 32]),
            50,
            &key,
        );
        let mut ops = vec![compute(0, &key), maintenance, compute(0, &key)];
        ops.extend((1..20).map(|i| compute(i, &key)));
        let batch = batch_of(ops);
        assert_eq!(batch.len(), MAX_FORGED_BATCH);
        assert!(batch.iter().all(|o| o.mechanism() == batch[0].mechanism()));
        let ids: std::collections::BTreeSet<Digest> = batch.iter().map(|o| o.id()).collect();
        assert_eq!(ids.len(), batch.len());
        assert!(batch_of(Vec::new()).is_empty());
    }

    #[test]
    fn forged_proposals_keep_slot_and_view_and_are_signed_by_the_actor() {
        let key = Keypair::from_seed([8; 32]);
        let honest = Proposal {
            slot: 9,
            view: 3,
            parent: Digest::default(),
            batch: vec![compute(1, &key)],
            evidence: Vec::new(),
            absences: Vec::new(),
        };
        let forged = forge_proposal(&honest, vec![compute(2, &key)], &key);
        let forged = forged.as_ref();
        assert_eq!(
            forged.map(|f| (f.payload.slot, f.payload.view)),
            Some((9, 3))
        );
        assert_eq!(forged.map(|f| f.signer), Some(key.id()));
        assert_eq!(forged.map(|f| f.verify().is_ok()), Some(true));
        assert_ne!(forged.map(|f| &f.payload), Some(&honest));
        assert!(forge_proposal(&honest, Vec::new(), &key).is_none());
    }
}
