//! `{{name}}`: a Spore validator module.
//!
//! For `compute` operations of kind [`KIND`] the input is a sequence of `u64`
//! little-endian numbers; the result is their wrapping sum (`u64` LE) followed by how
//! many there were (`u32` LE). A length that is not a multiple of 8 is rejected as
//! `malformed`, every other operation as `unsupported`. Integer arithmetic only: the
//! result must be the same on every node.

use spore_guest::{CallContext, Host, Operation, Rejection, RejectionCode, Validator};

/// The compute kind this module computes.
pub const KIND: &str = "sum";

/// The result for `input`, or why it is malformed.
pub fn sum(input: &[u8]) -> Result<Vec<u8>, String> {
    if input.len() % 8 != 0 {
        return Err(format!("input length {} is not a multiple of 8", input.len()));
    }
    let count = u32::try_from(input.len() / 8).map_err(|_| "too many numbers".to_string())?;
    let mut total = 0u64;
    for chunk in input.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        total = total.wrapping_add(u64::from_le_bytes(word));
    }
    let mut out = total.to_le_bytes().to_vec();
    out.extend_from_slice(&count.to_le_bytes());
    Ok(out)
}

/// The module.
pub struct Module;

impl Validator for Module {
    fn validate<H: Host + ?Sized>(
        host: &H,
        op: Operation,
        _ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        match op {
            Operation::Compute(task) if task.kind == KIND => {
                host.debug(&format!("summing {} bytes", task.input.len()));
                sum(&task.input).map_err(|reason| Rejection::new(RejectionCode::Malformed, reason))
            }
            _ => Err(Rejection::new(
                RejectionCode::Unsupported,
                format!("{{name}} only computes `{KIND}` tasks"),
            )),
        }
    }
}

spore_guest::export_validator!(Module);

#[cfg(test)]
mod tests {
    use super::*;
    use spore_guest::ComputeTask;
    use spore_guest::testing::{Fixture, call_context};

    fn compute(kind: &str, input: Vec<u8>) -> Operation {
        Operation::Compute(ComputeTask { kind: kind.into(), input })
    }

    #[test]
    fn sums_wrapping() {
        let mut input = u64::MAX.to_le_bytes().to_vec();
        input.extend_from_slice(&2u64.to_le_bytes());
        let out = Module::validate(&Fixture::cluster(4), compute(KIND, input), call_context(1));
        let mut expected = 1u64.to_le_bytes().to_vec();
        expected.extend_from_slice(&2u32.to_le_bytes());
        assert_eq!(out, Ok(expected));
    }

    #[test]
    fn rejects_what_it_cannot_sum() {
        let host = Fixture::cluster(4);
        let bad = Module::validate(&host, compute(KIND, vec![1, 2, 3]), call_context(1));
        assert_eq!(bad.map_err(|r| r.code), Err(RejectionCode::Malformed));
        let other = Module::validate(&host, compute("other", vec![]), call_context(1));
        assert_eq!(other.map_err(|r| r.code), Err(RejectionCode::Unsupported));
    }
}
