//! Byzantine participant that never sends anything: it ignores every input.

use super::{Adversary, Ctx};
use crate::consensus::{Effect, Input};

/// A mute member: counted in the membership, never heard from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Adversary for Silent {
    fn handle(&mut self, _ctx: &mut Ctx<'_>, _input: Input) -> Vec<Effect> {
        Vec::new()
    }
}
