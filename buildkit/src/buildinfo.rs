//! The build information a reproducible module build records in its component: a
//! custom section named [`SECTION`] appended at the component's top level.
//!
//! # Format
//! UTF-8 text, one `key = value` line per entry, keys sorted and unique, values on one
//! line (newlines are replaced by spaces when recorded). Typical keys: `lang`, `role`,
//! `name`, `source-digest` (see [`crate::digest`]), one key per toolchain component
//! (`rustc`, `zig`, `wit-bindgen`, ...) and `spore` (the version of the `spore` binary
//! that built it). The section is part of the component's bytes, hence of its hash: a
//! rebuild confirms the hash only if it used the same sources and toolchains.
//!
//! A node ignores the section; `spore module check` and `spore module propose` print it.

use std::collections::BTreeMap;

use wasmparser::{Parser, Payload};

/// The custom section's name.
pub const SECTION: &str = "spore-build";

/// Build information: sorted `key = value` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    entries: BTreeMap<String, String>,
}

impl BuildInfo {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `key = value` (replacing an earlier value); line breaks in either become
    /// spaces and `=` in the key becomes `-`, so the text form stays one line per entry.
    pub fn set(&mut self, key: &str, value: impl AsRef<str>) -> &mut Self {
        let key = one_line(key).replace('=', "-").trim().to_owned();
        let value = one_line(value.as_ref()).trim().to_owned();
        self.entries.insert(key, value);
        self
    }

    /// The value recorded for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Entries in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The section's payload.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.entries {
            out.push_str(key);
            out.push_str(" = ");
            out.push_str(value);
            out.push('\n');
        }
        out
    }

    /// Parse a payload; `None` if it is not UTF-8 or a line is not `key = value`.
    pub fn from_text(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?;
        let mut info = Self::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once(" = ")?;
            info.entries
                .insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Some(info)
    }

    /// `component` with this information appended as a top-level custom section.
    pub fn append_to(&self, component: &[u8]) -> Vec<u8> {
        let name = SECTION.as_bytes();
        let payload = self.to_text();
        let mut body = Vec::with_capacity(name.len() + payload.len() + 10);
        leb128(&mut body, name.len());
        body.extend_from_slice(name);
        body.extend_from_slice(payload.as_bytes());
        let mut out = Vec::with_capacity(component.len() + body.len() + 6);
        out.extend_from_slice(component);
        out.push(0); // custom section id
        leb128(&mut out, body.len());
        out.extend_from_slice(&body);
        out
    }

    /// The build information recorded at the top level of `bytes` (a component or a
    /// core module), if any; the last such section wins. `None` for bytes that do not
    /// parse, too.
    pub fn read(bytes: &[u8]) -> Option<Self> {
        let mut depth = 0usize;
        let mut found = None;
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.ok()? {
                Payload::Version { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::CustomSection(section) if depth == 1 && section.name() == SECTION => {
                    found = Some(Self::from_text(section.data())?);
                }
                _ => {}
            }
        }
        found
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Unsigned LEB128, as the wasm binary format encodes sizes.
fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble of the component binary format.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn appended_section_reads_back_and_validates() {
        let mut info = BuildInfo::new();
        info.set("lang", "rust")
            .set("rustc", "rustc 1.95.0 (abc 2026-01-01)\n")
            .set("source-digest", "00ff");
        let bytes = info.append_to(EMPTY_COMPONENT);
        assert_eq!(BuildInfo::read(&bytes), Some(info.clone()));
        assert_eq!(info.get("rustc"), Some("rustc 1.95.0 (abc 2026-01-01)"));
        let mut validator = wasmparser::Validator::new_with_features(
            wasmparser::WasmFeatures::default() | wasmparser::WasmFeatures::COMPONENT_MODEL,
        );
        validator
            .validate_all(&bytes)
            .expect("a component with the section appended is valid");
        // Control: without the section there is nothing to read.
        assert_eq!(BuildInfo::read(EMPTY_COMPONENT), None);
    }

    #[test]
    fn text_form_is_sorted_and_total() {
        let mut info = BuildInfo::new();
        info.set("b", "2").set("a", "1").set("k=x", "v");
        assert_eq!(info.to_text(), "a = 1\nb = 2\nk-x = v\n");
        assert_eq!(BuildInfo::from_text(b"no separator"), None);
        assert_eq!(BuildInfo::from_text(&[0xff, 0xfe]), None);
        assert_eq!(BuildInfo::read(b"not wasm"), None);
    }

    #[test]
    fn long_payloads_use_multibyte_sizes() {
        let mut info = BuildInfo::new();
        info.set("long", "x".repeat(300));
        let bytes = info.append_to(EMPTY_COMPONENT);
        assert_eq!(BuildInfo::read(&bytes), Some(info));
    }
}
