//! Identities, digests, hierarchy levels, spore layers and the integer units of the core.
//!
//! # Design
//! Every type here mirrors a type of the WIT package `spore:policy` (wit/types.wit):
//! [`NodeId`] is `node-id`, [`Digest`] is `digest`, [`Hierarchy`] is `hierarchy-level`,
//! [`Layer`] is `spore-layer` and [`TrustBps`] is `trust-bps`.
//!
//! # Encoding
//! Fixed-size byte strings serialise as lowercase hex strings in human-readable formats
//! (JSON, TOML) and as raw bytes in binary formats (postcard), so the canonical encoding
//! stays compact while configuration files stay readable. [`hex_bytes`] does the same for
//! variable-length byte fields.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Trust in basis points: 0 = none, [`MAX_BPS`] = full.
pub type TrustBps = u32;

/// Full trust, and the denominator of every basis-point ratio.
pub const MAX_BPS: TrustBps = 10_000;

/// A position in the replicated log.
pub type Slot = u64;

/// A consensus view number (incremented on every view change).
pub type View = u64;

/// An epoch: a run of slots with fixed membership and parameters.
pub type Epoch = u64;

/// Why a hex string could not be parsed into a fixed-size value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string is not valid hexadecimal.
    #[error("invalid hex: {0}")]
    Invalid(String),
    /// The decoded value has the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Required length in bytes.
        expected: usize,
        /// Decoded length in bytes.
        got: usize,
    },
}

/// Decode `s` (optionally `0x`-prefixed) into exactly `N` bytes.
pub fn decode_hex_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| HexError::Invalid(e.to_string()))?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| HexError::Length { expected: N, got })
}

/// Serialise a fixed-size array as hex (human-readable) or raw bytes (binary).
pub(crate) fn ser_array<const N: usize, S: Serializer>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

/// Deserialise what [`ser_array`] wrote.
pub(crate) fn de_array<'de, const N: usize, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    if deserializer.is_human_readable() {
        let s = String::deserialize(deserializer)?;
        decode_hex_array(&s).map_err(serde::de::Error::custom)
    } else {
        let bytes = ByteBuf::deserialize(deserializer)?.0;
        let got = bytes.len();
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(got, &"a fixed-size byte string"))
    }
}

/// A byte buffer that accepts both `bytes` and `seq` encodings on deserialisation.
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ByteBuf, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(ByteBuf(out))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// `#[serde(with = "hex_bytes")]` for `Vec<u8>` fields: hex string in human-readable
/// formats, a byte string in binary formats.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialise `bytes`.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(bytes))
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    /// Deserialise what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            let s = s.strip_prefix("0x").unwrap_or(&s);
            hex::decode(s).map_err(serde::de::Error::custom)
        } else {
            Ok(super::ByteBuf::deserialize(deserializer)?.0)
        }
    }
}

macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Full lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parse full hex (optionally `0x`-prefixed).
            pub fn from_hex(s: &str) -> Result<Self, HexError> {
                decode_hex_array(s).map(Self)
            }

            /// Build from a slice, which must have exactly the right length (e.g. a WIT
            /// `list<u8>` handed over by a module).
            pub fn from_slice(bytes: &[u8]) -> Result<Self, HexError> {
                <[u8; $len]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| HexError::Length { expected: $len, got: bytes.len() })
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                ser_array(&self.0, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                de_array(deserializer).map(Self)
            }
        }
    };
}

fixed_bytes!(
    /// A node's identity: its 32-byte ed25519 public key.
    ///
    /// `Display` and `Debug` print the first 8 hex digits (enough to tell nodes apart in
    /// logs); [`NodeId::to_hex`] gives the full key.
    NodeId,
    32
);

fixed_bytes!(
    /// A 32-byte SHA-256 digest (operation digests, module hashes, state digests).
    ///
    /// `Display` prints the full hex; `Debug` the first 12 digits.
    Digest,
    32
);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..4]))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", hex::encode(&self.0[..6]))
    }
}

/// A node's standing in the organisational hierarchy.
///
/// Variants are declared highest first, so the derived `Ord` sorts Sclerotia before
/// Rhizomorph before Hyphae (the order of layer rotation); use [`Hierarchy::rank`] to
/// compare authority numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hierarchy {
    /// Highest level: long-lived anchor nodes.
    Sclerotia,
    /// Middle level: backbone nodes.
    Rhizomorph,
    /// Lowest level: edge nodes.
    Hyphae,
}

impl Hierarchy {
    /// Every level, highest first.
    pub const ALL: [Hierarchy; 3] = [
        Hierarchy::Sclerotia,
        Hierarchy::Rhizomorph,
        Hierarchy::Hyphae,
    ];

    /// Authority rank: Sclerotia 2, Rhizomorph 1, Hyphae 0 (larger = more authority).
    pub fn rank(self) -> u8 {
        match self {
            Hierarchy::Sclerotia => 2,
            Hierarchy::Rhizomorph => 1,
            Hierarchy::Hyphae => 0,
        }
    }

    /// Whether `self` stands strictly above `other`.
    pub fn is_above(self, other: Hierarchy) -> bool {
        self.rank() > other.rank()
    }

    /// Lowercase name, as in WIT and configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Hierarchy::Sclerotia => "sclerotia",
            Hierarchy::Rhizomorph => "rhizomorph",
            Hierarchy::Hyphae => "hyphae",
        }
    }
}

impl fmt::Display for Hierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no hierarchy level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hierarchy level {0:?} (expected sclerotia, rhizomorph or hyphae)")]
pub struct UnknownHierarchy(pub String);

impl FromStr for Hierarchy {
    type Err = UnknownHierarchy;
    fn from_str(s: &str) -> Result<Self, UnknownHierarchy> {
        Hierarchy::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownHierarchy(s.to_string()))
    }
}

/// A node's consensus role in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The proposer of the view.
    Primary,
    /// The backup that takes over on view change.
    Seed,
    /// Every other eligible member.
    Latent,
}

impl Layer {
    /// Lowercase name, as in WIT.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Primary => "primary",
            Layer::Seed => "seed",
            Layer::Latent => "latent",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_hex_round_trip_and_short_display() {
        let id = NodeId([0xab; 32]);
        assert_eq!(id.to_string(), "abababab");
        assert_eq!(NodeId::from_hex(&id.to_hex()), Ok(id));
        assert_eq!(format!("0x{}", id.to_hex()).parse::<NodeId>(), Ok(id));
        assert!(matches!(
            NodeId::from_hex("abcd"),
            Err(HexError::Length {
                expected: 32,
                got: 2
            })
        ));
        assert!(matches!(NodeId::from_hex("zz"), Err(HexError::Invalid(_))));
        assert!(NodeId::from_slice(&[1; 31]).is_err());
    }

    #[test]
    fn serde_is_hex_in_json_and_raw_in_postcard() -> Result<(), Box<dyn std::error::Error>> {
        let d = Digest([7; 32]);
        let json = serde_json::to_string(&d)?;
        assert_eq!(json, format!("\"{}\"", "07".repeat(32)));
        assert_eq!(serde_json::from_str::<Digest>(&json)?, d);
        let bin = postcard::to_stdvec(&d)?;
        assert_eq!(bin.len(), 33, "length prefix + 32 raw bytes");
        assert_eq!(postcard::from_bytes::<Digest>(&bin)?, d);
        assert!(postcard::from_bytes::<Digest>(&bin[..10]).is_err());
        let short = postcard::to_stdvec(&serde_bytes_of(&[1, 2, 3]))?;
        assert!(postcard::from_bytes::<Digest>(&short).is_err());
        Ok(())
    }

    fn serde_bytes_of(b: &[u8]) -> HexVec {
        HexVec(b.to_vec())
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct HexVec(#[serde(with = "hex_bytes")] Vec<u8>);

    #[test]
    fn hex_bytes_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let v = HexVec(vec![0, 1, 255]);
        assert_eq!(serde_json::to_string(&v)?, "\"0001ff\"");
        assert_eq!(serde_json::from_str::<HexVec>("\"0001ff\"")?, v);
        let bin = postcard::to_stdvec(&v)?;
        assert_eq!(bin, vec![3, 0, 1, 255]);
        assert_eq!(postcard::from_bytes::<HexVec>(&bin)?, v);
        Ok(())
    }

    #[test]
    fn hierarchy_orders_highest_first() {
        let mut levels = vec![
            Hierarchy::Hyphae,
            Hierarchy::Sclerotia,
            Hierarchy::Rhizomorph,
        ];
        levels.sort();
        assert_eq!(levels, Hierarchy::ALL.to_vec());
        assert!(Hierarchy::Sclerotia.is_above(Hierarchy::Rhizomorph));
        assert!(!Hierarchy::Hyphae.is_above(Hierarchy::Hyphae));
        assert_eq!("Rhizomorph".parse::<Hierarchy>(), Ok(Hierarchy::Rhizomorph));
        assert!("root".parse::<Hierarchy>().is_err());
    }
}
