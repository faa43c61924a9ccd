//! Corruption: bytes flipped in the database file make `verify` and every other
//! command fail with a clear message and a non-zero exit code, never a panic.

use crate::support::Fixture;

const COMMANDS: &[&[&str]] = &[
    &["verify"],
    &["replay"],
    &["export"],
    &["stats"],
    &["audit", "bybit:linear:BTCUSDT"],
];

fn flip(path: &std::path::Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_byte_inside_an_event_is_found_by_every_command() {
    let f = Fixture::sample();
    let bytes = std::fs::read(&f.db).unwrap();
    // The exec id of a BTC fill, as stored inside its block.
    let at = bytes
        .windows(6)
        .position(|w| w == b"0xaa02")
        .expect("event bytes are in the file");
    flip(&f.db, at + 3);
    for cmd in COMMANDS {
        let err = f.run(cmd).fails();
        assert!(
            err.contains("corrupted ledger at seq") || err.contains("does not match"),
            "{cmd:?}: {err}"
        );
    }
    let run = f.run(&["verify"]);
    assert_eq!(run.code, 3, "verify exits 3 on a corrupted log");
    assert!(
        run.stderr.contains("seq 1:") || run.stderr.contains("at seq 1"),
        "names the block's first seq: {}",
        run.stderr
    );
}

#[test]
fn flipped_bytes_anywhere_never_panic() {
    let pristine = Fixture::sample();
    let original = std::fs::read(&pristine.db).unwrap();
    let len = original.len();
    let mut failures = 0;
    // Spread 48 flips over the whole file: headers, pages, free space.
    for i in 0..48 {
        let f = Fixture::empty();
        std::fs::write(&f.db, &original).unwrap();
        let offset = (i * 7919 * 13) % len;
        flip(&f.db, offset);
        for cmd in COMMANDS {
            let run = f.run(cmd);
            assert!(
                !run.stderr.contains("panicked"),
                "flip at {offset}, {cmd:?}: {}",
                run.stderr
            );
            if run.code != 0 {
                assert!(
                    run.stderr.starts_with("error: "),
                    "flip at {offset}, {cmd:?}: {}",
                    run.stderr
                );
                failures += 1;
            }
        }
    }
    assert!(failures > 0, "some flips must be detected");
}
