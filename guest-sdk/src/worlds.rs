//! One trait per world: what a module implements.
//!
//! Each method is an associated function (the component model has no `self`) that gets
//! the [`Host`] to read the snapshot through. On a node that is [`crate::WitHost`]; in
//! a native unit test it is a [`crate::testing::Fixture`].

use crate::{
    CallContext, Host, LayerResult, NodeAdmission, Operation, Rejection, Resolution, Verdict,
};

/// The `validator` world: computes the result of an operation.
pub trait Validator {
    /// The canonical encoding of the operation's effect, or a reasoned rejection.
    ///
    /// Must be a deterministic function of `op`, `ctx` and the snapshot behind `host`:
    /// every node commits to the bytes returned here.
    fn validate<H: Host + ?Sized>(
        host: &H,
        op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection>;
}

/// The `admission` world: judges a node admission request.
pub trait Admission {
    /// The verdict on `request`, with every reason that counts against it.
    fn evaluate<H: Host + ?Sized>(host: &H, request: NodeAdmission, ctx: CallContext) -> Verdict;
}

/// The `resolver` world: decides a slot on which no result reached a quorum.
pub trait Resolver {
    /// Pick the result of one layer, or escalate.
    fn resolve<H: Host + ?Sized>(
        host: &H,
        primary: LayerResult,
        seed: LayerResult,
        latent: LayerResult,
        ctx: CallContext,
    ) -> Resolution;
}
