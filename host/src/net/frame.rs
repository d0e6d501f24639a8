//! Wire frames: a big-endian `u32` body length followed by a postcard body.
//!
//! # Design
//! The reader never allocates more than the configured bound: the length prefix is
//! checked before the body is read, and the body buffer grows only as bytes arrive (a
//! peer that announces a large frame and stalls costs what it sent, not what it
//! announced). A stream that ends exactly at a frame boundary ends
//! cleanly; one that ends inside a frame is [`FrameError::Truncated`]. A body must decode
//! to exactly one message with no bytes left over.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Size of the length prefix in bytes.
pub const LEN_PREFIX: usize = 4;

/// QUIC application error code used to stop a stream that carried a bad frame.
pub const ERR_BAD_FRAME: u32 = 0x5b01;

/// Why a frame could not be encoded or was refused on receipt.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces a body larger than the configured bound.
    #[error("frame of {len} bytes exceeds the {max}-byte bound")]
    Oversized {
        /// Announced (or encoded) body length.
        len: u64,
        /// Configured bound.
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes the frame still needed.
        expected: usize,
        /// Bytes actually received.
        got: usize,
    },
    /// The body is not a postcard encoding of the expected message type.
    #[error("undecodable frame body: {0}")]
    Undecodable(#[source] postcard::Error),
    /// The body decoded but bytes were left over.
    #[error("frame body has {0} trailing bytes")]
    TrailingBytes(usize),
    /// The message could not be serialised.
    #[error("cannot encode message: {0}")]
    Encode(#[source] postcard::Error),
    /// Reading from the stream failed (connection lost, stream reset).
    #[error("stream read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a received frame was rejected, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Length prefix above the bound.
    Oversized,
    /// Stream ended inside a frame.
    Truncated,
    /// Body not decodable as the message type (including trailing bytes).
    Undecodable,
}

impl FrameError {
    /// The metrics bucket of a receive-side error; `None` for errors that are not the
    /// peer's fault (I/O, or encode errors on our own side).
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            Self::Oversized { .. } => Some(Rejection::Oversized),
            Self::Truncated { .. } => Some(Rejection::Truncated),
            Self::Undecodable(_) | Self::TrailingBytes(_) => Some(Rejection::Undecodable),
            Self::Encode(_) | Self::Io(_) => None,
        }
    }
}

/// Encodes `msg` as one frame (prefix + body), refusing bodies above `max` bytes.
pub fn encode<M: Serialize>(msg: &M, max: u32) -> Result<Bytes, FrameError> {
    let mut out = vec![0u8; LEN_PREFIX];
    out = postcard::to_extend(msg, out).map_err(FrameError::Encode)?;
    let body_len = out.len() - LEN_PREFIX;
    let len = u32::try_from(body_len)
        .ok()
        .filter(|len| *len <= max)
        .ok_or(FrameError::Oversized {
            len: body_len as u64,
            max,
        })?;
    out[..LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
    Ok(Bytes::from(out))
}

/// Decodes one frame body into a message, refusing trailing bytes.
pub fn decode_body<M: DeserializeOwned>(body: &[u8]) -> Result<M, FrameError> {
    let (msg, rest) = postcard::take_from_bytes(body).map_err(FrameError::Undecodable)?;
    if rest.is_empty() {
        Ok(msg)
    } else {
        Err(FrameError::TrailingBytes(rest.len()))
    }
}

/// Reads the next frame from `reader`. `Ok(None)` means the stream ended cleanly at a
/// frame boundary. `buf` is reused between calls to avoid reallocating.
pub async fn read_frame<R, M>(
    reader: &mut R,
    max: u32,
    buf: &mut Vec<u8>,
) -> Result<Option<M>, FrameError>
where
    R: AsyncRead + Unpin,
    M: DeserializeOwned,
{
    let Some(len) = read_prefix(reader, max).await? else {
        return Ok(None);
    };
    read_body(reader, len, buf).await
}

/// Reads a frame's length prefix and checks it against `max`. `Ok(None)` means the
/// stream ended cleanly at a frame boundary.
pub async fn read_prefix<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: u32,
) -> Result<Option<usize>, FrameError> {
    let mut prefix = [0u8; LEN_PREFIX];
    let got = read_full(reader, &mut prefix).await?;
    if got == 0 {
        return Ok(None);
    }
    if got < LEN_PREFIX {
        return Err(FrameError::Truncated {
            expected: LEN_PREFIX,
            got,
        });
    }
    let len = u32::from_be_bytes(prefix);
    if len > max {
        return Err(FrameError::Oversized {
            len: u64::from(len),
            max,
        });
    }
    Ok(Some(len as usize))
}

/// Reads a body of `len` bytes (already checked against the bound) and decodes it. The
/// buffer grows with the bytes received, never to `len` up front.
pub async fn read_body<R: AsyncRead + Unpin, M: DeserializeOwned>(
    reader: &mut R,
    len: usize,
    buf: &mut Vec<u8>,
) -> Result<Option<M>, FrameError> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < len {
        let want = (len - buf.len()).min(chunk.len());
        let n = reader.read(&mut chunk[..want]).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                expected: len,
                got: buf.len(),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    decode_body(buf).map(Some)
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
async fn read_full<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<usize, std::io::Error> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Msg {
        slot: u64,
        body: Vec<u8>,
    }

    async fn read_all(bytes: &[u8], max: u32) -> (Vec<Msg>, Option<FrameError>) {
        let mut reader = bytes;
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_frame::<_, Msg>(&mut reader, max, &mut buf).await {
                Ok(Some(m)) => out.push(m),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn round_trips_several_frames() -> anyhow::Result<()> {
        let a = Msg {
            slot: 1,
            body: vec![1, 2, 3],
        };
        let b = Msg {
            slot: u64::MAX,
            body: vec![],
        };
        let mut wire = encode(&a, 1024)?.to_vec();
        wire.extend_from_slice(&encode(&b, 1024)?);
        let (msgs, err) = read_all(&wire, 1024).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(msgs, vec![a, b]);
        Ok(())
    }

    #[tokio::test]
    async fn refuses_bad_frames() -> anyhow::Result<()> {
        let good = encode(
            &Msg {
                slot: 7,
                body: vec![9; 10],
            },
            1024,
        )?;
        // Oversized prefix: refused before any body is read.
        let (_, err) = read_all(&[0xff, 0xff, 0xff, 0xff, 1, 2], 1024).await;
        assert_eq!(err.and_then(|e| e.rejection()), Some(Rejection::Oversized));
        // Stream ends inside the body.
        let (_, err) = read_all(&good[..good.len() - 1], 1024).await;
        assert_eq!(err.and_then(|e| e.rejection()), Some(Rejection::Truncated));
        // Stream ends inside the prefix.
        let (_, err) = read_all(&good[..2], 1024).await;
        assert_eq!(err.and_then(|e| e.rejection()), Some(Rejection::Truncated));
        // A body that is not a postcard Msg (varint never terminates).
        let (_, err) = read_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff], 1024).await;
        assert_eq!(
            err.and_then(|e| e.rejection()),
            Some(Rejection::Undecodable)
        );
        // A valid Msg followed by an extra byte inside the same frame.
        let mut body = postcard::to_stdvec(&Msg {
            slot: 1,
            body: vec![],
        })?;
        body.push(0);
        let mut wire = (body.len() as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(&body);
        let (_, err) = read_all(&wire, 1024).await;
        assert!(matches!(err, Some(FrameError::TrailingBytes(1))), "{err:?}");
        Ok(())
    }

    /// Deterministic mutation fuzzing: flipped, dropped and appended bytes never panic the
    /// reader, and every failure is classified as the peer's fault.
    #[tokio::test]
    async fn mutated_frames_are_refused_never_panic() -> anyhow::Result<()> {
        let mut wire = encode(
            &Msg {
                slot: 42,
                body: (0..40).collect(),
            },
            256,
        )?
        .to_vec();
        wire.extend_from_slice(&encode(
            &Msg {
                slot: 7,
                body: vec![],
            },
            256,
        )?);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut refused, mut accepted) = (0, 0);
        for _ in 0..4000 {
            let mut bytes = wire.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len().max(1);
                match next() % 3 {
                    0 if !bytes.is_empty() => bytes[at] ^= 1 << (next() % 8),
                    1 if !bytes.is_empty() => {
                        bytes.truncate(at);
                    }
                    _ => bytes.insert(at.min(bytes.len()), next() as u8),
                }
            }
            match read_all(&bytes, 256).await {
                (_, None) => accepted += 1,
                (_, Some(e)) => {
                    assert!(e.rejection().is_some(), "unclassified error {e:?}");
                    refused += 1;
                }
            }
        }
        assert!(
            refused > 1000 && accepted > 0,
            "refused {refused}, accepted {accepted}"
        );
        Ok(())
    }

    /// A frame that announces the largest allowed body and then delivers only a few bytes
    /// costs the reader what arrived, not what was announced (control: the old reader
    /// resized the buffer to the announced length before the first body byte).
    #[tokio::test]
    async fn an_announced_but_stalled_frame_allocates_only_what_arrived() {
        let max: u32 = 16 * 1024 * 1024;
        let mut wire = max.to_be_bytes().to_vec();
        wire.extend_from_slice(&[7; 100]);
        let mut reader = wire.as_slice();
        let mut buf = Vec::new();
        let r = read_frame::<_, Msg>(&mut reader, max, &mut buf).await;
        assert!(
            matches!(r, Err(FrameError::Truncated { got: 100, .. })),
            "{r:?}"
        );
        assert!(
            buf.capacity() < 1024 * 1024,
            "the buffer grew to {} bytes for 100 received",
            buf.capacity()
        );
    }

    #[test]
    fn encode_refuses_messages_above_the_bound() {
        let big = Msg {
            slot: 0,
            body: vec![0; 2000],
        };
        assert!(matches!(
            encode(&big, 1000),
            Err(FrameError::Oversized { max: 1000, .. })
        ));
    }
}
