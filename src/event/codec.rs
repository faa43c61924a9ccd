//! The stored binary form of events and projections: the one module that knows the
//! codec, so the format can move (e.g. to wincode, which reads bincode 1 bytes) without
//! touching the rest of the crate.
//!
//! bincode 1.3.3 with varint integers, little endian, and a size limit. bincode 1.3.3
//! applies the limit when encoding but not when decoding from a slice (as all decodes
//! here do). A corrupted length prefix cannot make a decode allocate gigabytes either:
//! a string's length is checked against the bytes left before it is copied, and serde
//! preallocates at most 1 MiB for a sequence.
//!
//! Events of the common kinds are first read by `fast`, a hand-written reader of the
//! same bytes, about 2.5× faster; whatever it does not read through (other kinds, any
//! error) goes to serde, so values and error messages are serde's either way.
//! `tests.rs` checks the two against each other on generated and mangled records.

mod fast;
#[cfg(test)]
mod tests;

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Event;

/// Version of the stored event layout, written in every block header. Bump it when a
/// stored type changes shape, and teach `decode_event` to upcast the old one (and
/// `fast` the new shape: its tests fail until it reads it).
pub const FORMAT_VERSION: u16 = 1;

/// Largest single stored event. Far above any real event (a big exchange snapshot is a
/// few hundred KiB); its job is to bound what a corrupted length can ask for.
pub const MAX_EVENT_BYTES: u64 = 16 * 1024 * 1024;

/// Largest stored projection checkpoint: positions and orders of a big account.
pub const MAX_CHECKPOINT_BYTES: u64 = 1024 * 1024 * 1024;

/// A record that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

fn options(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_little_endian()
        .with_varint_encoding()
        .with_limit(limit)
        .reject_trailing_bytes()
}

/// Append the stored form of `event` to `out`.
///
/// Encoded without bincode's limit, which would first walk the event to size it (a
/// second serialization); the limit is checked on the result instead. The bytes are
/// the same either way: the limit only refuses, it never changes the encoding.
pub fn encode_event(event: &Event, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    bincode::DefaultOptions::new()
        .with_little_endian()
        .with_varint_encoding()
        .serialize_into(&mut *out, event)
        .map_err(|e| CodecError(e.to_string()))?;
    let len = (out.len() - start) as u64;
    if len > MAX_EVENT_BYTES {
        out.truncate(start);
        return Err(CodecError(format!(
            "event of {len} bytes is above the {MAX_EVENT_BYTES}-byte limit"
        )));
    }
    Ok(())
}

/// Decode one stored event written with `version`.
pub fn decode_event(version: u16, bytes: &[u8]) -> Result<Event, CodecError> {
    match version {
        FORMAT_VERSION => match fast::decode(bytes, fast::Return) {
            Some(event) => Ok(event),
            None => decode_with_serde(bytes),
        },
        other => Err(CodecError(format!(
            "stored format version {other} is not known to this build (newest is {FORMAT_VERSION})"
        ))),
    }
}

/// Decode one stored event written with `version` and push it, with its seq, onto
/// `out`. The hot path of replay: the event goes from the decoder into the vector
/// without passing through `Result`s of other error types (each such conversion is a
/// copy of the ~260-byte event; they were a quarter of the decoding thread's time).
pub fn decode_event_into(
    version: u16,
    bytes: &[u8],
    seq: super::Seq,
    out: &mut Vec<super::Envelope>,
) -> Result<(), CodecError> {
    if version != FORMAT_VERSION {
        return decode_event(version, bytes).map(|_| ());
    }
    if fast::decode(bytes, fast::Push { seq, out }).is_some() {
        return Ok(());
    }
    match options(MAX_EVENT_BYTES).deserialize::<Event>(bytes) {
        Ok(event) => {
            out.push(super::Envelope { seq, event });
            Ok(())
        }
        Err(e) => Err(CodecError(e.to_string())),
    }
}

/// The serde decoding of a current-format event: the reference `fast` must agree with.
fn decode_with_serde(bytes: &[u8]) -> Result<Event, CodecError> {
    options(MAX_EVENT_BYTES)
        .deserialize(bytes)
        .map_err(|e| CodecError(e.to_string()))
}

/// Encode any value (checkpoints, canonical projection bytes).
pub fn encode_value<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    options(MAX_CHECKPOINT_BYTES)
        .serialize(value)
        .map_err(|e| CodecError(e.to_string()))
}

/// Decode any value written by `encode_value`.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    options(MAX_CHECKPOINT_BYTES)
        .deserialize(bytes)
        .map_err(|e| CodecError(e.to_string()))
}
