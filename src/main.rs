//! The `ledger` binary: parse arguments, run, map the outcome to an exit code.

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use ledger::cli::{Cli, EXIT_CORRUPT, run};
use ledger::ingest::IngestError;
use ledger::log::LogError;

/// mimalloc instead of the system allocator: reading a block allocates a fresh buffer
/// of ~50–80 KiB, which glibc serves from new pages (a page fault per 4 KiB, about half
/// of an audit's time); mimalloc reuses freed memory, and is faster at the many small
/// allocations of parsing and folding too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ledger::install_crypto();
    let error_code = cli.error_exit_code();
    let json = cli.json;
    // redb can panic on some damaged pages (e.g. its allocator bitmap) instead of
    // returning an error. The panic is caught here and reported as a damaged file;
    // the hook only records its message so no raw panic text reaches the user.
    let last_panic: Arc<Mutex<Option<String>>> = Arc::default();
    let record = Arc::clone(&last_panic);
    panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        if let Ok(mut slot) = record.lock() {
            *slot = Some(format!("{message}{place}"));
        }
    }));
    match panic::catch_unwind(AssertUnwindSafe(|| run(cli))) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(err)) => report(err, error_code, json),
        Err(_) => {
            let detail = last_panic
                .lock()
                .ok()
                .and_then(|s| s.clone())
                .unwrap_or_default();
            let message = format!(
                "internal failure, most likely a damaged ledger file ({detail}); \
                 run `ledger verify` and restore from a copy if it fails"
            );
            eprintln!("error: {message}");
            if json {
                print_json_error("corrupted_ledger", &message, None);
            }
            ExitCode::from(EXIT_CORRUPT)
        }
    }
}

/// With `--json`, the error as one JSON document on stdout too, so a script reading
/// stdout gets a value either way: `{"error":{"kind","message","where"}}`.
fn print_json_error(kind: &str, message: &str, place: Option<String>) {
    let doc = serde_json::json!({
        "error": { "kind": kind, "message": message, "where": place }
    });
    println!("{doc}");
}

/// The kind of an error for machines, and where it is when the error knows.
fn classify(err: &anyhow::Error) -> (&'static str, Option<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<LogError>() {
            let kind = match e {
                LogError::Io { .. } | LogError::ReadOnly { .. } | LogError::Missing { .. } => "io",
                LogError::Locked { .. } => "locked",
                _ => "ledger",
            };
            return (kind, e.location());
        }
        if let Some(e) = cause.downcast_ref::<IngestError>() {
            let kind = match e {
                IngestError::Io { .. } => "io",
                _ => "input",
            };
            return (kind, e.location());
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return ("io", None);
        }
    }
    ("error", None)
}

fn report(err: anyhow::Error, error_code: u8, json: bool) -> ExitCode {
    // A closed pipe (`ledger export | head`) is the reader's choice, not a failure.
    let broken_pipe = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err:#}");
    let corrupt = err.chain().any(|c| {
        c.downcast_ref::<LogError>()
            .is_some_and(LogError::is_corruption)
    });
    if json {
        let (kind, place) = classify(&err);
        let kind = if corrupt { "corrupted_ledger" } else { kind };
        print_json_error(kind, &format!("{err:#}"), place);
    }
    ExitCode::from(if corrupt { EXIT_CORRUPT } else { error_code })
}
