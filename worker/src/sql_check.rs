//! Checks that generated BigQuery SQL will run on the embedded warehouse: each query is
//! translated to DuckDB's dialect and parsed by DuckDB itself (`json_serialize_sql`), without
//! touching any data. Used by `validate-config --offline` and the corpus tests.

use duckdb::Connection;

/// A DuckDB connection used only to parse.
pub struct DuckDbParser {
    conn: Connection,
}

/// Why a query would not run on DuckDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlProblem {
    /// The BigQuery SQL could not be translated.
    Translate(String),
    /// DuckDB cannot parse the translation.
    Parse(String),
}

impl std::fmt::Display for SqlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlProblem::Translate(e) => write!(f, "cannot translate to DuckDB: {e}"),
            SqlProblem::Parse(e) => write!(f, "DuckDB cannot parse the translation: {e}"),
        }
    }
}

impl DuckDbParser {
    /// An in-memory DuckDB to parse with.
    pub fn new() -> Result<DuckDbParser, String> {
        Connection::open_in_memory()
            .map(|conn| DuckDbParser { conn })
            .map_err(|e| e.to_string())
    }

    /// Parses DuckDB SQL; the error is DuckDB's message.
    pub fn parse(&self, duckdb_sql: &str) -> Result<(), String> {
        let json: String = self
            .conn
            .query_row("SELECT json_serialize_sql(?::VARCHAR)", [duckdb_sql], |r| {
                r.get(0)
            })
            .map_err(|e| e.to_string())?;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| format!("unreadable parse result: {e}"))?;
        if value.get("error").and_then(|e| e.as_bool()) == Some(true) {
            let message = value
                .get("error_message")
                .and_then(|m| m.as_str())
                .unwrap_or("parse error");
            return Err(message.to_string());
        }
        Ok(())
    }

    /// Translates BigQuery SQL and parses the result.
    pub fn check(&self, bigquery_sql: &str) -> Result<(), SqlProblem> {
        let duckdb = jetstream_dialect::translate(bigquery_sql)
            .map_err(|e| SqlProblem::Translate(e.to_string()))?;
        self.parse(&duckdb).map_err(SqlProblem::Parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_translation_and_parse_problems() {
        let parser = DuckDbParser::new().unwrap();
        assert_eq!(parser.check("SELECT COUNTIF(x > 1) AS v FROM t"), Ok(()));
        assert!(parser.parse("SELEC 1").is_err());
        assert!(matches!(
            parser.check("SELECT (1 FROM"),
            Err(SqlProblem::Translate(_))
        ));
    }
}
