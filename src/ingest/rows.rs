//! Rows of text out of a CSV or JSON row file, one at a time, with their line numbers,
//! plus the header-matching and value-reading helpers the candle and trade readers share.
//!
//! This layer knows file shapes (CSV vs JSON, header vs none) but not what the columns
//! mean: mapping columns to candle or trade fields is the readers' job.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::IngestError;
use super::json_rows::{JsonRows, Row, ScanError};
use super::text::{clip, parse_decimal, parse_time};
use crate::event::{Decimal, Timestamp};

/// The two file shapes a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-separated values, with or without a header row.
    Csv,
    /// One JSON array of row arrays, or JSON Lines of row arrays.
    JsonRows,
}

impl FileFormat {
    /// Sniff the format from the first buffered bytes without consuming them: a first
    /// non-blank `[` means JSON rows, anything else CSV.
    pub fn sniff(reader: &mut impl BufRead) -> std::io::Result<FileFormat> {
        let buf = reader.fill_buf()?;
        let first = buf.iter().find(|b| !b.is_ascii_whitespace());
        Ok(match first {
            Some(b'[') => FileFormat::JsonRows,
            _ => FileFormat::Csv,
        })
    }
}

/// The first two bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Rows from either format.
pub(super) enum RowSource<R> {
    Csv {
        reader: csv::Reader<R>,
        record: csv::StringRecord,
        path: PathBuf,
    },
    Json {
        scanner: JsonRows<R>,
        path: PathBuf,
    },
}

impl<R: BufRead> RowSource<R> {
    pub fn new(mut reader: R, path: &Path) -> Result<RowSource<R>, IngestError> {
        let io = |source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        };
        if reader.fill_buf().map_err(io)?.starts_with(&GZIP_MAGIC) {
            return Err(IngestError::Syntax {
                path: path.to_path_buf(),
                line: 1,
                reason: "the file is gzip-compressed; ledger reads plain CSV or JSON rows: decompress it first (gunzip -k FILE)".into(),
            });
        }
        let format = FileFormat::sniff(&mut reader).map_err(io)?;
        Ok(match format {
            FileFormat::Csv => RowSource::Csv {
                reader: csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .trim(csv::Trim::All)
                    .from_reader(reader),
                record: csv::StringRecord::new(),
                path: path.to_path_buf(),
            },
            FileFormat::JsonRows => RowSource::Json {
                scanner: JsonRows::new(reader),
                path: path.to_path_buf(),
            },
        })
    }

    pub fn format(&self) -> FileFormat {
        match self {
            RowSource::Csv { .. } => FileFormat::Csv,
            RowSource::Json { .. } => FileFormat::JsonRows,
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            RowSource::Csv { path, .. } | RowSource::Json { path, .. } => path,
        }
    }

    /// The next non-empty row, `Ok(None)` at the end.
    pub fn next_row(&mut self) -> Result<Option<Row>, IngestError> {
        match self {
            RowSource::Csv {
                reader,
                record,
                path,
            } => loop {
                match reader.read_record(record) {
                    Ok(false) => return Ok(None),
                    Ok(true) if record.iter().all(str::is_empty) => continue,
                    Ok(true) => {
                        let line = record.position().map_or(0, csv::Position::line);
                        let cells = record.iter().map(str::to_string).collect();
                        return Ok(Some(Row { line, cells }));
                    }
                    Err(e) => return Err(csv_error(path, e)),
                }
            },
            RowSource::Json { scanner, path } => scanner.next_row().map_err(|e| match e {
                ScanError::Io(source) => IngestError::Io {
                    path: path.clone(),
                    source,
                },
                ScanError::Syntax { line, reason } => IngestError::Syntax {
                    path: path.clone(),
                    line,
                    reason,
                },
            }),
        }
    }
}

fn csv_error(path: &Path, e: csv::Error) -> IngestError {
    let line = e.position().map_or(0, csv::Position::line);
    let text = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => IngestError::Io {
            path: path.to_path_buf(),
            source,
        },
        csv::ErrorKind::Utf8 { err, .. } => IngestError::Syntax {
            path: path.to_path_buf(),
            line,
            reason: format!(
                "not UTF-8 text: field {} has an invalid byte after {} valid byte(s) (ledger reads UTF-8 CSV)",
                err.field() + 1,
                err.valid_up_to()
            ),
        },
        _ => IngestError::Syntax {
            path: path.to_path_buf(),
            line,
            reason: format!("malformed CSV: {text}"),
        },
    }
}

/// True when every cell reads as a number: a headerless data row.
pub(super) fn is_numeric_row(row: &Row) -> bool {
    !row.cells.is_empty() && row.cells.iter().all(|c| parse_decimal(c).is_ok())
}

/// The index of the first header cell equal (ASCII case-insensitively) to an alias.
pub(super) fn find_column(header: &[String], aliases: &[&str]) -> Option<usize> {
    aliases
        .iter()
        .find_map(|a| header.iter().position(|h| h.trim().eq_ignore_ascii_case(a)))
}

/// Like [`find_column`], but a missing column is an error listing the aliases.
pub(super) fn require_column(
    path: &Path,
    header: &[String],
    field: &'static str,
    aliases: &[&str],
) -> Result<usize, IngestError> {
    let index = find_column(header, aliases).ok_or_else(|| IngestError::MissingColumn {
        path: path.to_path_buf(),
        field,
        accepted: aliases.join(", "),
    })?;
    // The chosen column's name twice: which one is meant would be a guess. (Two
    // different aliases, `timestamp` and `date`, are fine: aliases are in priority order.)
    let name = header[index].trim();
    let named: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.trim().eq_ignore_ascii_case(name))
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if named.len() > 1 {
        return Err(IngestError::Syntax {
            path: path.to_path_buf(),
            line: 1,
            reason: format!(
                "the header has `{name}` ({field}) more than once (columns {}); keep one",
                named.join(", ")
            ),
        });
    }
    Ok(index)
}

/// Reads cells of one row, attributing errors to the path, line and column name.
pub(super) struct Cells<'a> {
    pub path: &'a Path,
    pub row: &'a Row,
    pub names: &'a [String],
}

impl Cells<'_> {
    /// The text at `index`, or an error when the row is too short.
    pub fn text(&self, index: usize) -> Result<&str, IngestError> {
        self.row
            .cells
            .get(index)
            .map(String::as_str)
            .ok_or_else(|| self.field_error(index, "missing (row too short)".to_string()))
    }

    /// The decimal at `index`.
    pub fn decimal(&self, index: usize) -> Result<Decimal, IngestError> {
        parse_decimal(self.text(index)?).map_err(|reason| self.field_error(index, reason))
    }

    /// The time at `index`.
    pub fn time(&self, index: usize) -> Result<Timestamp, IngestError> {
        parse_time(self.text(index)?).map_err(|reason| self.field_error(index, reason))
    }

    /// An error about the value at `index`.
    pub fn field_error(&self, index: usize, reason: String) -> IngestError {
        let column = match self.names.get(index) {
            Some(name) => name.clone(),
            None => format!("#{}", index + 1),
        };
        IngestError::Field {
            path: self.path.to_path_buf(),
            line: self.row.line,
            column,
            reason,
        }
    }
}

/// An error about a whole row.
pub(super) fn invalid_row(path: &Path, line: u64, reason: impl Into<String>) -> IngestError {
    IngestError::InvalidRow {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// A quoted excerpt of a cell, for messages.
pub(super) fn quoted(text: &str) -> String {
    format!("`{}`", clip(text))
}
