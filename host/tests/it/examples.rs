//! The example inputs of `spore module run` (host/examples/inputs/) parse and match the
//! built-in samples. Regenerate them with `SPORE_WRITE_EXAMPLES=1 cargo test -p spore
//! --test it examples`.

use std::path::PathBuf;

use spore::core::ops::{NodeAdmission, Operation};
use spore::modules::convert::SnapshotSpec;
use spore::modules::{ResolverInput, samples};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/inputs")
}

fn check_or_write<T>(name: &str, value: &T) -> anyhow::Result<()>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let path = dir().join(name);
    if std::env::var_os("SPORE_WRITE_EXAMPLES").is_some() {
        std::fs::create_dir_all(dir())?;
        std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")?;
    }
    let text = std::fs::read_to_string(&path)?;
    let parsed: T = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} does not parse: {e}", path.display()))?;
    assert_eq!(&parsed, value, "{} is out of date", path.display());
    Ok(())
}

#[test]
fn example_inputs_parse_and_match_the_samples() -> anyhow::Result<()> {
    let ops = samples::operations();
    check_or_write::<Operation>("validator-compute.json", &samples::compute_op())?;
    check_or_write::<Operation>("validator-trust-modification.json", &ops[1])?;
    check_or_write::<Operation>("validator-network-config-change.json", &ops[0])?;
    check_or_write::<Operation>(
        "validator-unknown-node.json",
        &samples::invalid_operations()[0],
    )?;
    check_or_write::<NodeAdmission>("admission.json", &samples::admission_request())?;
    check_or_write::<ResolverInput>("resolver.json", &samples::resolver_split())?;
    let snapshot = SnapshotSpec::from_view(&samples::snapshot()).map_err(anyhow::Error::msg)?;
    check_or_write::<SnapshotSpec>("snapshot.json", &snapshot)?;
    // The file's snapshot is the sample snapshot.
    assert_eq!(&snapshot.to_view(), samples::snapshot().as_ref());
    Ok(())
}
