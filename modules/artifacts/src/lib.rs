//! Spore's policy modules as WebAssembly components, built from source.
//!
//! The build script compiles every module crate under `modules/` for
//! `wasm32-unknown-unknown` and componentizes it with `wit-component`; this library
//! embeds the results. The runtime, its tests and benchmarks take modules from here.
//!
//! # Layout
//! - default modules: [`DEFAULT_VALIDATOR`], [`SPONSORED_ADMISSION`],
//!   [`HIERARCHY_RESOLVER`], [`STRICT_RESOLVER`];
//! - the compute example: [`MEDIAN_PRICE`] and its C twin [`median_price_c`];
//! - hostile modules for the runtime's tests: `HOSTILE_*`.

/// The world a module is meant to be loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The `validator` world (export `validate`).
    Validator,
    /// The `admission` world (export `evaluate`).
    Admission,
    /// The `resolver` world (export `resolve`).
    Resolver,
}

impl Role {
    /// Name of the WIT world in `spore:policy@0.1.0`.
    pub fn world(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Admission => "admission",
            Role::Resolver => "resolver",
        }
    }

    /// Name of the function the world exports.
    pub fn export(self) -> &'static str {
        match self {
            Role::Validator => "validate",
            Role::Admission => "evaluate",
            Role::Resolver => "resolve",
        }
    }
}

/// One module, compiled to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// The module's crate name, e.g. `default-validator`.
    pub name: &'static str,
    /// The role it is meant to be loaded as (for hostile modules: the role the tests
    /// load it under, which it may violate on purpose).
    pub role: Role,
    /// The component's bytes.
    pub bytes: &'static [u8],
}

macro_rules! artifact {
    ($name:literal, $role:expr) => {
        Artifact {
            name: $name,
            role: $role,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm")),
        }
    };
}

/// Checks every operation kind against the snapshot; returns the canonical effect.
pub const DEFAULT_VALIDATOR: Artifact = artifact!("default-validator", Role::Validator);
/// The seed's sponsored admission criteria.
pub const SPONSORED_ADMISSION: Artifact = artifact!("sponsored-admission", Role::Admission);
/// The seed's authority resolver (unanimity, primary, seed, latent, escalate).
pub const HIERARCHY_RESOLVER: Artifact = artifact!("hierarchy-resolver", Role::Resolver);
/// Accepts only unanimity, otherwise escalates (a distinguishable second resolver).
pub const STRICT_RESOLVER: Artifact = artifact!("strict-resolver", Role::Resolver);
/// The compute example: outlier-filtered median of price reports.
pub const MEDIAN_PRICE: Artifact = artifact!("median-price", Role::Validator);
/// Hostile: an infinite loop (ends by fuel exhaustion).
pub const HOSTILE_LOOP: Artifact = artifact!("hostile-loop", Role::Validator);
/// Hostile: grows its memory without bound.
pub const HOSTILE_MEMORY_BOMB: Artifact = artifact!("hostile-memory-bomb", Role::Validator);
/// Hostile: unbounded recursion.
pub const HOSTILE_RECURSION: Artifact = artifact!("hostile-recursion", Role::Validator);
/// Hostile: traps (a panic, compiled to `unreachable`).
pub const HOSTILE_TRAP: Artifact = artifact!("hostile-trap", Role::Validator);
/// Hostile: returns a 64 MiB result, or the largest it can allocate.
pub const HOSTILE_OVERSIZED: Artifact = artifact!("hostile-oversized", Role::Validator);
/// Hostile: an admission verdict whose reasons all alias one 8 MiB buffer (or 10,000
/// empty reasons, for a candidate named "empty").
pub const HOSTILE_ALIASED_REASONS: Artifact = artifact!("hostile-aliased-reasons", Role::Admission);
/// Hostile: exports the resolver world but is loaded as a validator.
pub const HOSTILE_WRONG_WORLD: Artifact = artifact!("hostile-wrong-world", Role::Validator);
/// Hostile: a validator that also imports `wasi:sockets/tcp`, `wasi:filesystem/types`
/// and `evil:net/exfil`, which the host does not provide.
pub const HOSTILE_FOREIGN_IMPORTS: Artifact = artifact!("hostile-foreign-imports", Role::Validator);
/// Hostile: logs 10,000 lines of 64 KiB, or looks up a 16 MiB parameter key 1,000 times.
pub const HOSTILE_HOST_ABUSE: Artifact = artifact!("hostile-host-abuse", Role::Validator);

include!(concat!(env!("OUT_DIR"), "/c_twin.rs"));

/// Every artifact: default modules, the compute example (and its C twin, if built),
/// then the hostile modules.
pub fn all() -> Vec<Artifact> {
    let mut all = vec![
        DEFAULT_VALIDATOR,
        SPONSORED_ADMISSION,
        HIERARCHY_RESOLVER,
        STRICT_RESOLVER,
        MEDIAN_PRICE,
    ];
    all.extend(median_price_c());
    all.extend([
        HOSTILE_LOOP,
        HOSTILE_MEMORY_BOMB,
        HOSTILE_RECURSION,
        HOSTILE_TRAP,
        HOSTILE_OVERSIZED,
        HOSTILE_ALIASED_REASONS,
        HOSTILE_WRONG_WORLD,
        HOSTILE_FOREIGN_IMPORTS,
        HOSTILE_HOST_ABUSE,
    ]);
    all
}

/// The artifact called `name` (e.g. `"median-price"`), if any.
pub fn by_name(name: &str) -> Option<Artifact> {
    all().into_iter().find(|a| a.name == name)
}
