//! Bindings generated from `wit/` (package `spore:policy@0.1.0`) by `wit-bindgen`.
//!
//! # Layout
//! One submodule per world. The shared interfaces (`types`, `snapshot`, `log`) are
//! generated once, inside [`validator`], and the other two worlds reuse them through
//! `with`, so an `Operation` is the same Rust type whichever world a module implements.
//!
//! # Why `pub_export_macro`
//! Each `generate!` here embeds, in this library, a component-type section that
//! describes the world's *imports only*; the world's exports are described by a second
//! section that the export macro emits in the module crate that uses it. A module that
//! exports the validator world therefore carries no trace of the admission or resolver
//! worlds, and `wit-component` does not look for exports it never wrote.

// Generated code: the canonical-ABI glue is `unsafe` by nature and documented by
// wit-bindgen, not here.
#![allow(unsafe_code, missing_docs, clippy::all)]

/// The `validator` world, plus the shared `types`, `snapshot` and `log` interfaces.
pub mod validator {
    wit_bindgen::generate!({
        world: "validator",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__spore_export_validator_world",
        default_bindings_module: "spore_guest::bindings::validator",
        additional_derives: [PartialEq, Eq, Hash],
        generate_all,
    });
}

/// The `admission` world.
pub mod admission {
    wit_bindgen::generate!({
        world: "admission",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__spore_export_admission_world",
        default_bindings_module: "spore_guest::bindings::admission",
        additional_derives: [PartialEq, Eq, Hash],
        with: {
            "spore:policy/types@0.1.0": crate::bindings::validator::spore::policy::types,
            "spore:policy/snapshot@0.1.0": crate::bindings::validator::spore::policy::snapshot,
            "spore:policy/log@0.1.0": crate::bindings::validator::spore::policy::log,
        },
    });
}

/// The `resolver` world.
pub mod resolver {
    wit_bindgen::generate!({
        world: "resolver",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__spore_export_resolver_world",
        default_bindings_module: "spore_guest::bindings::resolver",
        additional_derives: [PartialEq, Eq, Hash],
        with: {
            "spore:policy/types@0.1.0": crate::bindings::validator::spore::policy::types,
            "spore:policy/snapshot@0.1.0": crate::bindings::validator::spore::policy::snapshot,
            "spore:policy/log@0.1.0": crate::bindings::validator::spore::policy::log,
        },
    });
}
