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

/// The admission verdict as the module returns it, its reasons counted before they are
/// copied (see [`Capped`]). Matches the `verdict` record of the `admission` world field
/// for field.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(record)]
pub struct RawVerdict {
    /// Admit the candidate?
    pub admit: bool,
    /// The reasons, or how long they were found to be at least.
    pub reasons: Capped<Vec<String>>,
}

/// The most bytes of one output lifted from a module's memory: the top of the range of
/// `timing.max-output-bytes`, so an output within any cluster's cap is copied whole.
pub const MAX_LIFTED_OUTPUT_BYTES: u64 = 1 << 20;

/// A module's output (a validator's result bytes, a rejection's or an escalation's
/// reason, an admission verdict's reasons), lifted from the module's memory only if its
/// length is at most [`MAX_LIFTED_OUTPUT_BYTES`].
///
/// The length is read from the (pointer, length) pair first. Lifted whole, a module
/// returning a pointer to 1 GiB of its memory made the host copy it on every call (a
/// memory the module need not even write: growing it costs a few instructions of fuel),
/// only for the output cap to refuse the copy afterwards. A list of strings is (pointer,
/// length) pairs that may all name the same bytes: lifted whole, 4,096 reasons aliasing
/// one 8 MiB buffer made the host copy until wasmtime's bound on one lift (128 MiB of
/// hostcall fuel) for every such call at once; their lengths are summed from the pairs.
/// The check runs inside the call, before the module's post-return frees the output
/// (reading it after the call through `WasmList` would read freed memory).
pub enum Capped<T> {
    /// Copied.
    Within(T),
    /// Not copied: at least this long, above the bound.
    Over(u64),
}

/// How long, at least, the output at (`ptr`, `len`) in `memory` is, in bytes, if that is
/// above [`MAX_LIFTED_OUTPUT_BYTES`]; `None` within it (or out of bounds: the full lift
/// refuses that).
trait Length {
    fn over_bound(memory: &[u8], ptr: u32, len: u32) -> Option<u64>;
}

/// A string's length word: the top bit tags a compact UTF-16 string; the rest is its
/// length in units, which never exceeds its UTF-8 length.
fn string_units(word: u32) -> u64 {
    u64::from(word & 0x7fff_ffff)
}

impl Length for Vec<u8> {
    fn over_bound(_: &[u8], _: u32, len: u32) -> Option<u64> {
        Some(u64::from(len)).filter(|n| *n > MAX_LIFTED_OUTPUT_BYTES)
    }
}

impl Length for String {
    fn over_bound(_: &[u8], _: u32, len: u32) -> Option<u64> {
        Some(string_units(len)).filter(|n| *n > MAX_LIFTED_OUTPUT_BYTES)
    }
}

impl Length for Vec<String> {
    /// The joined length ("; " between them) of the strings the pairs name.
    fn over_bound(memory: &[u8], ptr: u32, len: u32) -> Option<u64> {
        let start = usize::try_from(ptr).ok()?;
        let count = usize::try_from(len).ok()?;
        let pairs = memory.get(start..start.checked_add(count.checked_mul(8)?)?)?;
        let mut total: u64 = 0;
        for (i, pair) in pairs.chunks_exact(8).enumerate() {
            let mut units = [0u8; 4];
            units.copy_from_slice(&pair[4..8]);
            total = total
                .saturating_add(if i == 0 { 0 } else { 2 })
                .saturating_add(string_units(u32::from_le_bytes(units)));
            if total > MAX_LIFTED_OUTPUT_BYTES {
                return Some(total);
            }
        }
        None
    }
}

macro_rules! capped {
    ($t:ty) => {
        // SAFETY: the same canonical ABI type, size and alignment as `$t`, whose
        // implementation every method defers to.
        unsafe impl wasmtime::component::ComponentType for Capped<$t> {
            type Lower = <$t as wasmtime::component::ComponentType>::Lower;

            const ABI: wasmtime::component::__internal::CanonicalAbiInfo =
                <$t as wasmtime::component::ComponentType>::ABI;

            fn typecheck(
                ty: &wasmtime::component::__internal::InterfaceType,
                types: &wasmtime::component::__internal::InstanceType<'_>,
            ) -> wasmtime::Result<()> {
                <$t as wasmtime::component::ComponentType>::typecheck(ty, types)
            }
        }

        // SAFETY: lifts exactly what `$t` lifts, or nothing (reading only the length
        // and pointer words the canonical ABI handed over, and for a list of strings the
        // bounds-checked pairs).
        unsafe impl wasmtime::component::Lift for Capped<$t> {
            fn linear_lift_from_flat(
                cx: &mut wasmtime::component::__internal::LiftContext<'_>,
                ty: wasmtime::component::__internal::InterfaceType,
                src: &Self::Lower,
            ) -> wasmtime::Result<Self> {
                let (ptr, len) = (src[0].get_u32(), src[1].get_u32());
                if let Some(over) = <$t as Length>::over_bound(cx.memory(), ptr, len) {
                    return Ok(Capped::Over(over));
                }
                <$t as wasmtime::component::Lift>::linear_lift_from_flat(cx, ty, src)
                    .map(Capped::Within)
            }

            fn linear_lift_from_memory(
                cx: &mut wasmtime::component::__internal::LiftContext<'_>,
                ty: wasmtime::component::__internal::InterfaceType,
                bytes: &[u8],
            ) -> wasmtime::Result<Self> {
                let word = |at: usize| {
                    bytes.get(at..at + 4).map(|w| {
                        let mut b = [0u8; 4];
                        b.copy_from_slice(w);
                        u32::from_le_bytes(b)
                    })
                };
                if let (Some(ptr), Some(len)) = (word(0), word(4))
                    && let Some(over) = <$t as Length>::over_bound(cx.memory(), ptr, len)
                {
                    return Ok(Capped::Over(over));
                }
                <$t as wasmtime::component::Lift>::linear_lift_from_memory(cx, ty, bytes)
                    .map(Capped::Within)
            }
        }
    };
}

capped!(Vec<u8>);
capped!(String);
capped!(Vec<String>);

/// A validator's rejection as the module returns it, its reason capped before it is
/// copied. Matches the `rejection` record of `types` field for field.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(record)]
pub struct RawRejection {
    /// The category.
    pub code: types::RejectionCode,
    /// The reason, if within the bound.
    pub reason: Capped<String>,
}

/// A resolver's decision as the module returns it, an escalation's reason capped before
/// it is copied. Matches the `resolution` variant of the `resolver` world case for case.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(variant)]
pub enum RawResolution {
    /// Accept the result of this layer.
    #[component(name = "accept")]
    Accept(types::SporeLayer),
    /// Escalate, with the reason, if within the bound.
    #[component(name = "escalate")]
    Escalate(Capped<String>),
}

/// The `log` host interface.
pub use validator::spore::policy::log as log_iface;
/// The `snapshot` host interface.
pub use validator::spore::policy::snapshot as snapshot_iface;
/// The shared WIT types (`spore:policy/types`).
pub use validator::spore::policy::types;
