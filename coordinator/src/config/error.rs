//! Errors of the config layer and the provenance every parsed value carries.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a parsed value came from: its file and, when the parser knows them, its line and
/// column.
///
/// Values keep their own location (rather than the config keeping one path) so that, once
/// platform defaults and definitions are merged under a custom config, an error still points at
/// the file that supplied the offending value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: Option<Arc<Path>>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column (in characters) on `line`.
    pub column: Option<usize>,
}

impl Loc {
    /// A location in `file` at `line`.
    pub fn new(file: &Arc<Path>, line: Option<usize>) -> Loc {
        Loc {
            file: Some(Arc::clone(file)),
            line,
            column: None,
        }
    }

    /// A location in `file` at `line` and `column`.
    pub fn at(file: &Arc<Path>, line: usize, column: usize) -> Loc {
        Loc {
            file: Some(Arc::clone(file)),
            line: Some(line),
            column: Some(column),
        }
    }
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Sourced<T> {
    pub fn new(value: T, loc: Loc) -> Sourced<T> {
        Sourced { value, loc }
    }
}

/// Why a config could not be read, parsed or resolved.
///
/// Displayed as `<file>:<line>: `<dotted.key>`: <what is wrong>`, leaving out the parts that are
/// not known (a value from Experimenter has no line; a missing config has no file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the config: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML (position from the `toml` crate).
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value is missing, has the wrong type, or refers to something undefined.
    #[error("{}", InvalidDisplay { file: file.as_deref(), line: *line, column: *column, key: key.as_deref(), message })]
    Invalid {
        file: Option<PathBuf>,
        line: Option<usize>,
        column: Option<usize>,
        /// The dotted TOML key of the offending value (`experiment.enrollment_period`).
        key: Option<String>,
        message: String,
    },
}

impl ConfigError {
    /// An error about the value at `loc`, whose dotted key is `key`.
    pub(crate) fn at(loc: &Loc, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let key = key.into();
        ConfigError::Invalid {
            file: loc.file.as_ref().map(|f| f.to_path_buf()),
            line: loc.line,
            column: loc.column,
            key: (!key.is_empty()).then_some(key),
            message: message.into(),
        }
    }

    /// A copy of the error (an I/O error keeps its kind and message), for errors kept in a
    /// collection and reported once per experiment that needs them.
    pub fn duplicate(&self) -> ConfigError {
        match self {
            ConfigError::Io { path, source } => ConfigError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            ConfigError::Syntax {
                path,
                line,
                column,
                message,
            } => ConfigError::Syntax {
                path: path.clone(),
                line: *line,
                column: *column,
                message: message.clone(),
            },
            ConfigError::Invalid {
                file,
                line,
                column,
                key,
                message,
            } => ConfigError::Invalid {
                file: file.clone(),
                line: *line,
                column: *column,
                key: key.clone(),
                message: message.clone(),
            },
        }
    }

    /// The 1-based line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::Invalid { line, .. } => *line,
        }
    }

    /// The file the error is about, when known.
    pub fn file(&self) -> Option<&Path> {
        match self {
            ConfigError::Io { path, .. } | ConfigError::Syntax { path, .. } => Some(path),
            ConfigError::Invalid { file, .. } => file.as_deref(),
        }
    }

    /// The message without the location prefix.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Io { source, .. } => format!("cannot read the config: {source}"),
            ConfigError::Syntax { message, .. } => format!("invalid TOML: {message}"),
            ConfigError::Invalid { message, .. } => message.clone(),
        }
    }

    /// The dotted key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

struct InvalidDisplay<'a> {
    file: Option<&'a Path>,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
            }
            f.write_str(": ")?;
        }
        if let Some(key) = self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(self.message)
    }
}

/// Appends `key` to a dotted key path, quoting it when it is not a bare TOML key.
pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}
