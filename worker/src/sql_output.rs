//! `--sql-output-dir`: every generated query written to disk, as upstream writes them
//! (`<dir>/<destination table>`), plus its DuckDB translation (`<dir>/duckdb/<destination
//! table>`), so a query can be read, diffed against mozanalysis or rerun by hand.

use std::io;
use std::path::{Path, PathBuf};

/// Where generated queries are written.
#[derive(Debug, Clone)]
pub struct SqlOutput {
    dir: PathBuf,
}

impl SqlOutput {
    /// Creates `dir` and `dir/duckdb` if needed.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<SqlOutput> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("duckdb"))?;
        Ok(SqlOutput { dir })
    }

    /// The directory queries are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the BigQuery query of `table` and its DuckDB translation (or, when it cannot be
    /// translated, a comment saying why). Each file is written whole or not at all.
    pub fn write(&self, table: &str, bigquery_sql: &str) -> io::Result<()> {
        if !jetstream_proto::naming::is_table_name(table) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{table}' is not a table name"),
            ));
        }
        write_atomically(&self.dir.join(table), bigquery_sql)?;
        let duckdb = match jetstream_dialect::translate(bigquery_sql) {
            Ok(sql) => sql,
            Err(e) => format!("-- cannot be translated to DuckDB: {e}\n"),
        };
        write_atomically(&self.dir.join("duckdb").join(table), &duckdb)
    }
}

/// Writes through a temporary file in the same directory, then renames it into place (the
/// results sink's way: a reader never sees half a query, a failure leaves no stray file).
fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut tmp, contents.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_dialects_and_refuses_path_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = SqlOutput::new(dir.path()).unwrap();
        out.write("enrollments_x", "SELECT SAFE_DIVIDE(1, 0) AS v")
            .unwrap();
        let bq = std::fs::read_to_string(dir.path().join("enrollments_x")).unwrap();
        assert_eq!(bq, "SELECT SAFE_DIVIDE(1, 0) AS v");
        let duck = std::fs::read_to_string(dir.path().join("duckdb/enrollments_x")).unwrap();
        assert!(!duck.contains("SAFE_DIVIDE"), "{duck}");
        assert!(out.write("../escape", "SELECT 1").is_err());
        assert!(!dir.path().join("../escape").exists());
    }
}
