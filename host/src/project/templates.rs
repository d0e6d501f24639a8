//! The starter projects `spore module new` writes: one per language and role, each a
//! small working module with a native test of its logic.
//!
//! # Design
//! The files are this repository's own, embedded at compile time: the WIT package
//! (`wit/`), the guest SDK (`guest-sdk/src`, for Rust), the C runtime and freestanding
//! headers of the C twin (`modules/median-price-c`), and the role templates under
//! `host/templates/`. Placeholders `{{name}}`, `{{role}}`, `{{lang}}`, `{{rust}}` (the
//! pinned toolchain), `{{spore}}` and `{{wit_bindgen}}` are filled in. Unit tests check
//! that the embedded lists match the directories, so a file added there is not
//! forgotten here.

use std::fs;
use std::path::Path;

use super::manifest::{self, Lang};
use super::{ProjectError, io};
use crate::modules::Role;

/// The wit-bindgen release the SDK is generated with (the workspace's; a test checks
/// it against `Cargo.lock`).
pub const WIT_BINDGEN: &str = "0.60.0";

/// The WIT package, as `(file name, contents)`.
pub const WIT: &[(&str, &str)] = &[
    ("host.wit", include_str!("../../../wit/host.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

/// The guest SDK's sources, as `(file name, contents)`.
const SDK: &[(&str, &str)] = &[
    ("arena.rs", include_str!("../../../guest-sdk/src/arena.rs")),
    (
        "bindings.rs",
        include_str!("../../../guest-sdk/src/bindings.rs"),
    ),
    (
        "export.rs",
        include_str!("../../../guest-sdk/src/export.rs"),
    ),
    ("ext.rs", include_str!("../../../guest-sdk/src/ext.rs")),
    ("host.rs", include_str!("../../../guest-sdk/src/host.rs")),
    ("lib.rs", include_str!("../../../guest-sdk/src/lib.rs")),
    (
        "testing.rs",
        include_str!("../../../guest-sdk/src/testing.rs"),
    ),
    (
        "worlds.rs",
        include_str!("../../../guest-sdk/src/worlds.rs"),
    ),
];

const TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");

const MANIFEST: &str = include_str!("../../templates/common/spore-module.toml");
const README: &str = include_str!("../../templates/common/README.md");
const GITIGNORE: &str = include_str!("../../templates/common/gitignore");

const RUST_CARGO: &str = include_str!("../../templates/rust/Cargo.toml");
const RUST_TOOLCHAIN: &str = include_str!("../../templates/rust/rust-toolchain.toml");
const RUST_SDK_CARGO: &str = include_str!("../../templates/rust/sdk-Cargo.toml");
const RUST_VALIDATOR: &str = include_str!("../../templates/rust/validator.rs");
const RUST_ADMISSION: &str = include_str!("../../templates/rust/admission.rs");
const RUST_RESOLVER: &str = include_str!("../../templates/rust/resolver.rs");

const C_LOGIC: &str = include_str!("../../templates/c/logic.h");
const C_TEST: &str = include_str!("../../templates/c/test.c");
const C_VALIDATOR: &str = include_str!("../../templates/c/validator.c");
const C_ADMISSION: &str = include_str!("../../templates/c/admission.c");
const C_RESOLVER: &str = include_str!("../../templates/c/resolver.c");
const C_RUNTIME: &str = include_str!("../../../modules/median-price-c/src/runtime.c");
const C_STDLIB: &str = include_str!("../../../modules/median-price-c/include/stdlib.h");
const C_STRING: &str = include_str!("../../../modules/median-price-c/include/string.h");

/// The Rust toolchain channel this build of Spore pins (`rust-toolchain.toml`).
pub fn rust_channel() -> &'static str {
    channel_in(TOOLCHAIN).unwrap_or("stable")
}

/// The channel a project's `rust-toolchain.toml` pins, if it has one.
pub fn rust_channel_of(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("rust-toolchain.toml")).ok()?;
    channel_in(&text).map(str::to_owned)
}

/// The `channel = "..."` value of a `rust-toolchain.toml` text.
fn channel_in(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "channel").then(|| value.trim().trim_matches('"'))
    })
}

/// The files of a new project, as `(relative path, contents)`, placeholders filled.
pub fn files(name: &str, role: Role, lang: Lang) -> Result<Vec<(String, String)>, ProjectError> {
    manifest::check_name(name)?;
    let lang_title = match lang {
        Lang::Rust => "Rust",
        Lang::C => "C",
        Lang::Js => "JavaScript",
        Lang::Python => "Python",
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{role}}", role.world())
            .replace("{{lang}}", lang.name())
            .replace("{{lang_title}}", lang_title)
            .replace("{{rust}}", rust_channel())
            .replace("{{spore}}", env!("CARGO_PKG_VERSION"))
            .replace("{{wit_bindgen}}", WIT_BINDGEN)
    };
    let mut out = vec![
        (manifest::FILE.to_owned(), fill(MANIFEST)),
        ("README.md".to_owned(), fill(README)),
        (".gitignore".to_owned(), fill(GITIGNORE)),
    ];
    for (file, text) in WIT {
        out.push((format!("wit/{file}"), (*text).to_owned()));
    }
    let by_role = |v: &'static str, a: &'static str, r: &'static str| match role {
        Role::Validator => v,
        Role::Admission => a,
        Role::Resolver => r,
    };
    match lang {
        Lang::Rust => {
            out.push(("Cargo.toml".into(), fill(RUST_CARGO)));
            out.push(("rust-toolchain.toml".into(), fill(RUST_TOOLCHAIN)));
            out.push(("sdk/Cargo.toml".into(), fill(RUST_SDK_CARGO)));
            for (file, text) in SDK {
                out.push((format!("sdk/src/{file}"), (*text).to_owned()));
            }
            let lib = by_role(RUST_VALIDATOR, RUST_ADMISSION, RUST_RESOLVER);
            out.push(("src/lib.rs".into(), fill(lib)));
        }
        Lang::C => {
            let module = by_role(C_VALIDATOR, C_ADMISSION, C_RESOLVER);
            out.push(("src/module.c".into(), fill(module)));
            out.push(("src/logic.h".into(), fill(C_LOGIC)));
            out.push(("src/runtime.c".into(), C_RUNTIME.to_owned()));
            out.push(("include/stdlib.h".into(), C_STDLIB.to_owned()));
            out.push(("include/string.h".into(), C_STRING.to_owned()));
            out.push(("tests/test.c".into(), fill(C_TEST)));
        }
        Lang::Js | Lang::Python => {
            for (path, text) in super::script::templates(role, lang) {
                out.push((path, fill(&text)));
            }
        }
    }
    Ok(out)
}

/// Write a new project for `name` into `dir` (created; it must not exist or be empty).
pub fn create(dir: &Path, name: &str, role: Role, lang: Lang) -> Result<(), ProjectError> {
    let files = files(name, role, lang)?;
    if dir.exists() {
        let empty = fs::read_dir(dir)
            .map_err(io("reading", dir))?
            .next()
            .is_none();
        if !empty {
            return Err(ProjectError::Exists(dir.to_path_buf()));
        }
    }
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        fs::write(&path, text).map_err(io("writing", &path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &str, ext: &str) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        let mut names: Vec<String> = fs::read_dir(&root)
            .expect("read dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(ext))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn embedded_lists_match_the_directories() {
        let sdk: Vec<String> = SDK.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(sdk, names_in("guest-sdk/src", ".rs"));
        let wit: Vec<String> = WIT.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(wit, names_in("wit", ".wit"));
        let lock = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
            .expect("Cargo.lock");
        assert!(
            lock.contains(&format!(
                "name = \"wit-bindgen\"\nversion = \"{WIT_BINDGEN}\""
            )),
            "WIT_BINDGEN must be the workspace's wit-bindgen"
        );
        assert_eq!(rust_channel(), "1.95.0");
    }

    #[test]
    fn every_template_is_filled_and_new_refuses_to_overwrite() {
        for lang in [Lang::Rust, Lang::C, Lang::Js, Lang::Python] {
            for role in Role::ALL {
                let files = files("demo-mod", role, lang).expect("files");
                for (path, text) in &files {
                    assert!(
                        !text.contains("{{"),
                        "{path} ({lang:?}, {role}) has a placeholder"
                    );
                }
                assert!(files.iter().any(|(p, _)| p == manifest::FILE));
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("p");
        create(&project, "p", Role::Validator, Lang::Rust).expect("create");
        let manifest = super::super::Manifest::load(&project).expect("manifest");
        assert_eq!(manifest.module.lang, Lang::Rust);
        let err = create(&project, "p", Role::Validator, Lang::C).expect_err("exists");
        assert!(matches!(err, ProjectError::Exists(_)), "{err}");
        assert!(matches!(
            create(&dir.path().join("q"), "Bad Name", Role::Validator, Lang::C),
            Err(ProjectError::Name(_))
        ));
    }
}
