//! Host-side bindings for the `spore:policy@0.1.0` worlds, generated from `wit/` by
//! `wasmtime::component::bindgen!`.
//!
//! # Layout
//! The `validator` bindings own the shared interfaces (`types`, `snapshot`, `log`); the
//! `admission` and `resolver` bindings reuse them through `with:`, so one Rust type and one
//! `Host` implementation serve all three worlds. Every import is synchronous and cannot trap:
//! the host interface is read-only, deterministic and infallible.

// The generated code uses `unsafe` internally (typed-function construction after the
// component type check); nothing hand-written here does.
#![allow(missing_docs, unsafe_code, clippy::all)]

/// The `validator` world and the shared `types`, `snapshot` and `log` interfaces.
pub mod validator {
    wasmtime::component::bindgen!({
        world: "validator",
        path: "../wit",
        additional_derives: [PartialEq, Eq],
        imports: { default: trappable },
    });
}

/// The `admission` world.
pub mod admission {
    wasmtime::component::bindgen!({
        world: "admission",
        path: "../wit",
        additional_derives: [PartialEq, Eq],
        imports: { default: trappable },
        with: {
            "spore:policy/types": super::validator::spore::policy::types,
            "spore:policy/snapshot": super::validator::spore::policy::snapshot,
            "spore:policy/log": super::validator::spore::policy::log,
        },
    });
}

/// The `resolver` world.
pub mod resolver {
    wasmtime::component::bindgen!({
        world: "resolver",
        path: "../wit",
        additional_derives: [PartialEq, Eq],
        imports: { default: trappable },
        with: {
            "spore:policy/types": super::validator::spore::policy::types,
            "spore:policy/snapshot": super::validator::spore::policy::snapshot,
            "spore:policy/log": super::validator::spore::policy::log,
        },
    });
}

/// The admission verdict as the module returns it, its reasons not yet copied out of the
/// module's memory: a list of strings is a list of (pointer, length) pairs, and they may
/// all point at the same bytes, so lifting every reason before counting could copy far
/// more than the module's memory (see `Runtime::call_admission_on`). Matches the
/// `verdict` record of the `admission` world field for field.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(record)]
pub struct RawVerdict {
    /// Admit the candidate?
    pub admit: bool,
    /// The reasons, in the module's memory.
    pub reasons: wasmtime::component::WasmList<wasmtime::component::WasmStr>,
}

/// The `log` host interface.
pub use validator::spore::policy::log as log_iface;
/// The `snapshot` host interface.
pub use validator::spore::policy::snapshot as snapshot_iface;
/// The shared WIT types (`spore:policy/types`).
pub use validator::spore::policy::types;
