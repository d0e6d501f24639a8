//! The operator CLI as an operator runs it: `spore keygen` (owner-only, no silent
//! overwrite) and `spore genesis new|add-node|sign|verify` (verify fails on a missing or
//! forged signature).

use std::path::Path;
use std::process::{Command, Output};

use spore_cluster_tests::spore_binary;

fn spore(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(spore_binary()?).args(args).output()?)
}

fn keygen(path: &Path) -> anyhow::Result<String> {
    let out = spore(&["keygen", "--out", path.to_str().unwrap_or_default()])?;
    anyhow::ensure!(out.status.success(), "keygen failed: {out:?}");
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

#[test]
fn keygen_writes_an_owner_only_key_and_refuses_to_overwrite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("a.key");
    let id = keygen(&key)?;
    assert_eq!(id.len(), 64, "{id}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    }
    let again = spore(&["keygen", "--out", key.to_str().unwrap_or_default()])?;
    assert!(!again.status.success());
    assert!(std::fs::read_to_string(&key)?.contains(&id));
    let forced = spore(&[
        "keygen",
        "--force",
        "--out",
        key.to_str().unwrap_or_default(),
    ])?;
    assert!(forced.status.success());
    assert!(!std::fs::read_to_string(&key)?.contains(&id));
    Ok(())
}

#[test]
fn genesis_is_built_step_by_step_and_verify_catches_missing_and_forged_signatures()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let g = dir.path().join("genesis.json");
    let g = g.to_str().unwrap_or_default();
    assert!(
        spore(&["genesis", "new", "--chain-id", "t1", "--out", g])?
            .status
            .success()
    );
    let mut keys = Vec::new();
    for i in 0..3 {
        let k = dir.path().join(format!("k{i}"));
        let id = keygen(&k)?;
        let addr = format!("127.0.0.1:{}", 7000 + i);
        let name = format!("n{i}");
        let out = spore(&[
            "genesis",
            "add-node",
            "--file",
            g,
            "--id",
            &id,
            "--name",
            &name,
            "--address",
            &addr,
        ])?;
        assert!(out.status.success(), "{out:?}");
        keys.push(k);
    }
    // Two of three signatures: not valid.
    for k in &keys[..2] {
        let out = spore(&[
            "genesis",
            "sign",
            "--file",
            g,
            "--key",
            k.to_str().unwrap_or_default(),
        ])?;
        assert!(out.status.success(), "{out:?}");
    }
    let out = spore(&["genesis", "verify", "--file", g])?;
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stdout)?.contains("INVALID"));
    let out = spore(&[
        "genesis",
        "sign",
        "--file",
        g,
        "--key",
        keys[2].to_str().unwrap_or_default(),
    ])?;
    assert!(out.status.success());
    let out = spore(&["genesis", "verify", "--file", g])?;
    assert!(out.status.success(), "{out:?}");
    // Change the content after signing (another chain id): every signature is now forged.
    let text = std::fs::read_to_string(g)?;
    std::fs::write(g, text.replace("\"t1\"", "\"t2\""))?;
    let out = spore(&["genesis", "verify", "--file", g])?;
    assert!(!out.status.success(), "a tampered genesis verified");
    Ok(())
}
