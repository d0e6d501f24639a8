//! Node key files: the ed25519 secret seed in hex, written with owner-only permissions.
//!
//! # Layout
//! Two lines of TOML: `node_id = "<hex public key>"` (for humans) and
//! `secret_key = "<hex 32-byte seed>"`. Only the secret is trusted on load; the id is
//! recomputed and checked against it.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use spore_core::crypto::Keypair;

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file exists and overwriting was not asked for.
    #[error("{0} exists (use --force to overwrite)")]
    Exists(String),
    /// Reading or writing failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is not a key file.
    #[error("key file {0} is malformed: {1}")]
    Malformed(String, String),
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    node_id: String,
    secret_key: String,
}

/// Write `key` to `path` with mode 0600; refuses to replace an existing file unless
/// `force`.
pub fn write(path: &Path, key: &Keypair, force: bool) -> Result<(), KeyFileError> {
    let shown = path.display().to_string();
    let io = |source| KeyFileError::Io {
        path: shown.clone(),
        source,
    };
    if path.exists() && !force {
        return Err(KeyFileError::Exists(shown));
    }
    let text = toml::to_string(&KeyFile {
        node_id: key.id().to_hex(),
        secret_key: hex::encode(key.seed()),
    })
    .map_err(|e| KeyFileError::Malformed(shown.clone(), e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        // An existing file keeps its old mode on open: tighten it explicitly.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}

/// Read the key in `path`.
pub fn read(path: &Path) -> Result<Keypair, KeyFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: shown.clone(),
        source,
    })?;
    let file: KeyFile =
        toml::from_str(&text).map_err(|e| KeyFileError::Malformed(shown.clone(), e.to_string()))?;
    let bytes = hex::decode(file.secret_key.trim())
        .map_err(|e| KeyFileError::Malformed(shown.clone(), e.to_string()))?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyFileError::Malformed(shown.clone(), "secret is not 32 bytes".into()))?;
    let key = Keypair::from_seed(seed);
    if key.id().to_hex() != file.node_id.trim().trim_start_matches("0x") {
        return Err(KeyFileError::Malformed(
            shown,
            "node_id does not match the secret key".into(),
        ));
    }
    Ok(key)
}

/// A fresh random key from the operating system's generator.
pub fn generate() -> Keypair {
    Keypair::generate(&mut rand_core::OsRng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_key_reads_back_with_owner_only_mode_and_no_silent_overwrite() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a.key");
        let key = Keypair::from_seed([7; 32]);
        write(&path, &key, false)?;
        assert_eq!(read(&path)?.id(), key.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(matches!(
            write(&path, &Keypair::from_seed([8; 32]), false),
            Err(KeyFileError::Exists(_))
        ));
        assert_eq!(read(&path)?.id(), key.id());
        write(&path, &Keypair::from_seed([8; 32]), true)?;
        assert_eq!(read(&path)?.id(), Keypair::from_seed([8; 32]).id());
        Ok(())
    }

    #[test]
    fn a_tampered_id_is_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("b.key");
        write(&path, &Keypair::from_seed([1; 32]), false)?;
        let text = std::fs::read_to_string(&path)?;
        let other = Keypair::from_seed([2; 32]).id().to_hex();
        let id = Keypair::from_seed([1; 32]).id().to_hex();
        std::fs::write(&path, text.replace(&id, &other))?;
        assert!(matches!(read(&path), Err(KeyFileError::Malformed(..))));
        Ok(())
    }
}
