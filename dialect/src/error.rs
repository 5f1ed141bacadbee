//! The one error type of the crate: every failure names what went wrong and where.

use sqlparser::tokenizer::Location;

/// Why a piece of BigQuery SQL could not be translated.
///
/// Lines and columns are 1-based and refer to the text handed to
/// [`crate::translate`] or [`crate::translate_expression`]; `0` means the position is unknown
/// (for example for a node the parser did not record a span for).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The text is not valid BigQuery SQL (as far as the parser understands BigQuery).
    /// `message` says what the parser expected and what it found instead.
    #[error("BigQuery SQL does not parse at line {line}, column {column}: {message}")]
    Parse {
        /// What was expected and what was found.
        message: String,
        /// 1-based line of the offending token.
        line: u64,
        /// 1-based column of the offending token.
        column: u64,
    },
    /// The SQL parses, but uses a construct that has no faithful DuckDB translation here.
    /// Returned instead of guessing, so that a query never silently changes meaning.
    #[error("cannot translate {construct} to DuckDB (line {line}, column {column})")]
    Unsupported {
        /// The construct, e.g. "function FARM_FINGERPRINT" or "UNNEST with several arrays".
        construct: String,
        /// 1-based line where the construct starts.
        line: u64,
        /// 1-based column where the construct starts.
        column: u64,
    },
}

impl TranslateError {
    /// An [`TranslateError::Unsupported`] located at `at`.
    pub(crate) fn unsupported(construct: impl Into<String>, at: Location) -> Self {
        TranslateError::Unsupported {
            construct: construct.into(),
            line: at.line,
            column: at.column,
        }
    }

    /// Converts a parser error, whose text ends in "at Line: L, Column: C", into a
    /// [`TranslateError::Parse`] with the position split out.
    ///
    /// Errors at the end of the input carry no position from the parser; they get the position
    /// just after the last character of `sql`.
    pub(crate) fn from_parser(err: sqlparser::parser::ParserError, sql: &str) -> Self {
        use sqlparser::parser::ParserError;
        let text = match err {
            ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
            ParserError::RecursionLimitExceeded => {
                "expression nested too deeply (recursion limit exceeded)".to_string()
            }
        };
        let (message, mut line, mut column) = split_position(&text);
        if line == 0 {
            line = sql.split('\n').count() as u64;
            column = sql.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
        }
        TranslateError::Parse {
            message,
            line,
            column,
        }
    }
}

/// Splits "... at Line: 3, Column: 7" into the message and its position.
fn split_position(text: &str) -> (String, u64, u64) {
    if let Some(idx) = text.rfind(" at Line: ") {
        let (msg, pos) = text.split_at(idx);
        let pos = &pos[" at Line: ".len()..];
        let mut parts = pos.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| c.trim().parse().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return (msg.to_string(), line, column);
        }
    }
    (text.to_string(), 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_position_from_parser_message() {
        let (m, l, c) =
            split_position("Expected: end of statement, found: ( at Line: 2, Column: 19");
        assert_eq!(m, "Expected: end of statement, found: (");
        assert_eq!((l, c), (2, 19));
        let (m, l, c) = split_position("no position");
        assert_eq!((m.as_str(), l, c), ("no position", 0, 0));
    }
}
