//! On-disk cache of compiled module artifacts, keyed by module hash and engine
//! compatibility hash, with an integrity record beside every artifact.
//!
//! # Layout
//! For module `H` and engine compatibility hash `E` the cache holds
//! `<dir>/<H>-<E[..16]>.cwasm` (wasmtime's serialized component) and
//! `<dir>/<H>-<E[..16]>.sha256`, a small record naming the module hash, the full engine hash
//! and the SHA-256 of the `.cwasm` bytes, and an HMAC-SHA256 of those three lines under
//! the cache's key.
//!
//! # Trust
//! A serialized artifact is native code: loading it is `unsafe` and only sound for bytes
//! wasmtime itself produced. The cache therefore never trusts what it finds: it reads the
//! artifact into memory, checks its SHA-256 and the record's module/engine hashes, and only
//! then hands those same in-memory bytes to wasmtime (no re-read, no TOCTOU). Any mismatch is
//! reported as [`LoadError::CacheTampered`]; the registry then recompiles from the module's
//! (hash-verified) source and overwrites the entry. An artifact from another engine or host
//! version lives under another name, or fails wasmtime's own compatibility check, and is
//! recompiled likewise.
//!
//! A node keys its cache with a secret derived from its own node key
//! ([`CacheKey::of_node`]), so a record cannot be forged without that key: someone who can
//! write the directory but not read the node's key file can at most make the node
//! recompile. The directory is created owner-only (mode 0700) and set so again on every
//! open; a directory owned by another user is refused. Tools without a node key use
//! [`CacheKey::UNKEYED`], which detects corruption only.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use spore_core::crypto::sha256;
use spore_core::types::Digest;
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;

/// Most compiled artifacts a cache keeps (the least recently written go first).
pub const MAX_ARTIFACTS: usize = 256;

/// Most bytes of compiled artifacts a cache keeps (the least recently written go first;
/// the one just written always stays). Without it, 256 artifacts of modules at the size
/// cap, each up to [`super::compile::MAX_ARTIFACT_BYTES`], could fill 64 GiB of a node's
/// disk with candidates a proposer sent for trials.
pub const MAX_CACHE_BYTES: u64 = 4 << 30;

/// The secret the integrity records are keyed with.
#[derive(Clone)]
pub struct CacheKey([u8; 32]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

impl CacheKey {
    /// A fixed, public key: the record then detects corruption, not forgery.
    pub const UNKEYED: CacheKey = CacheKey([0; 32]);

    /// The key of a node's cache, derived from its node key (never the key itself).
    pub fn of_node(key: &spore_core::crypto::Keypair) -> CacheKey {
        let seed = key.seed();
        CacheKey(spore_core::crypto::sha256_parts(&[b"spore/artifact-cache-key/v1", &seed]).0)
    }
}

/// The artifact cache of one engine.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_hash: String,
    key: CacheKey,
}

/// What the cache found for a module.
pub enum CacheLookup {
    /// A verified artifact, deserialized.
    Hit(Component),
    /// Nothing cached for this module and engine.
    Miss,
    /// An entry exists but wasmtime refused it (another engine or host version).
    Stale(String),
}

impl ArtifactCache {
    /// Open (creating if needed) the cache directory for artifacts of `engine`, whose
    /// compatibility hash is `engine_hash`.
    pub fn open(
        dir: impl Into<PathBuf>,
        engine_hash: String,
        key: CacheKey,
    ) -> Result<Self, LoadError> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let dir = dir.into();
        let io = |source| LoadError::CacheIo {
            path: dir.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io)?;
        let meta = fs::metadata(&dir).map_err(io)?;
        if meta.uid() != rustix::process::geteuid().as_raw() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the artifact cache directory belongs to another user",
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        Ok(Self {
            dir,
            engine_hash,
            key,
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the compiled artifact of `module`.
    pub fn artifact_path(&self, module: &Digest) -> PathBuf {
        self.dir.join(format!("{}.cwasm", self.stem(module)))
    }

    /// Path of the integrity record of `module`'s artifact.
    pub fn record_path(&self, module: &Digest) -> PathBuf {
        self.dir.join(format!("{}.sha256", self.stem(module)))
    }

    fn stem(&self, module: &Digest) -> String {
        let engine = self.engine_hash.get(..16).unwrap_or(&self.engine_hash);
        format!("{}-{engine}", module.to_hex())
    }

    fn record_text(&self, module: &Digest, artifact: &Digest) -> String {
        let body = format!(
            "module {}\nengine {}\nartifact-sha256 {}\n",
            module.to_hex(),
            self.engine_hash,
            artifact.to_hex()
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.key.0);
        let tag = ring::hmac::sign(&key, body.as_bytes());
        format!("{body}hmac-sha256 {}\n", hex::encode(tag.as_ref()))
    }

    /// Look `module` up; verify before deserializing.
    pub fn lookup(&self, engine: &Engine, module: &Digest) -> Result<CacheLookup, LoadError> {
        let path = self.artifact_path(module);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(CacheLookup::Miss),
            Err(source) => return Err(LoadError::CacheIo { path, source }),
        };
        let record_path = self.record_path(module);
        let record = match fs::read_to_string(&record_path) {
            Ok(text) => text,
            Err(err) => {
                return Err(LoadError::CacheTampered {
                    path,
                    reason: format!("integrity record unreadable: {err}"),
                });
            }
        };
        let actual = sha256(&bytes);
        if record != self.record_text(module, &actual) {
            return Err(LoadError::CacheTampered {
                path,
                reason: format!(
                    "the artifact hashes to {actual}, which its integrity record does not attest"
                ),
            });
        }
        match deserialize_verified(engine, &bytes) {
            Ok(component) => Ok(CacheLookup::Hit(component)),
            Err(err) => Ok(CacheLookup::Stale(format!("{err:#}"))),
        }
    }

    /// Store the compiled `component` of `module` with its integrity record. Both files are
    /// written to temporary names and renamed, so a crash never leaves a torn entry.
    pub fn store(&self, module: &Digest, component: &Component) -> Result<(), LoadError> {
        let artifact = component
            .serialize()
            .map_err(|err| LoadError::Invalid(format!("cannot serialize artifact: {err:#}")))?;
        let digest = sha256(&artifact);
        let path = self.artifact_path(module);
        write_atomically(&path, &artifact)?;
        write_atomically(
            &self.record_path(module),
            self.record_text(module, &digest).as_bytes(),
        )?;
        self.prune(&path);
        Ok(())
    }

    /// Keep at most [`MAX_ARTIFACTS`] artifacts of at most [`MAX_CACHE_BYTES`] together:
    /// past either, the least recently written go (never `kept`, the one just written).
    /// Every module a proposer sends for a trial is compiled and cached; unpruned, a
    /// proposer sending many distinct candidates grew the directory without end. A pruned
    /// artifact is compiled again when needed.
    fn prune(&self, kept: &Path) {
        self.prune_within(kept, MAX_ARTIFACTS, MAX_CACHE_BYTES);
    }

    fn prune_within(&self, kept: &Path, max_count: usize, max_bytes: u64) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut artifacts: Vec<(std::time::SystemTime, PathBuf, u64)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm") && p != kept)
            .filter_map(|p| {
                let meta = fs::metadata(&p).ok()?;
                Some((meta.modified().ok()?, p, meta.len()))
            })
            .collect();
        let kept_bytes = fs::metadata(kept).map_or(0, |m| m.len());
        let mut bytes = artifacts
            .iter()
            .fold(kept_bytes, |sum, (_, _, len)| sum.saturating_add(*len));
        let mut count = artifacts.len() + 1;
        if count <= max_count && bytes <= max_bytes {
            return;
        }
        artifacts.sort();
        for (_, path, len) in artifacts {
            if count <= max_count && bytes <= max_bytes {
                break;
            }
            let _ = fs::remove_file(path.with_extension("sha256"));
            let _ = fs::remove_file(&path);
            count -= 1;
            bytes = bytes.saturating_sub(len);
        }
    }

    /// Remove the entry of `module` (both files), ignoring absent files.
    pub fn evict(&self, module: &Digest) {
        let _ = fs::remove_file(self.artifact_path(module));
        let _ = fs::remove_file(self.record_path(module));
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let io = |source| LoadError::CacheIo {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// Deserialize an artifact whose bytes were just verified against the integrity record.
#[allow(unsafe_code)]
fn deserialize_verified(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` requires bytes produced by `Component::serialize` of
    // a compatible wasmtime. `bytes` are exactly the in-memory bytes whose SHA-256 was
    // checked against the record this cache wrote beside the artifact it serialized itself,
    // and wasmtime additionally checks the header (version, target, engine flags) and
    // rejects an incompatible artifact with an error rather than loading it.
    unsafe { Component::deserialize(engine, bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path of test artifact `i`.
    fn artifact(cache: &ArtifactCache, i: u64) -> PathBuf {
        cache.artifact_path(&sha256(&i.to_le_bytes()))
    }

    /// A cache in a fresh directory holding `n` artifacts of `bytes`, each with a record,
    /// written in order one second apart (the newest is `n - 1`).
    fn filled(n: u64, bytes: &[u8]) -> Result<(tempfile::TempDir, ArtifactCache), LoadError> {
        let dir = tempfile::tempdir().map_err(|source| LoadError::CacheIo {
            path: PathBuf::new(),
            source,
        })?;
        let cache = ArtifactCache::open(dir.path(), "e".repeat(64), CacheKey::UNKEYED)?;
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        for i in 0..n {
            let path = artifact(&cache, i);
            write_atomically(&path, bytes)?;
            write_atomically(&path.with_extension("sha256"), b"record")?;
            let file = fs::File::options()
                .write(true)
                .open(&path)
                .map_err(|source| LoadError::CacheIo {
                    path: path.clone(),
                    source,
                })?;
            let _ = file.set_modified(old + std::time::Duration::from_secs(i));
        }
        Ok((dir, cache))
    }

    /// Past `MAX_ARTIFACTS`, the least recently written artifacts go with their records;
    /// the one just written stays whatever its time. Control: unpruned, all 300 stayed.
    #[test]
    fn the_cache_keeps_a_bounded_number_of_artifacts() -> Result<(), LoadError> {
        let (dir, cache) = filled(300, b"artifact")?;
        let kept = cache.artifact_path(&sha256(&0u64.to_le_bytes()));
        cache.prune(&kept);
        let count = |ext: &str| {
            fs::read_dir(dir.path())
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                        .count()
                })
                .unwrap_or(0)
        };
        assert_eq!(count("cwasm"), MAX_ARTIFACTS);
        assert_eq!(count("sha256"), MAX_ARTIFACTS);
        assert!(kept.exists(), "the one just written stays");
        assert!(!cache.artifact_path(&sha256(&1u64.to_le_bytes())).exists());
        assert!(cache.artifact_path(&sha256(&299u64.to_le_bytes())).exists());
        Ok(())
    }

    /// Past the byte bound, the least recently written artifacts go until the rest fit,
    /// the one just written staying whatever its time (control: by count alone, all 20
    /// of 1,000 bytes stay under a bound of 5,500).
    #[test]
    fn the_cache_keeps_a_bounded_number_of_bytes() -> Result<(), LoadError> {
        let (_dir, cache) = filled(20, &[0u8; 1_000])?;
        let path = |i: u64| artifact(&cache, i);
        cache.prune_within(&path(0), MAX_ARTIFACTS, 5_500);
        let left: Vec<u64> = (0..20).filter(|i| path(*i).exists()).collect();
        assert_eq!(left, [0, 16, 17, 18, 19]);
        assert!(!path(5).with_extension("sha256").exists());
        Ok(())
    }
}
