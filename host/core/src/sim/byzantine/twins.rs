//! Byzantine identity run as two honest copies with the same key, after the Twins paper
//! (Bano et al., 2020): each copy follows the protocol, but the pair can sign conflicting
//! votes when the copies see different messages or timings.
//!
//! The driver gives each twin its own network endpoint; messages addressed to the identity
//! reach both copies. Whatever the twins sign, honest nodes must not disagree, and every
//! conflicting pair of votes is a proof that slashes the identity.

use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input};

/// One copy of a twinned identity (also used for an actor that simply runs the honest
/// machine).
pub struct Twin {
    node: SimNode,
}

impl Twin {
    /// One copy running `node`.
    pub fn new(node: SimNode) -> Self {
        Twin { node }
    }
}

impl Adversary for Twin {
    fn handle(&mut self, _ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        self.node.handle(input)
    }
}
