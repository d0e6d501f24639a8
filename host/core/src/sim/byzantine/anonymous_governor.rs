//! Byzantine participant that submits governance it holds no role for: a trust cut of
//! -10000 bps on an honest peer, quorum and trust parameter changes, a swap of the
//! validator module for a random digest, and an exclusion of an honest peer by
//! "governance decision" — signed by its own node key or by a fresh random key, and as
//! primary proposed instead of its honest batch.
//!
//! Governance is the governors' alone: none of these may pass authorisation, and trust,
//! parameters, modules and membership stay as they are.

use super::inject::{Injector, fresh_key, random_digest, random_peer, sign_op};
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input};
use crate::ops::{
    ConfigType, ExclusionReason, ImpactLevel, NetworkConfigChange, NodeExclusion, Operation, Param,
    SecurityDomain, SecurityPolicyUpdate, SignedOperation, TrustModification, TrustReason,
};

/// Wraps the honest machine and adds unauthorised governance.
pub struct AnonymousGovernor {
    node: SimNode,
    inject: Injector,
}

impl AnonymousGovernor {
    /// Govern without a mandate around `node`.
    pub fn new(node: SimNode) -> Self {
        AnonymousGovernor {
            node,
            inject: Injector::new(),
        }
    }
}

impl Adversary for AnonymousGovernor {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let effects = self.node.handle(input);
        let node = &self.node;
        self.inject.apply(ctx, effects, |ctx, n| {
            (0..n).filter_map(|_| forge(ctx, node)).collect()
        })
    }
}

/// One governance operation (all Full BFT), signed by the actor or a fresh key.
fn forge(ctx: &mut Ctx<'_>, node: &SimNode) -> Option<SignedOperation> {
    let op = match ctx.rng.below(4) {
        0 => Operation::TrustModification(TrustModification {
            target: random_peer(ctx)?,
            delta_bps: -10_000,
            reason: TrustReason::GovernanceDecision,
            justification: "anonymous governor".into(),
        }),
        1 => {
            let (config_type, param) = match ctx.rng.below(3) {
                0 => (ConfigType::Quorum, ("quorum.min-high-trust", 0)),
                1 => (ConfigType::Quorum, ("quorum.light-weight-bps", 5_000)),
                _ => (ConfigType::Trust, ("trust.critical-threshold", 0)),
            };
            Operation::NetworkConfigChange(NetworkConfigChange {
                config_type,
                changes: vec![Param {
                    key: param.0.into(),
                    value: param.1,
                }],
                impact: ImpactLevel::Critical,
            })
        }
        2 => Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
            domain: SecurityDomain::ValidatorModule,
            new_policy: random_digest(ctx.rng),
            rollback_to: random_digest(ctx.rng),
            description: "anonymous validator swap".into(),
        }),
        _ => Operation::NodeExclusion(NodeExclusion {
            target: random_peer(ctx)?,
            reason: ExclusionReason::GovernanceDecision,
            evidence: Vec::new(),
        }),
    };
    if ctx.rng.chance(500_000) {
        Some(sign_op(node, op, ctx.key))
    } else {
        Some(sign_op(node, op, &fresh_key(ctx.rng)))
    }
}
