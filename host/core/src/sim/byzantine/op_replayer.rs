//! Byzantine participant that replays decided operations: it remembers every signed
//! operation it sees in proposals and submissions, and once one has been decided it
//! re-submits the exact same bytes (re-signing nothing) now and then, and as primary
//! re-proposes a batch of them instead of its honest one.
//!
//! An operation is decided at most once: honest members must refuse every replay, by
//! the decided-operation record or, once that is forgotten, by the operation's expiry.

use std::collections::BTreeMap;

use super::inject::Injector;
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{DecidedEntry, Effect, Input, Message};
use crate::ops::SignedOperation;
use crate::types::Digest;

/// Most operations remembered while undecided.
const SEEN: usize = 1024;

/// Most decided operations remembered for replay.
const DECIDED: usize = 512;

/// Wraps the honest machine and replays decided operations.
pub struct OpReplayer {
    node: SimNode,
    inject: Injector,
    /// Operations seen in proposals and submissions, by id.
    seen: BTreeMap<Digest, SignedOperation>,
    /// Decided operations, exactly as seen.
    decided: Vec<SignedOperation>,
}

impl OpReplayer {
    /// Replay decided operations around `node`.
    pub fn new(node: SimNode) -> Self {
        OpReplayer {
            node,
            inject: Injector::new(),
            seen: BTreeMap::new(),
            decided: Vec::new(),
        }
    }

    fn see(&mut self, op: &SignedOperation) {
        if self.seen.len() >= SEEN {
            self.seen.pop_first();
        }
        self.seen.entry(op.id()).or_insert_with(|| op.clone());
    }

    fn see_message(&mut self, msg: &Message) {
        match msg {
            Message::Submit(ops) => ops.iter().for_each(|op| self.see(op)),
            Message::Proposal(p) => p.payload.batch.iter().for_each(|op| self.see(op)),
            Message::Tally(t) => t
                .payload
                .proposal
                .payload
                .batch
                .iter()
                .for_each(|op| self.see(op)),
            _ => {}
        }
    }

    /// Remember the operations of a decided entry for replay (the bytes seen, if any).
    fn decide(&mut self, ctx: &mut Ctx<'_>, entry: &DecidedEntry) {
        for op in entry.batch() {
            let op = self.seen.remove(&op.id()).unwrap_or_else(|| op.clone());
            if self.decided.len() < DECIDED {
                self.decided.push(op);
            } else {
                let i = ctx.rng.index(DECIDED);
                self.decided[i] = op;
            }
        }
    }
}

impl Adversary for OpReplayer {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        match &input {
            Input::Submit(op) => self.see(op),
            Input::Message {
                msg: Message::CatchUpResponse { entries },
                ..
            } => {
                for entry in entries {
                    self.decide(ctx, entry);
                }
            }
            Input::Message { msg, .. } => self.see_message(msg),
            _ => {}
        }
        let effects = self.node.handle(input);
        for effect in &effects {
            match effect {
                Effect::Broadcast { msg } | Effect::Send { msg, .. } => self.see_message(msg),
                Effect::Decided { entry, .. } => self.decide(ctx, entry),
                _ => {}
            }
        }
        let decided = &self.decided;
        self.inject.apply(ctx, effects, |ctx, n| {
            if decided.is_empty() {
                return Vec::new();
            }
            (0..n)
                .map(|_| decided[ctx.rng.index(decided.len())].clone())
                .collect()
        })
    }
}
