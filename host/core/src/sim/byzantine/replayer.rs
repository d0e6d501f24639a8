//! Byzantine participant that replays old messages — its own and other members' — to
//! random peers, on top of running the protocol.
//!
//! Replays carry valid signatures, so they must be recognised as stale or duplicate and
//! never count twice or for another slot, view or phase.

use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message};

/// Most messages remembered for replay.
const HISTORY: usize = 512;

/// Wraps the honest machine and re-sends remembered messages.
pub struct Replayer {
    node: SimNode,
    history: Vec<Message>,
}

impl Replayer {
    /// Replay around `node`.
    pub fn new(node: SimNode) -> Self {
        Replayer {
            node,
            history: Vec::new(),
        }
    }

    fn remember(&mut self, ctx: &mut Ctx<'_>, msg: &Message) {
        if self.history.len() < HISTORY {
            self.history.push(msg.clone());
        } else {
            let i = ctx.rng.index(HISTORY);
            self.history[i] = msg.clone();
        }
    }
}

impl Adversary for Replayer {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        if let Input::Message { msg, .. } = &input {
            self.remember(ctx, msg);
        }
        let mut out = self.node.handle(input);
        for effect in &out {
            if let Effect::Broadcast { msg } | Effect::Send { msg, .. } = effect {
                let msg = msg.clone();
                self.remember(ctx, &msg);
            }
        }
        if !self.history.is_empty() && ctx.rng.chance(300_000) {
            let peers = ctx.peers();
            for _ in 0..1 + ctx.rng.below(3) {
                let msg = self.history[ctx.rng.index(self.history.len())].clone();
                if peers.is_empty() || ctx.rng.chance(500_000) {
                    out.push(Effect::Broadcast { msg });
                } else {
                    out.push(Effect::Send {
                        to: peers[ctx.rng.index(peers.len())],
                        msg,
                    });
                }
            }
        }
        out
    }
}
