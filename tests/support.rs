//! Shared test utilities: run the binary, make temp ledgers, redact unstable output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (fixtures live in `replay/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample events.
pub fn sample() -> PathBuf {
    root().join("replay/sample.jsonl")
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The outcome of a finished process.
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Assert success and return stdout.
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Assert a clean failure (non-zero, no panic) and return stderr.
    pub fn fails(self) -> String {
        assert_ne!(self.code, 0, "expected failure; stdout:\n{}", self.stdout);
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        assert!(
            self.stderr.starts_with("error: "),
            "unclear error: {}",
            self.stderr
        );
        self.stderr
    }
}

/// Run `ledger args…` in `dir`, with `--db <db>` after the subcommand when it opens a
/// ledger and `args` name none.
pub fn ledger(dir: &Path, db: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .current_dir(dir)
        .args(with_db(db, args))
        .output()
        .expect("the ledger binary runs");
    Run::from_output(out)
}

/// `args` with `--db <db>` right after the subcommand (the first argument that is not
/// an option), unless the subcommand has no ledger (`diff`, `generate-candles`, `demo`
/// writes its own) or `args` already give one.
pub fn with_db(db: &Path, args: &[&str]) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let Some(at) = args.iter().position(|a| !a.starts_with('-')) else {
        return out;
    };
    let no_ledger = ["diff", "generate-candles", "demo"].contains(&args[at]);
    if !no_ledger && !args.contains(&"--db") {
        out.splice(at + 1..at + 1, ["--db".into(), db.as_os_str().to_owned()]);
    }
    out
}

/// A temp dir with a ledger built from the sample.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Fixture {
    /// An empty temp dir and the path a ledger would have in it.
    pub fn empty() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("test.redb");
        Fixture { dir, db }
    }

    /// A ledger with the sample imported.
    pub fn sample() -> Fixture {
        Fixture::with_import(&sample(), &[])
    }

    /// A ledger with `file` imported with extra import args.
    pub fn with_import(file: &Path, extra: &[&str]) -> Fixture {
        let f = Fixture::empty();
        let mut args = vec!["import", file.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        f.run(&args).ok();
        f
    }

    /// Run the binary against this fixture's ledger.
    pub fn run(&self, args: &[&str]) -> Run {
        ledger(self.dir.path(), &self.db, args)
    }

    /// Write a file in the temp dir.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    }
}

/// Replace the temp dir path so snapshots are stable.
pub fn redact(text: &str, f: &Fixture) -> String {
    text.replace(f.dir.path().to_str().unwrap_or("<tmp>"), "[TMP]")
}

/// The bundled BTCUSDT minute bars (`replay/btcusdt-1m.csv`), the first `n`, as the
/// fake Bybit serves them.
pub fn bundled_bars(n: usize) -> Vec<ledger::fake::bybit::Bar> {
    let dec = |s: &str| -> rust_decimal::Decimal { s.parse().expect("a decimal in the csv") };
    let text = std::fs::read_to_string(root().join("replay/btcusdt-1m.csv")).expect("bundled bars");
    text.lines()
        .skip(1)
        .take(n)
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            ledger::fake::bybit::Bar {
                start_ms: 1_767_225_600_000 + i as i64 * 60_000,
                len_ms: 60_000,
                open: dec(f[1]),
                high: dec(f[2]),
                low: dec(f[3]),
                close: dec(f[4]),
                volume: dec(f[5]),
            }
        })
        .collect()
}

/// A loopback fake Bybit on a free port: one BTCUSDT linear instrument (tick 0.1, lot
/// 0.001, min notional 5), the default account, `bars` advanced by `Control::step`.
pub async fn fake_bybit(
    key: &str,
    secret: &str,
    bars: Vec<ledger::fake::bybit::Bar>,
) -> ledger::fake::bybit::FakeBybit {
    use ledger::fake::bybit::{Account, AccountConfig, Config, FakeBybit, Instrument};
    let dec = |s: &str| -> rust_decimal::Decimal { s.parse().expect("a decimal") };
    ledger::install_crypto();
    let config = Config {
        account: Account {
            key: key.into(),
            secret: secret.into(),
        },
        instruments: vec![Instrument {
            symbol: "BTCUSDT".into(),
            tick: dec("0.1"),
            lot: dec("0.001"),
            min_qty: dec("0.001"),
            min_notional: dec("5"),
            max_leverage: dec("100"),
        }],
        bars: std::collections::BTreeMap::from([("BTCUSDT".to_string(), bars)]),
        account_config: AccountConfig::default(),
        pace: None,
    };
    FakeBybit::start(config, "127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the fake starts on a free port")
}
