//! The canonical effect encoding (version 1): fixed-width little-endian integers,
//! length-prefixed bytes, fields in a fixed order. See the crate docs for the layout of
//! each operation.

use spore_guest::ID_LEN;

/// Version byte that starts every effect.
pub const VERSION: u8 = 1;

/// Builds one effect.
#[derive(Debug)]
pub struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    /// Start an effect for the operation with variant index `tag`.
    pub fn new(tag: u8) -> Self {
        Self {
            out: vec![VERSION, tag],
        }
    }

    /// One byte (enum case index, flag).
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.out.push(v);
        self
    }

    /// `u32`, little-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// `u64`, little-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// `i32`, little-endian two's complement.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// `i64`, little-endian two's complement.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A node id or digest: exactly 32 raw bytes, no prefix (callers check the length
    /// first; anything else is zero-padded or truncated to 32 so the layout stays fixed).
    pub fn id(&mut self, id: &[u8]) -> &mut Self {
        let mut fixed = [0u8; ID_LEN];
        let n = id.len().min(ID_LEN);
        fixed[..n].copy_from_slice(&id[..n]);
        self.out.extend_from_slice(&fixed);
        self
    }

    /// A count or length prefix (`u32`; the validator bounds every list far below).
    pub fn len(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Bytes: `u32` length, then the bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.len(b.len());
        self.out.extend_from_slice(b);
        self
    }

    /// A string: its UTF-8 bytes, length-prefixed.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// The finished effect.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed_width_little_endian() {
        let bytes = Encoder::new(9)
            .u8(2)
            .u32(0x0102_0304)
            .i32(-2)
            .u64(1)
            .i64(-1)
            .str("ab")
            .id(&[7; 32])
            .finish();
        let mut expected = vec![1, 9, 2, 4, 3, 2, 1, 0xfe, 0xff, 0xff, 0xff];
        expected.extend([1, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend([0xff; 8]);
        expected.extend([2, 0, 0, 0, b'a', b'b']);
        expected.extend([7; 32]);
        assert_eq!(bytes, expected);
    }
}
