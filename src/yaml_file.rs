//! Settings files in YAML (strategy plays, venue rules): parsing them, and errors that
//! say where — the file, the line and the field.
//!
//! Shared by `strategy` and `executor`, whose files differ in shape only.

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

/// Why a YAML settings file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlFileError {
    /// Not valid YAML, or not the shape of the file (unknown key, wrong type).
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file, as given.
        path: String,
        /// 1-based line, 0 when unknown.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// Valid shape, invalid content.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file, as given.
        path: String,
        /// 1-based line, 0 when unknown.
        line: u64,
        /// Where in the file, e.g. `cases[0].when[1]` or `instruments[1].lot_size`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Deserialize `text` into `T`; `path` is only used in error messages.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, YamlFileError> {
    // A BOM is not content (CSV and JSON Lines accept one too).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        let mut message = humanize(&without_location(e.without_snippet().to_string()));
        // The parser seldom names the field: quote the line, which does.
        let source = usize::try_from(line)
            .ok()
            .and_then(|n| text.lines().nth(n.checked_sub(1)?))
            .map(str::trim)
            .filter(|l| !l.is_empty());
        if let Some(source) = source {
            let clipped: String = source.chars().take(80).collect();
            message = format!("{message}, in `{clipped}`");
        }
        YamlFileError::Syntax {
            path: path.to_string(),
            line,
            message,
        }
    })
}

/// The parser's words for people: no Rust type names or library options.
fn humanize(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("key `{key}` is given twice");
    }
    if message.contains("untagged enum") {
        return "not one of the accepted forms of this field".to_string();
    }
    for int in ["u8", "u16", "u32", "u64", "usize", "i32", "i64"] {
        if message.contains(&format!("invalid {int}")) {
            return "expected a whole number".to_string();
        }
    }
    if message.contains("after enum variant value") {
        return "expected one value here, found more (a key of a choice such as `ema: 12` takes one value; other keys go beside it)".to_string();
    }
    message.to_string()
}

/// Builds `YamlFileError::Invalid` for one file.
pub(crate) struct Errors<'a> {
    path: &'a str,
}

impl<'a> Errors<'a> {
    /// Errors about the file at `path`.
    pub(crate) fn new(path: &'a str) -> Self {
        Errors { path }
    }

    /// `field` (at `s`'s line) is wrong because of `message`.
    pub(crate) fn at<T>(
        &self,
        s: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> YamlFileError {
        YamlFileError::Invalid {
            path: self.path.to_string(),
            line: s.referenced.line(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The parser's message without its own " at line N column M": the error says the
/// line already, in the `path:line:` form every other error uses.
fn without_location(mut message: String) -> String {
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct File {
        id: String,
        period: u32,
    }

    fn message(text: &str) -> String {
        parse::<File>(text, "p.yaml").unwrap_err().to_string()
    }

    #[test]
    fn parser_messages_name_no_rust_types_and_quote_the_line() {
        let m = message("id: a\nperiod: -3\n");
        assert_eq!(m, "p.yaml:2: expected a whole number, in `period: -3`");
        let m = message("id: a\nid: b\nperiod: 1\n");
        assert!(m.starts_with("p.yaml:2: key `id` is given twice"), "{m}");
        assert!(!m.contains("DuplicateKeyPolicy"), "{m}");
        // A BOM is skipped.
        assert!(parse::<File>("\u{feff}id: a\nperiod: 1\n", "p.yaml").is_ok());
    }
}
