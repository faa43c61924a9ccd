//! The Bybit API key pair, from the environment or from a key file.
//!
//! A key file readable by group or others is refused, as ssh refuses such a private
//! key: a trading secret must not be one `cat` away for every user of the machine.
//! Neither `Debug`, `Display` nor any error ever shows the secret (errors name the file,
//! its mode or the missing field, never a line of its content).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::venue::bybit::Credentials;

/// Environment variable holding the API key.
pub const KEY_VAR: &str = "LEDGER_BYBIT_KEY";
/// Environment variable holding the API secret.
pub const SECRET_VAR: &str = "LEDGER_BYBIT_SECRET";

/// Why the keys could not be loaded. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// An environment variable is unset or empty.
    #[error("{0} is not set")]
    MissingVar(&'static str),
    /// The file could not be read.
    #[error("{}: cannot read the key file: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The file's mode lets group or others read it.
    #[error(
        "{}: mode {mode:04o} lets group or others read the key file; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissive {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold a key and a secret.
    #[error(
        "{}: {what} (expected two lines, key then secret, or `key=` and `secret=` lines)",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
}

/// An API key and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    creds: Credentials,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("api_key", &self.creds.api_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bybit key {} (secret redacted)", self.creds.api_key())
    }
}

impl Keys {
    /// A key pair given directly (tests, or a caller with its own secret store).
    pub fn new(api_key: impl Into<String>, secret: impl Into<String>) -> Keys {
        Keys {
            creds: Credentials::new(api_key, secret),
        }
    }

    /// From `LEDGER_BYBIT_KEY` and `LEDGER_BYBIT_SECRET`.
    pub fn from_env() -> Result<Keys, KeysError> {
        Keys::from_lookup(|name| std::env::var(name).ok())
    }

    /// From the two variables as `lookup` answers them (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Keys, KeysError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or(KeysError::MissingVar(name))
        };
        Ok(Keys::new(get(KEY_VAR)?, get(SECRET_VAR)?))
    }

    /// From a key file (`--keys FILE`): either two lines (key, then secret) or
    /// `key=` / `secret=` lines; blank lines and `#` comments are ignored. The file
    /// must not be readable by group or others.
    pub fn from_file(path: &Path) -> Result<Keys, KeysError> {
        let read_error = |e: std::io::Error| KeysError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(read_error)?;
        check_mode(path, &meta)?;
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        parse_file(path, &text)
    }

    /// The credentials the signer uses.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// The public API key.
    pub fn api_key(&self) -> &str {
        self.creds.api_key()
    }
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), KeysError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    match mode & 0o077 {
        0 => Ok(()),
        _ => Err(KeysError::Permissive {
            path: path.to_path_buf(),
            mode,
        }),
    }
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), KeysError> {
    Ok(())
}

fn parse_file(path: &Path, text: &str) -> Result<Keys, KeysError> {
    let malformed = |what| KeysError::Malformed {
        path: path.to_path_buf(),
        what,
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let named = |name: &str| {
        lines.iter().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
    };
    let (key, secret) = match (named("key"), named("secret")) {
        (Some(k), Some(s)) => (k, s),
        (Some(_), None) => return Err(malformed("no `secret=` line")),
        (None, Some(_)) => return Err(malformed("no `key=` line")),
        (None, None) => match lines.as_slice() {
            [k, s] => (k.to_string(), s.to_string()),
            [] => return Err(malformed("the file is empty")),
            [_] => return Err(malformed("one line only")),
            _ => return Err(malformed("more than two lines")),
        },
    };
    if key.is_empty() || secret.is_empty() {
        return Err(malformed("an empty key or secret"));
    }
    Ok(Keys::new(key, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-s3cr3t-9f2e";

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_file_is_read_in_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let two = write(dir.path(), "two", &format!("k1\n{CANARY}\n"), 0o600);
        assert_eq!(Keys::from_file(&two).unwrap(), Keys::new("k1", CANARY));
        let named = write(
            dir.path(),
            "named",
            &format!("# bybit\nsecret = {CANARY}\nkey=k2\n"),
            0o400,
        );
        assert_eq!(Keys::from_file(&named).unwrap(), Keys::new("k2", CANARY));
    }

    #[test]
    fn a_file_others_can_read_is_refused_naming_file_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "open", &format!("k1\n{CANARY}\n"), 0o644);
        let err = Keys::from_file(&path).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, KeysError::Permissive { mode: 0o644, .. }));
        assert!(text.contains("0644") && text.contains("open"), "{text}");
        assert!(!text.contains(CANARY));
        let group = write(dir.path(), "group", &format!("k1\n{CANARY}\n"), 0o640);
        assert!(Keys::from_file(&group).is_err());
    }

    #[test]
    fn malformed_files_never_quote_their_content() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            format!("{CANARY}\n"),
            format!("a\nb\n{CANARY}\n"),
            format!("secret={CANARY}\n"),
        ] {
            let path = write(dir.path(), "bad", &text, 0o600);
            let err = Keys::from_file(&path).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(CANARY), "{shown}");
        }
        let missing = Keys::from_file(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, KeysError::Read { .. }));
    }

    #[test]
    fn env_lookup_and_redaction() {
        let keys = Keys::from_lookup(|name| match name {
            KEY_VAR => Some("k-env".into()),
            SECRET_VAR => Some(CANARY.into()),
            _ => None,
        })
        .unwrap();
        let shown = format!("{keys:?} {keys:#?} {keys}");
        assert!(
            !shown.contains(CANARY) && shown.contains("k-env"),
            "{shown}"
        );
        let err = Keys::from_lookup(|name| (name == KEY_VAR).then(|| "k".into())).unwrap_err();
        assert_eq!(err, KeysError::MissingVar(SECRET_VAR));
    }
}
