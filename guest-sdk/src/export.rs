//! Macros that export a [`crate::Validator`], [`crate::Admission`] or
//! [`crate::Resolver`] implementation as the component's world.
//!
//! # Design
//! Each macro wraps the type in a private adapter implementing the `Guest` trait that
//! `wit-bindgen` generated for the world, passing [`crate::WitHost`] as the host, and
//! invokes wit-bindgen's export macro for that world. The expansion is gated on
//! `target_arch = "wasm32"`: natively a module crate is just a library, so it can be
//! unit-tested and used as a dependency without clashing export symbols.
//!
//! Invoke exactly one of them, once, in the crate that becomes the component.

/// Export a [`Validator`](crate::Validator) as the component's `validator` world.
///
/// ```ignore
/// pub struct MyValidator;
/// impl spore_guest::Validator for MyValidator { /* ... */ }
/// spore_guest::export_validator!(MyValidator);
/// ```
#[macro_export]
macro_rules! export_validator {
    ($ty:ty) => {
        // The canonical-ABI entry points wit-bindgen generates are `unsafe extern "C"`.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct __SporeValidatorExport;
            impl $crate::__private::ValidatorGuest for __SporeValidatorExport {
                fn validate(
                    op: $crate::Operation,
                    ctx: $crate::CallContext,
                ) -> ::core::result::Result<::std::vec::Vec<u8>, $crate::Rejection> {
                    <$ty as $crate::Validator>::validate(&$crate::WitHost, op, ctx)
                }
            }
            $crate::bindings::validator::__spore_export_validator_world!(
                __SporeValidatorExport with_types_in $crate::bindings::validator
            );
        };
    };
}

/// Export an [`Admission`](crate::Admission) as the component's `admission` world.
///
/// ```ignore
/// pub struct MyPolicy;
/// impl spore_guest::Admission for MyPolicy { /* ... */ }
/// spore_guest::export_admission!(MyPolicy);
/// ```
#[macro_export]
macro_rules! export_admission {
    ($ty:ty) => {
        // The canonical-ABI entry points wit-bindgen generates are `unsafe extern "C"`.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct __SporeAdmissionExport;
            impl $crate::__private::AdmissionGuest for __SporeAdmissionExport {
                fn evaluate(
                    request: $crate::NodeAdmission,
                    ctx: $crate::CallContext,
                ) -> $crate::Verdict {
                    <$ty as $crate::Admission>::evaluate(&$crate::WitHost, request, ctx)
                }
            }
            $crate::bindings::admission::__spore_export_admission_world!(
                __SporeAdmissionExport with_types_in $crate::bindings::admission
            );
        };
    };
}

/// Export a [`Resolver`](crate::Resolver) as the component's `resolver` world.
///
/// ```ignore
/// pub struct MyResolver;
/// impl spore_guest::Resolver for MyResolver { /* ... */ }
/// spore_guest::export_resolver!(MyResolver);
/// ```
#[macro_export]
macro_rules! export_resolver {
    ($ty:ty) => {
        // The canonical-ABI entry points wit-bindgen generates are `unsafe extern "C"`.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct __SporeResolverExport;
            impl $crate::__private::ResolverGuest for __SporeResolverExport {
                fn resolve(
                    primary: $crate::LayerResult,
                    seed: $crate::LayerResult,
                    latent: $crate::LayerResult,
                    ctx: $crate::CallContext,
                ) -> $crate::Resolution {
                    <$ty as $crate::Resolver>::resolve(&$crate::WitHost, primary, seed, latent, ctx)
                }
            }
            $crate::bindings::resolver::__spore_export_resolver_world!(
                __SporeResolverExport with_types_in $crate::bindings::resolver
            );
        };
    };
}
