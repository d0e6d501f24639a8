//! Byzantine participants for the simulator, one behaviour per file.
//!
//! # Design
//! A Byzantine actor implements [`Adversary`]: it receives the same inputs as an honest
//! node and returns effects for the driver to execute. Most actors wrap the real honest
//! state machine ([`SimNode`]) and tamper with what it sends, signing with their own key —
//! except the forger, which signs with a key that is not the claimed signer's, and the
//! operation forgers (see [`inject`]), which may also sign with fresh keys drawn from
//! their seeded randomness (never with another member's key). The driver
//! authenticates transport senders (as mutual TLS does), so an actor can lie in what it
//! signs and sends, never in who it is on the wire.
//!
//! # Layout
//! - [`behaviour`]: the catalogue of behaviours; [`mixed`]: the `mixed` rule by seed.
//! - [`tamper`]: helpers shared by the actors (re-signing, splitting peers).
//! - [`inject`]: helpers shared by the actors that forge operations (signing them,
//!   gossiping them, replacing the primary's proposal with a forged batch).
//! - one file per behaviour: [`silent`], [`wrong_result`], [`equivocator`],
//!   [`bad_reveal`], [`copycat`], [`replayer`], [`forger`], [`conflicting_proposer`],
//!   [`twins`], [`forged_exclusion`], [`sybil_flood`], [`anonymous_governor`],
//!   [`evidence_replayer`], [`op_replayer`], [`omitting_primary`],
//!   [`steering_primary`], [`late_copycat`], [`censor`].

pub mod anonymous_governor;
pub mod bad_reveal;
pub mod behaviour;
pub mod censor;
pub mod conflicting_proposer;
pub mod copycat;
pub mod equivocator;
pub mod evidence_replayer;
pub mod forged_exclusion;
pub mod forger;
pub mod inject;
pub mod late_copycat;
pub mod mixed;
pub mod omitting_primary;
pub mod op_replayer;
pub mod replayer;
pub mod silent;
pub mod steering_primary;
pub mod sybil_flood;
pub mod tamper;
pub mod twins;
pub mod wrong_result;

pub use behaviour::Behaviour;

use crate::consensus::{Effect, Input, Node};
use crate::crypto::Keypair;
use crate::sim::network::Time;
use crate::sim::rng::SimRng;
use crate::state::ReplicatedState;
use crate::types::NodeId;

/// The honest state machine as the simulator runs it.
pub type SimNode = Node<ReplicatedState>;

/// What an actor knows and may use when it acts.
pub struct Ctx<'a> {
    /// Its own key (the only key it can sign with).
    pub key: &'a Keypair,
    /// Every member of the cluster, ascending.
    pub members: &'a [NodeId],
    /// Its source of randomness (derived from the scenario seed).
    pub rng: &'a mut SimRng,
    /// Current virtual time.
    pub now: Time,
}

impl Ctx<'_> {
    /// Every member but the actor itself.
    pub fn peers(&self) -> Vec<NodeId> {
        let me = self.key.id();
        self.members.iter().copied().filter(|m| *m != me).collect()
    }
}

/// A Byzantine participant.
pub trait Adversary {
    /// Handle one input, returning the effects the driver executes on the actor's behalf.
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect>;
}

/// The actor for one Byzantine identity of `behaviour`, wrapping `node` (the honest machine
/// with the identity's key). `Mixed` and `Honest` are resolved before this is called;
/// passed here they yield an actor that simply runs the honest machine.
pub fn actor(behaviour: Behaviour, node: SimNode) -> Box<dyn Adversary> {
    match behaviour {
        Behaviour::Silent => Box::new(silent::Silent),
        Behaviour::WrongResult => Box::new(wrong_result::WrongResult::new(node)),
        Behaviour::Equivocator => Box::new(equivocator::Equivocator::new(node)),
        Behaviour::BadReveal => Box::new(bad_reveal::BadReveal::new(node)),
        Behaviour::Copycat => Box::new(copycat::Copycat::new(node)),
        Behaviour::Replayer => Box::new(replayer::Replayer::new(node)),
        Behaviour::Forger => Box::new(forger::Forger::new(node)),
        Behaviour::ConflictingProposer => {
            Box::new(conflicting_proposer::ConflictingProposer::new(node))
        }
        Behaviour::ForgedExclusion => Box::new(forged_exclusion::ForgedExclusion::new(node)),
        Behaviour::SybilFlood => Box::new(sybil_flood::SybilFlood::new(node)),
        Behaviour::AnonymousGovernor => Box::new(anonymous_governor::AnonymousGovernor::new(node)),
        Behaviour::EvidenceReplayer => Box::new(evidence_replayer::EvidenceReplayer::new(node)),
        Behaviour::OpReplayer => Box::new(op_replayer::OpReplayer::new(node)),
        Behaviour::OmittingPrimary => Box::new(omitting_primary::OmittingPrimary::new(node)),
        Behaviour::SteeringPrimary => Box::new(steering_primary::SteeringPrimary::new(node)),
        Behaviour::LateCopycat => Box::new(late_copycat::LateCopycat::new(node)),
        Behaviour::Censor => Box::new(censor::Censor::new(node)),
        Behaviour::Twins | Behaviour::Forker | Behaviour::Honest | Behaviour::Mixed => {
            Box::new(twins::Twin::new(node))
        }
    }
}
