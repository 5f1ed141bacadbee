//! Per-client metric files (Parquet or CSV: `client_id`, `branch`, one column per metric), read
//! with DuckDB. `jetstream statistics` computes statistics over them, which is how our numbers
//! are compared with the Python implementation's on the same input.

use crate::warehouse::read_frame;
use duckdb::Connection;
use jetstream_proto::naming::sql_string_literal;
use jetstream_proto::warehouse::Column;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why a client file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClientFileError {
    #[error("{}: expected a .parquet or .csv file", path.display())]
    Format { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: missing column `{column}` (a client file has client_id, branch and one column per metric)", path.display())]
    MissingColumn { path: PathBuf, column: String },
    #[error("{}: column `{column}`, row {row}: expected a number or a boolean, found {found}", path.display())]
    NotNumeric {
        path: PathBuf,
        column: String,
        row: usize,
        found: String,
    },
}

/// The clients of a file: their branches and every other column as numbers (booleans as 0/1,
/// NULL as `None`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientTable {
    pub branches: Vec<String>,
    pub columns: BTreeMap<String, Vec<Option<f64>>>,
    /// Columns whose values are integers in the file (pandas keeps them in an integer dtype,
    /// which the linear model's clipping depends on).
    pub integer_columns: BTreeSet<String>,
}

impl ClientTable {
    /// The non-NULL values of `column` with their branches (Jetstream's subset query
    /// `WHERE <metric> IS NOT NULL`).
    pub fn non_null(&self, column: &str) -> Option<(Vec<String>, Vec<f64>)> {
        let values = self.columns.get(column)?;
        let (branches, values) = self
            .branches
            .iter()
            .zip(values)
            .filter_map(|(b, v)| v.map(|v| (b.clone(), v)))
            .unzip();
        Some((branches, values))
    }
}

/// Reads a Parquet or CSV client file.
pub fn read_client_file(path: &Path) -> Result<ClientTable, ClientFileError> {
    let read_err = |e: duckdb::Error| ClientFileError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let literal = sql_string_literal(&path.to_string_lossy());
    let source = match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => format!("read_parquet({literal})"),
        Some("csv") => format!("read_csv({literal}, header = true)"),
        _ => {
            return Err(ClientFileError::Format {
                path: path.to_path_buf(),
            })
        }
    };
    if !path.is_file() {
        return Err(ClientFileError::Read {
            path: path.to_path_buf(),
            message: "no such file".to_string(),
        });
    }
    let conn = Connection::open_in_memory().map_err(read_err)?;
    let frame = read_frame(&conn, &format!("SELECT * FROM {source}")).map_err(read_err)?;
    let error = |message: String| ClientFileError::Read {
        path: path.to_path_buf(),
        message,
    };
    let column = |name: &str| {
        frame
            .column(name)
            .ok_or_else(|| ClientFileError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
            })
    };
    column("client_id")?;
    let mut table = ClientTable::default();
    match column("branch")? {
        Column::Text(branches) => {
            for (row, branch) in branches.iter().enumerate() {
                let branch = branch.clone().ok_or_else(|| {
                    error(format!("row {}: branch must be text, found NULL", row + 1))
                })?;
                table.branches.push(branch);
            }
        }
        _ => {
            return Err(error(
                "column `branch` must be text, found numbers".to_string(),
            ))
        }
    }
    for (name, values) in frame.columns {
        if name == "client_id" || name == "branch" {
            continue;
        }
        let values = match values {
            Column::Float(v) => v,
            Column::Integer(v) => {
                table.integer_columns.insert(name.clone());
                v
            }
            Column::Text(text) => {
                // The column is text as a whole; name the first cell that is not a number.
                let cells = || {
                    text.iter()
                        .enumerate()
                        .filter_map(|(i, t)| Some((i + 1, t.as_ref()?)))
                };
                let (row, found) = cells()
                    .find(|(_, t)| t.parse::<f64>().is_err())
                    .or_else(|| cells().next())
                    .map(|(row, t)| (row, t.clone()))
                    .unwrap_or_default();
                return Err(ClientFileError::NotNumeric {
                    path: path.to_path_buf(),
                    column: name,
                    row,
                    found: format!("{found:?}"),
                });
            }
        };
        table.columns.insert(name, values);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_and_parquet_alike() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("clients.csv");
        std::fs::write(
            &csv,
            "client_id,branch,retained,uri_count,active_hours\n\
             a,control,true,3,1.5\nb,treatment,false,0,\nc,treatment,true,7,2.25\n",
        )
        .unwrap();
        let table = read_client_file(&csv).unwrap();
        assert_eq!(table.branches, ["control", "treatment", "treatment"]);
        assert_eq!(table.columns["retained"], [Some(1.0), Some(0.0), Some(1.0)]);
        // CSV type sniffing makes uri_count BIGINT; booleans and doubles are not integers.
        assert_eq!(
            table.integer_columns.iter().collect::<Vec<_>>(),
            ["uri_count"]
        );
        assert_eq!(
            table.non_null("active_hours").unwrap(),
            (
                vec!["control".to_string(), "treatment".to_string()],
                vec![1.5, 2.25]
            )
        );

        let parquet = dir.path().join("clients.parquet");
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "COPY (SELECT * FROM read_csv({}, header = true)) TO {} (FORMAT parquet)",
            sql_string_literal(&csv.to_string_lossy()),
            sql_string_literal(&parquet.to_string_lossy())
        ))
        .unwrap();
        assert_eq!(read_client_file(&parquet).unwrap(), table);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("c.csv");
        std::fs::write(&csv, "client_id,arm,x\na,control,1\n").unwrap();
        let error = read_client_file(&csv).unwrap_err().to_string();
        assert!(error.contains("missing column `branch`"), "{error}");
        std::fs::write(&csv, "client_id,branch,x\na,control,high\n").unwrap();
        let error = read_client_file(&csv).unwrap_err().to_string();
        assert!(
            error.contains("column `x`, row 1: expected a number"),
            "{error}"
        );
        // The offending cell is named even when earlier cells are numbers.
        std::fs::write(&csv, "client_id,branch,x\na,control,1\nb,control,lots\n").unwrap();
        let error = read_client_file(&csv).unwrap_err().to_string();
        assert!(error.contains("row 2") && error.contains("lots"), "{error}");
        let txt = dir.path().join("c.txt");
        std::fs::write(&txt, "x").unwrap();
        assert!(read_client_file(&txt).is_err());
    }
}
