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
    serde_saphyr::from_str(text).map_err(|e| YamlFileError::Syntax {
        path: path.to_string(),
        line: e.location().map_or(0, |l| l.line()),
        message: without_location(e.without_snippet().to_string()),
    })
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
