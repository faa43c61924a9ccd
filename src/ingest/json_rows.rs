//! A streaming scanner for JSON files of rows: one array of arrays (`[[..],[..]]`, as
//! freqtrade writes) or JSON Lines of arrays (one `[..]` per line).
//!
//! It yields one row at a time as the *text* of each value, so numbers are never
//! rounded through `f64` and a file of any length needs only one row in memory. It does
//! not read JSON objects or nested values inside a row, and it is lenient about commas
//! between rows; it is a reader for row files, not a general JSON parser.

use std::io::BufRead;

/// Most values a row may hold; real layouts have 6 or 7.
const ROW_CELLS_MAX: usize = 64;
/// Longest value text accepted (an id or a number); keeps a corrupt file from growing
/// one cell without bound.
const CELL_BYTES_MAX: usize = 4_096;

/// One row: its 1-based line (where its `[` is) and the text of each value. Strings are
/// unescaped, numbers are their literal text, `null` is the empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    pub line: u64,
    pub cells: Vec<String>,
}

/// What went wrong, and on which line; the caller adds the path.
#[derive(Debug)]
pub(super) enum ScanError {
    Io(std::io::Error),
    Syntax { line: u64, reason: String },
}

/// Pulls rows out of a JSON row file.
pub(super) struct JsonRows<R> {
    reader: R,
    line: u64,
    /// Open container arrays (0 or 1: the outer array of a freqtrade file).
    containers: usize,
}

impl<R: BufRead> JsonRows<R> {
    pub fn new(reader: R) -> JsonRows<R> {
        JsonRows {
            reader,
            line: 1,
            containers: 0,
        }
    }

    /// The next row, `Ok(None)` at a clean end of input.
    pub fn next_row(&mut self) -> Result<Option<Row>, ScanError> {
        loop {
            self.skip_whitespace()?;
            let Some(b) = self.peek()? else {
                return match self.containers {
                    0 => Ok(None),
                    _ => Err(self.syntax("input ends inside an array")),
                };
            };
            match b {
                b',' => self.bump(),
                b']' if self.containers > 0 => {
                    self.bump();
                    self.containers -= 1;
                }
                b'[' => {
                    let line = self.line;
                    self.bump();
                    self.skip_whitespace()?;
                    match self.peek()? {
                        Some(b'[') if self.containers == 0 => self.containers = 1,
                        Some(b'[') => return Err(self.syntax("arrays nested more than two deep")),
                        Some(b']') if self.containers == 0 => self.containers = 1,
                        _ => return self.row_values(line).map(Some),
                    }
                }
                b'{' => {
                    return Err(
                        self.syntax("JSON objects are not supported; expected rows as arrays")
                    );
                }
                other => {
                    return Err(self.syntax(&format!("unexpected `{}`", char::from(other))));
                }
            }
        }
    }

    /// The values of a row whose `[` was just consumed, through its `]`.
    fn row_values(&mut self, line: u64) -> Result<Row, ScanError> {
        let mut cells = Vec::new();
        loop {
            self.skip_whitespace()?;
            if cells.len() == ROW_CELLS_MAX {
                return Err(self.syntax(&format!("row has more than {ROW_CELLS_MAX} values")));
            }
            cells.push(self.scalar()?);
            self.skip_whitespace()?;
            match self.peek()? {
                Some(b',') => self.bump(),
                Some(b']') => {
                    self.bump();
                    return Ok(Row { line, cells });
                }
                Some(other) => {
                    let reason =
                        format!("expected `,` or `]` in row, found `{}`", char::from(other));
                    return Err(self.syntax(&reason));
                }
                None => return Err(self.syntax("input ends inside a row")),
            }
        }
    }

    fn scalar(&mut self) -> Result<String, ScanError> {
        match self.peek()? {
            Some(b'"') => {
                self.bump();
                self.string()
            }
            Some(b) if b == b'-' || b.is_ascii_digit() => self.take_while(|b| {
                b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
            }),
            Some(b) if b.is_ascii_alphabetic() => {
                let word = self.take_while(|b| b.is_ascii_alphabetic())?;
                match word.as_str() {
                    "null" => Ok(String::new()),
                    "true" | "false" => Ok(word),
                    _ => Err(self.syntax(&format!("unexpected `{word}`"))),
                }
            }
            Some(b'[' | b'{') => Err(self.syntax("nested values inside a row are not supported")),
            Some(other) => Err(self.syntax(&format!("unexpected `{}`", char::from(other)))),
            None => Err(self.syntax("input ends inside a row")),
        }
    }

    /// The rest of a string whose opening quote was consumed.
    fn string(&mut self) -> Result<String, ScanError> {
        let mut bytes = Vec::new();
        loop {
            if bytes.len() > CELL_BYTES_MAX {
                return Err(self.syntax(&format!("string longer than {CELL_BYTES_MAX} bytes")));
            }
            let Some(b) = self.peek()? else {
                return Err(self.syntax("input ends inside a string"));
            };
            self.bump();
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped = self
                        .peek()?
                        .ok_or_else(|| self.syntax("input ends inside a string"))?;
                    self.bump();
                    let c = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        other => {
                            return Err(
                                self.syntax(&format!("bad escape `\\{}`", char::from(other)))
                            );
                        }
                    };
                    bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                b'\n' => return Err(self.syntax("newline inside a string")),
                other => bytes.push(other),
            }
        }
        String::from_utf8(bytes).map_err(|_| self.syntax("string is not valid UTF-8"))
    }

    /// The four hex digits after `\u`; lone surrogates become U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, ScanError> {
        let hex = self.take_while(|b| b.is_ascii_hexdigit())?;
        match hex.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok()) {
            Some(code) if hex.len() == 4 => Ok(char::from_u32(code).unwrap_or('\u{fffd}')),
            _ => Err(self.syntax("bad `\\u` escape")),
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> Result<String, ScanError> {
        let mut text = String::new();
        while let Some(b) = self.peek()? {
            if !keep(b) {
                break;
            }
            if text.len() == CELL_BYTES_MAX {
                return Err(self.syntax(&format!("value longer than {CELL_BYTES_MAX} bytes")));
            }
            text.push(char::from(b));
            self.bump();
        }
        Ok(text)
    }

    fn skip_whitespace(&mut self) -> Result<(), ScanError> {
        while let Some(b) = self.peek()? {
            if !b.is_ascii_whitespace() {
                break;
            }
            self.bump();
        }
        Ok(())
    }

    fn peek(&mut self) -> Result<Option<u8>, ScanError> {
        let buf = self.reader.fill_buf().map_err(ScanError::Io)?;
        Ok(buf.first().copied())
    }

    /// Consume the byte just peeked.
    fn bump(&mut self) {
        if let Ok([b'\n', ..]) = self.reader.fill_buf() {
            self.line += 1;
        }
        self.reader.consume(1);
    }

    fn syntax(&self, reason: &str) -> ScanError {
        ScanError::Syntax {
            line: self.line,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<Row>, String> {
        let mut scanner = JsonRows::new(text.as_bytes());
        let mut out = Vec::new();
        loop {
            match scanner.next_row() {
                Ok(Some(row)) => out.push(row),
                Ok(None) => return Ok(out),
                Err(ScanError::Syntax { line, reason }) => return Err(format!("{line}: {reason}")),
                Err(ScanError::Io(e)) => return Err(e.to_string()),
            }
        }
    }

    fn cells(row: &Row) -> Vec<&str> {
        row.cells.iter().map(String::as_str).collect()
    }

    #[test]
    fn reads_pretty_printed_array_of_rows_keeping_number_text() {
        let text = "[\n  [ 1637110800000, 1.0801, 1.09758, 1e-05, 1.07925, 3153694.607359 ],\n  [ 1637114400000, 1.07896, 1.0875, 1.07351, 1.07616, 2697616.070908 ]\n]\n";
        let got = rows(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].line, 2);
        assert_eq!(got[1].line, 3);
        assert_eq!(
            cells(&got[0]),
            [
                "1637110800000",
                "1.0801",
                "1.09758",
                "1e-05",
                "1.07925",
                "3153694.607359"
            ]
        );
    }

    #[test]
    fn reads_one_line_arrays_and_json_lines_with_strings_and_null() {
        let one_line = r#"[[1570752011620,"13519807",null,"sell",0.00141342,23.0,0.03250866],[1570752011620,"a\"b\u0041",null,"buy",1,2,3]]"#;
        let got = rows(one_line).unwrap();
        assert_eq!(cells(&got[0])[1..4], ["13519807", "", "sell"]);
        assert_eq!(cells(&got[1])[1], "a\"bA");
        let lines = "[1,2]\n[3,4]\n\n[5,6]\n";
        let got = rows(lines).unwrap();
        assert_eq!(got.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(rows("[]").unwrap(), []);
        assert_eq!(rows("").unwrap(), []);
    }

    #[test]
    fn malformed_input_names_the_line() {
        for (text, expect) in [
            ("[[1,2],\n[3,4", "2: input ends inside a row"),
            (
                "[[1,2],\n[3;4]]",
                "2: expected `,` or `]` in row, found `;`",
            ),
            ("[[1,2]\n", "2: input ends inside an array"),
            (
                "{\"a\":1}",
                "1: JSON objects are not supported; expected rows as arrays",
            ),
            ("[[[1]]]", "1: arrays nested more than two deep"),
            (
                "[[1,[2]]]",
                "1: nested values inside a row are not supported",
            ),
            ("[[1,nul]]", "1: unexpected `nul`"),
        ] {
            assert_eq!(rows(text).unwrap_err(), expect, "{text}");
        }
    }
}
