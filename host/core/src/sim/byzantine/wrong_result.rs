//! Byzantine participant that follows the protocol faithfully but reports a wrong
//! validator result for every operation.
//!
//! It commits to and reveals its wrong results consistently, so nothing it signs is
//! provably misbehaviour: it must simply never win (dissent is outvoted by the honest
//! quorum, and it loses trust for dissenting).

use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, ModuleReply};
use crate::sim::modules::wrong_result;

/// Wraps the honest machine and corrupts the validator answers it receives.
pub struct WrongResult {
    node: SimNode,
}

impl WrongResult {
    /// Corrupt `node`'s validator results.
    pub fn new(node: SimNode) -> Self {
        WrongResult { node }
    }
}

impl Adversary for WrongResult {
    fn handle(&mut self, _ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let input = match input {
            Input::ModuleResult {
                call,
                result: ModuleReply::Validator(outcome),
            } => Input::ModuleResult {
                call,
                result: ModuleReply::Validator(wrong_result(&outcome)),
            },
            other => other,
        };
        self.node.handle(input)
    }
}
