//! The only printer: aligned tables and lines for people, JSON for machines, progress
//! bars on stderr when it is a terminal. Nothing else in the crate writes to stdout.

use std::cell::RefCell;
use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// Where results go, and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of tables.
    pub json: bool,
}

/// A table for people: a header row and rows of cells, columns aligned.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    right_aligned: Vec<bool>,
}

impl Table {
    /// A table with these column headers; columns named in `numeric` align right.
    pub fn new(headers: &[&'static str], numeric: &[&str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
            right_aligned: headers.iter().map(|h| numeric.contains(h)).collect(),
        }
    }

    /// Add a row (missing cells print empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Render with two spaces between columns and no trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(widths.len()) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                let pad = width.saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right_aligned[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

thread_local! {
    /// JSON documents held back instead of printed, while a command made of several
    /// (`demo`) collects them into one document.
    static CAPTURED: RefCell<Option<Vec<serde_json::Value>>> = const { RefCell::new(None) };
}

/// Collect the JSON documents `f` prints (on this thread) instead of printing them.
pub fn capture_json<T>(f: impl FnOnce() -> T) -> (T, Vec<serde_json::Value>) {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = f();
    let docs = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, docs)
}

impl Output {
    /// Print text as is to stdout.
    pub fn text(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// Print a JSON value (pretty, one document) to stdout. Buffered: stdout alone
    /// flushes at every newline, one write per pretty-printed line (a 1,000-event
    /// audit spent a third of its time in them).
    pub fn json_value(&self, value: &serde_json::Value) -> io::Result<()> {
        let held = CAPTURED.with(|c| {
            c.borrow_mut()
                .as_mut()
                .map(|docs| docs.push(value.clone()))
                .is_some()
        });
        if held {
            return Ok(());
        }
        let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, value)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// A note for people on stderr (never mixed into machine output).
    pub fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    /// A counter for work of unknown length on stderr, hidden when not a terminal.
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if !io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(style("{spinner} {msg}: {human_pos} events, {rate}"));
        bar.set_message(what.to_string());
        bar
    }

    /// A progress bar over `total` events on stderr, hidden when stderr is not a
    /// terminal.
    pub fn progress(&self, total: u64, what: &str) -> ProgressBar {
        self.bar(
            total,
            what,
            "{msg} [{bar:24}] {human_pos}/{human_len} {rate} {eta_or_wait}",
        )
    }

    /// A progress bar over `total` bytes of input (an import reads a file).
    pub fn progress_bytes(&self, total: u64, what: &str) -> ProgressBar {
        self.bar(
            total,
            what,
            "{msg} [{bar:24}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta_or_wait}",
        )
    }

    fn bar(&self, total: u64, what: &str, template: &str) -> ProgressBar {
        if !io::stderr().is_terminal() || total == 0 {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(style(template).progress_chars("=> "));
        bar.set_message(what.to_string());
        bar
    }
}

/// A progress style with whole-number rates (`1.2M/s`, not `1234567.8912/s`) and an eta
/// shown only once there is a rate to base it on. Lines stay within 80 columns.
fn style(template: &str) -> ProgressStyle {
    let base =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    base.with_key(
        "rate",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", short_count(state.per_sec()));
        },
    )
    .with_key(
        "eta_or_wait",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let eta = state.eta().as_secs();
            // Before the first second there is no honest estimate.
            if state.elapsed().as_secs() == 0 || state.pos() == 0 {
                let _ = write!(w, "eta …");
            } else {
                let _ = write!(
                    w,
                    "eta {}",
                    indicatif::HumanDuration(std::time::Duration::from_secs(eta))
                );
            }
        },
    )
}

/// `1234567.8` → `1.2M`: three significant figures at most.
fn short_count(per_sec: f64) -> String {
    let v = per_sec.max(0.0);
    match v {
        _ if v >= 1e9 => format!("{:.1}G", v / 1e9),
        _ if v >= 1e6 => format!("{:.1}M", v / 1e6),
        _ if v >= 1e3 => format!("{:.1}k", v / 1e3),
        _ => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_short_whole_figures() {
        assert_eq!(short_count(1_234_567.891_2), "1.2M");
        assert_eq!(short_count(5_400.0), "5.4k");
        assert_eq!(short_count(12.345), "12");
        assert_eq!(short_count(-1.0), "0");
    }

    #[test]
    fn tables_align_and_have_no_trailing_space() {
        let mut t = Table::new(&["key", "qty"], &["qty"]);
        t.row(vec!["a:b:c".into(), "1.5".into()]);
        t.row(vec!["x".into(), "-10".into()]);
        assert_eq!(t.render(), "key    qty\na:b:c  1.5\nx      -10\n");
    }
}
