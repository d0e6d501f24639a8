//! Collecting every failed rule of an operation into one rejection.

use spore_guest::{Rejection, RejectionCode};

/// The failed rules of one operation, in the order they were checked.
#[derive(Debug, Default)]
pub struct Findings {
    items: Vec<(RejectionCode, String)>,
}

impl Findings {
    /// No failure yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a failure.
    pub fn fail(&mut self, code: RejectionCode, reason: impl Into<String>) {
        self.items.push((code, reason.into()));
    }

    /// Record a failure unless `ok`.
    pub fn require(&mut self, ok: bool, code: RejectionCode, reason: impl FnOnce() -> String) {
        if !ok {
            self.fail(code, reason());
        }
    }

    /// Whether nothing failed so far.
    pub fn is_clean(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok(effect())` if nothing failed; otherwise a rejection with the first failure's
    /// code and every reason, joined with `"; "`.
    pub fn finish(self, effect: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, Rejection> {
        let Some((code, _)) = self.items.first() else {
            return Ok(effect());
        };
        let code = *code;
        let reason = self
            .items
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>()
            .join("; ");
        Err(Rejection::new(code, reason))
    }
}
