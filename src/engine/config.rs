//! The identity of a run: a blake3 hash over everything that shapes its output
//! (strategy file, data files, venue rules, engine and simulator settings, version).
//! Two runs with the same hash must produce the same log, byte for byte.

use std::io::Read;
use std::path::Path;

/// Streamed blake3 of a file, hex.
pub fn file_hash(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// blake3 over `name=value` lines, in the order given, hex.
pub fn config_hash(params: &[(String, String)]) -> String {
    let mut hasher = blake3::Hasher::new();
    for (name, value) in params {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}
