//! A core module into a component, with `wit-component`: the world comes from the
//! module's embedded `component-type` custom section(s).

use crate::{Error, Result};

/// Componentize the core module `core` (validating the result); `name` names it in the
/// error.
pub fn componentize(core: &[u8], name: &str) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(core)
        .and_then(|enc| enc.validate(true).encode())
        .map_err(|e| Error::Invalid(format!("componentizing `{name}`: {e:#}")))
}
