//! The store's module quota: which blobs an upload may displace.
//!
//! Uploads by authorised keys are the only blobs a node stores unasked, so they are the
//! ones held to a quota (`module_store_mib`). When an upload would exceed it, the blobs
//! nobody needs are collected first: a blob is kept while the replicated state names it
//! (any role's active or previous module: the rollback target), while a pending operation
//! names it (a proposed swap's new module or rollback target), or while it is a recent
//! upload (so that it can still be proposed). If collecting every other blob is not
//! enough, the upload is refused and nothing is deleted.

use std::collections::BTreeSet;

use spore_core::types::Digest;

/// What to delete so that `len` more bytes fit within `quota`, given every stored blob's
/// hash and size and the hashes to keep: nothing when it fits already, every collectable
/// blob when it fits only without them, or the reason it cannot fit.
pub fn to_collect(
    stored: &[(Digest, u64)],
    keep: &BTreeSet<Digest>,
    len: u64,
    quota: u64,
) -> Result<Vec<Digest>, String> {
    let used: u64 = stored.iter().map(|(_, n)| n).sum();
    if used.saturating_add(len) <= quota {
        return Ok(Vec::new());
    }
    let collectable: Vec<&(Digest, u64)> =
        stored.iter().filter(|(h, _)| !keep.contains(h)).collect();
    let freed: u64 = collectable.iter().map(|(_, n)| n).sum();
    if used.saturating_sub(freed).saturating_add(len) > quota {
        return Err(format!(
            "the module store is full: {used} bytes held, {freed} of them unreferenced, \
             {len} more asked, quota {quota} (node setting module_store_mib)"
        ));
    }
    Ok(collectable.into_iter().map(|(h, _)| *h).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest([n; 32])
    }

    #[test]
    fn nothing_is_collected_while_the_upload_fits() {
        let stored = [(d(1), 40), (d(2), 40)];
        assert_eq!(
            to_collect(&stored, &BTreeSet::new(), 20, 100),
            Ok(Vec::new())
        );
    }

    #[test]
    fn only_unreferenced_blobs_are_collected() {
        let stored = [(d(1), 40), (d(2), 40), (d(3), 10)];
        let keep: BTreeSet<Digest> = [d(1)].into();
        assert_eq!(to_collect(&stored, &keep, 50, 100), Ok(vec![d(2), d(3)]));
    }

    /// Control: with nothing kept, the referenced blob would go too.
    #[test]
    fn control_without_the_keep_set_a_referenced_blob_would_be_collected() {
        let stored = [(d(1), 40), (d(2), 40)];
        assert_eq!(
            to_collect(&stored, &BTreeSet::new(), 50, 100),
            Ok(vec![d(1), d(2)])
        );
    }

    #[test]
    fn an_upload_that_cannot_fit_is_refused_and_nothing_is_deleted() {
        let stored = [(d(1), 60), (d(2), 30)];
        let keep: BTreeSet<Digest> = [d(1)].into();
        let refused = to_collect(&stored, &keep, 50, 100);
        assert!(refused.is_err_and(|e| e.contains("module store is full")));
    }
}
