//! Every artifact is a valid component, and each one exports and imports exactly what
//! its role says (or, for the hostile ones, exactly the violation it is built for).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use spore_artifacts::{Artifact, Role};
use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldItem};

/// The interfaces a Spore host provides.
const HOST_INTERFACES: [&str; 3] = [
    "spore:policy/log@0.1.0",
    "spore:policy/snapshot@0.1.0",
    "spore:policy/types@0.1.0",
];

/// Imports and exports of a component, as WIT names.
struct Shape {
    imports: BTreeSet<String>,
    exports: BTreeSet<String>,
    /// Parameter names of each exported function.
    export_params: Vec<(String, Vec<String>)>,
}

fn shape(artifact: &Artifact) -> Result<Shape> {
    let decoded = wit_component::decode(artifact.bytes)
        .with_context(|| format!("decoding {}", artifact.name))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        bail!("{} is a WIT package, not a component", artifact.name);
    };
    let world = &resolve.worlds[world];
    let imports = world
        .imports
        .iter()
        .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
        .map(|(key, _)| resolve.name_world_key(key))
        .collect();
    let exports = world
        .exports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .collect();
    let export_params = world
        .exports
        .iter()
        .filter_map(|(key, item)| match item {
            WorldItem::Function(f) => Some((
                resolve.name_world_key(key),
                f.params.iter().map(|p| p.name.clone()).collect(),
            )),
            _ => None,
        })
        .collect();
    Ok(Shape {
        imports,
        exports,
        export_params,
    })
}

/// Parameter names of the export of `role`'s world in `wit/`.
fn expected_params(role: Role) -> Result<Vec<String>> {
    let mut resolve = Resolve::default();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    let (pkg, _) = resolve.push_dir(&wit)?;
    let world = resolve.select_world(&[pkg], Some(role.world()))?;
    for (key, item) in &resolve.worlds[world].exports {
        if let WorldItem::Function(f) = item
            && resolve.name_world_key(key) == role.export()
        {
            return Ok(f.params.iter().map(|p| p.name.clone()).collect());
        }
    }
    bail!("world {} has no export {}", role.world(), role.export())
}

fn only(name: &str) -> BTreeSet<String> {
    BTreeSet::from([name.to_owned()])
}

fn host_interfaces() -> BTreeSet<String> {
    HOST_INTERFACES.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_artifact_is_a_valid_component() -> Result<()> {
    for artifact in spore_artifacts::all() {
        assert!(
            wasmparser::Parser::is_component(artifact.bytes),
            "{} is not a component",
            artifact.name
        );
        let mut validator =
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
        validator
            .validate_all(artifact.bytes)
            .with_context(|| format!("validating {}", artifact.name))?;
    }
    Ok(())
}

#[test]
fn well_behaved_modules_export_exactly_their_world() -> Result<()> {
    let mut well_behaved = vec![
        spore_artifacts::DEFAULT_VALIDATOR,
        spore_artifacts::SPONSORED_ADMISSION,
        spore_artifacts::HIERARCHY_RESOLVER,
        spore_artifacts::STRICT_RESOLVER,
        spore_artifacts::MEDIAN_PRICE,
        // Misbehave at run time only: their interface is a plain validator's.
        spore_artifacts::HOSTILE_LOOP,
        spore_artifacts::HOSTILE_MEMORY_BOMB,
        spore_artifacts::HOSTILE_RECURSION,
        spore_artifacts::HOSTILE_TRAP,
        spore_artifacts::HOSTILE_OVERSIZED,
    ];
    well_behaved.extend(spore_artifacts::median_price_c());
    for artifact in well_behaved {
        let shape = shape(&artifact)?;
        assert_eq!(
            shape.exports,
            only(artifact.role.export()),
            "exports of {}",
            artifact.name
        );
        assert_eq!(
            shape.export_params,
            vec![(
                artifact.role.export().to_owned(),
                expected_params(artifact.role)?
            )],
            "signature of {}",
            artifact.name
        );
        assert!(
            shape.imports.is_subset(&host_interfaces()),
            "{} imports {:?}, beyond the host interfaces",
            artifact.name,
            shape.imports
        );
    }
    Ok(())
}

#[test]
fn wrong_world_exports_the_resolver_world() -> Result<()> {
    let artifact = spore_artifacts::HOSTILE_WRONG_WORLD;
    assert_eq!(artifact.role, Role::Validator);
    let shape = shape(&artifact)?;
    assert_eq!(shape.exports, only("resolve"));
    Ok(())
}

#[test]
fn foreign_imports_are_really_imported() -> Result<()> {
    let shape = shape(&spore_artifacts::HOSTILE_FOREIGN_IMPORTS)?;
    assert_eq!(shape.exports, only("validate"));
    for foreign in [
        "wasi:sockets/tcp@0.2.0",
        "wasi:filesystem/types@0.2.0",
        "evil:net/exfil",
    ] {
        assert!(
            shape.imports.contains(foreign),
            "missing import {foreign}: {:?}",
            shape.imports
        );
    }
    Ok(())
}

#[test]
fn names_are_unique_and_found_by_name() {
    let all = spore_artifacts::all();
    let names: BTreeSet<&str> = all.iter().map(|a| a.name).collect();
    assert_eq!(names.len(), all.len());
    for artifact in &all {
        assert_eq!(spore_artifacts::by_name(artifact.name), Some(*artifact));
    }
    assert_eq!(spore_artifacts::by_name("no-such-module"), None);
}
