//! The only printer: aligned tables and lines for people, JSON for machines, progress
//! bars on stderr when it is a terminal. Nothing else in the crate writes to stdout.

use std::cell::RefCell;
use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

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
        let style = ProgressStyle::with_template("{spinner} {msg}: {human_pos} events ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message(what.to_string());
        bar
    }

    /// A progress bar over `total` units on stderr, hidden when stderr is not a terminal.
    pub fn progress(&self, total: u64, what: &str) -> ProgressBar {
        if !io::stderr().is_terminal() || total == 0 {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_string());
        bar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_have_no_trailing_space() {
        let mut t = Table::new(&["key", "qty"], &["qty"]);
        t.row(vec!["a:b:c".into(), "1.5".into()]);
        t.row(vec!["x".into(), "-10".into()]);
        assert_eq!(t.render(), "key    qty\na:b:c  1.5\nx      -10\n");
    }
}
