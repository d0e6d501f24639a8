//! Hostile module that exports the wrong world: it is a resolver (export `resolve`), but
//! the tests load it as a validator. The host must refuse it at load time, before any
//! call, because it does not export `validate`.

use spore_guest::{CallContext, Host, LayerResult, Resolution, Resolver};

/// A resolver posing as a validator.
pub struct WrongWorld;

impl Resolver for WrongWorld {
    fn resolve<H: Host + ?Sized>(
        _host: &H,
        _primary: LayerResult,
        _seed: LayerResult,
        _latent: LayerResult,
        _ctx: CallContext,
    ) -> Resolution {
        Resolution::Escalate("hostile-wrong-world: not a validator".into())
    }
}

spore_guest::export_resolver!(WrongWorld);
