//! Conversions between BigQuery's REST representation and the warehouse seam's types, and the
//! SQL literals statistics rows are written with. Pure functions, tested without a server.

use gcp_bigquery_client::model::field_type::FieldType;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use gcp_bigquery_client::model::table_row::TableRow;
use jetstream_proto::naming::bq_string_literal;
use jetstream_proto::statistic::Comparison;
use jetstream_proto::warehouse::{Column, Frame};
use jetstream_proto::{AnalysisBasis, StatisticRow};
use serde_json::Value;

/// How a result column is kept, by its BigQuery type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Integer,
    Float,
    Bool,
    Timestamp,
    Text,
}

impl Kind {
    pub(crate) fn of(field: &TableFieldSchema) -> Kind {
        if field.mode.as_deref() == Some("REPEATED") {
            return Kind::Text;
        }
        match field.r#type {
            FieldType::Integer | FieldType::Int64 => Kind::Integer,
            FieldType::Float | FieldType::Float64 | FieldType::Numeric | FieldType::Bignumeric => {
                Kind::Float
            }
            FieldType::Boolean | FieldType::Bool => Kind::Bool,
            FieldType::Timestamp => Kind::Timestamp,
            _ => Kind::Text,
        }
    }
}

/// Accumulates pages of rows into a [`Frame`] with the DuckDB warehouse's conventions:
/// integer types as [`Column::Integer`], floating and numeric types and booleans (as 0/1) as
/// [`Column::Float`], everything else as text (dates `YYYY-MM-DD`, timestamps
/// `YYYY-MM-DD HH:MM:SS.ffffff UTC`, arrays and records as JSON).
pub(crate) struct FrameBuilder {
    names: Vec<String>,
    kinds: Vec<Kind>,
    columns: Vec<Column>,
}

impl FrameBuilder {
    pub(crate) fn new(fields: &[TableFieldSchema]) -> FrameBuilder {
        let kinds: Vec<Kind> = fields.iter().map(Kind::of).collect();
        FrameBuilder {
            names: fields.iter().map(|f| f.name.clone()).collect(),
            columns: kinds
                .iter()
                .map(|k| match k {
                    Kind::Integer => Column::Integer(Vec::new()),
                    Kind::Float | Kind::Bool => Column::Float(Vec::new()),
                    Kind::Timestamp | Kind::Text => Column::Text(Vec::new()),
                })
                .collect(),
            kinds,
        }
    }

    /// Appends rows; a cell that does not read as its column's type is an error naming both.
    pub(crate) fn push_rows(&mut self, rows: &[TableRow]) -> Result<(), String> {
        for row in rows {
            let cells = row.columns.as_deref().unwrap_or_default();
            for (i, column) in self.columns.iter_mut().enumerate() {
                let cell = cells.get(i).and_then(|c| c.value.as_ref());
                let kind = self.kinds[i];
                let bad =
                    |v: &Value| format!("column `{}`: cannot read {v} as {kind:?}", self.names[i]);
                match column {
                    Column::Integer(values) | Column::Float(values) => values.push(match cell {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(number(v, kind).ok_or_else(|| bad(v))?),
                    }),
                    Column::Text(values) => values.push(match cell {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(text(v, kind)),
                    }),
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Frame {
        Frame {
            columns: self.names.into_iter().zip(self.columns).collect(),
        }
    }
}

/// A numeric cell (the REST API sends numbers as strings).
fn number(value: &Value, kind: Kind) -> Option<f64> {
    let s = value.as_str()?;
    match kind {
        Kind::Bool => match s {
            "true" => Some(1.0),
            "false" => Some(0.0),
            _ => None,
        },
        _ => s.parse().ok(),
    }
}

/// A text cell; timestamps arrive as (fractional) epoch seconds.
fn text(value: &Value, kind: Kind) -> String {
    match (value, kind) {
        (Value::String(s), Kind::Timestamp) => s
            .parse::<f64>()
            .ok()
            .and_then(|secs| {
                let micros = (secs * 1e6).round() as i64;
                chrono::DateTime::from_timestamp_micros(micros)
            })
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f UTC").to_string())
            .unwrap_or_else(|| s.clone()),
        (Value::String(s), _) => s.clone(),
        (other, _) => other.to_string(),
    }
}

/// The statistics table's columns and types (upstream's `StatisticResult.bq_schema`, schema
/// version 4), in order.
pub(crate) const STATISTICS_COLUMNS: [(&str, &str); 12] = [
    ("metric", "STRING"),
    ("statistic", "STRING"),
    ("parameter", "NUMERIC"),
    ("branch", "STRING"),
    ("comparison", "STRING"),
    ("comparison_to_branch", "STRING"),
    ("ci_width", "FLOAT64"),
    ("point", "FLOAT64"),
    ("lower", "FLOAT64"),
    ("upper", "FLOAT64"),
    ("segment", "STRING"),
    ("analysis_basis", "STRING"),
];

/// `(metric STRING, statistic STRING, ...)`: the column list of a statistics table's DDL.
pub(crate) fn statistics_columns_ddl() -> String {
    let columns: Vec<String> = STATISTICS_COLUMNS
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect();
    format!("({})", columns.join(", "))
}

fn string_or_null(value: Option<&str>) -> String {
    value
        .map(bq_string_literal)
        .unwrap_or_else(|| "NULL".into())
}

/// A FLOAT64 literal that reads back as the same double (non-finite values spelled out).
fn float_or_null(value: Option<f64>) -> String {
    match value {
        None => "CAST(NULL AS FLOAT64)".into(),
        Some(v) if v.is_nan() => "CAST('NaN' AS FLOAT64)".into(),
        Some(v) if v.is_infinite() && v > 0.0 => "CAST('inf' AS FLOAT64)".into(),
        Some(v) if v.is_infinite() => "CAST('-inf' AS FLOAT64)".into(),
        // `{:?}` is the shortest text that parses back to the same double.
        Some(v) => format!("CAST({v:?} AS FLOAT64)"),
    }
}

/// One statistics row as a STRUCT literal whose fields carry the table's names and types.
pub(crate) fn statistics_struct(row: &StatisticRow) -> String {
    let parameter = match row.parameter {
        Some(p) if p.is_finite() => {
            format!("CAST({} AS NUMERIC)", bq_string_literal(&format!("{p:.9}")))
        }
        _ => "CAST(NULL AS NUMERIC)".into(),
    };
    let values = [
        bq_string_literal(&row.metric),
        bq_string_literal(&row.statistic),
        parameter,
        bq_string_literal(&row.branch),
        format!(
            "CAST({} AS STRING)",
            string_or_null(row.comparison.map(Comparison::value))
        ),
        format!(
            "CAST({} AS STRING)",
            string_or_null(row.comparison_to_branch.as_deref())
        ),
        float_or_null(row.ci_width),
        float_or_null(row.point),
        float_or_null(row.lower),
        float_or_null(row.upper),
        bq_string_literal(&row.segment),
        format!(
            "CAST({} AS STRING)",
            string_or_null(row.analysis_basis.map(AnalysisBasis::value))
        ),
    ];
    let fields: Vec<String> = values
        .iter()
        .zip(STATISTICS_COLUMNS.iter())
        .map(|(value, (name, _))| format!("{value} AS {name}"))
        .collect();
    format!("STRUCT({})", fields.join(", "))
}

/// Splits rows into `SELECT * FROM UNNEST([...])` queries of at most about `max_bytes` each.
pub(crate) fn statistics_selects(rows: &[StatisticRow], max_bytes: usize) -> Vec<String> {
    let mut selects = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 0;
    for row in rows {
        let literal = statistics_struct(row);
        if !current.is_empty() && size + literal.len() > max_bytes {
            selects.push(unnest(&current));
            current.clear();
            size = 0;
        }
        size += literal.len() + 2;
        current.push(literal);
    }
    if !current.is_empty() {
        selects.push(unnest(&current));
    }
    selects
}

fn unnest(structs: &[String]) -> String {
    format!("SELECT * FROM UNNEST([{}])", structs.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gcp_bigquery_client::model::table_cell::TableCell;

    fn field(name: &str, ty: FieldType) -> TableFieldSchema {
        TableFieldSchema::new(name, ty)
    }

    fn row(values: &[Value]) -> TableRow {
        TableRow {
            columns: Some(
                values
                    .iter()
                    .map(|v| TableCell {
                        value: Some(v.clone()),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn rest_rows_become_typed_columns() {
        let fields = [
            field("n", FieldType::Int64),
            field("x", FieldType::Float64),
            field("b", FieldType::Bool),
            field("d", FieldType::Date),
            field("t", FieldType::Timestamp),
            field("s", FieldType::String),
        ];
        let mut builder = FrameBuilder::new(&fields);
        builder
            .push_rows(&[
                row(&[
                    "3".into(),
                    "0.25".into(),
                    "true".into(),
                    "2024-01-02".into(),
                    "1.7e9".into(),
                    "a'b".into(),
                ]),
                row(&[
                    Value::Null,
                    "NaN".into(),
                    "false".into(),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ]),
            ])
            .unwrap();
        let frame = builder.finish();
        assert_eq!(
            frame.column("n"),
            Some(&Column::Integer(vec![Some(3.0), None]))
        );
        let x = frame.column("x").unwrap().numbers().unwrap();
        assert_eq!(x[0], Some(0.25));
        assert!(x[1].unwrap().is_nan());
        assert_eq!(
            frame.column("b"),
            Some(&Column::Float(vec![Some(1.0), Some(0.0)]))
        );
        assert_eq!(
            frame.column("d"),
            Some(&Column::Text(vec![Some("2024-01-02".into()), None]))
        );
        assert_eq!(
            frame.column("t"),
            Some(&Column::Text(vec![
                Some("2023-11-14 22:13:20.000000 UTC".into()),
                None
            ]))
        );
        assert_eq!(frame.num_rows(), 2);
    }

    #[test]
    fn a_cell_of_the_wrong_type_is_an_error_naming_the_column() {
        let mut builder = FrameBuilder::new(&[field("n", FieldType::Int64)]);
        let e = builder.push_rows(&[row(&["many".into()])]).unwrap_err();
        assert!(e.contains("`n`"), "{e}");
    }

    fn stat(metric: &str, point: Option<f64>) -> StatisticRow {
        StatisticRow {
            metric: metric.into(),
            statistic: "mean".into(),
            parameter: Some(0.1),
            branch: "treatment".into(),
            comparison: Some(Comparison::RelativeUplift),
            comparison_to_branch: Some("control".into()),
            ci_width: Some(0.95),
            point,
            lower: Some(f64::NEG_INFINITY),
            upper: None,
            segment: "all".into(),
            analysis_basis: Some(AnalysisBasis::Enrollments),
            window_index: None,
        }
    }

    #[test]
    fn statistics_literals_escape_values_and_keep_doubles_exact() {
        let literal = statistics_struct(&stat("it's", Some(0.1 + 0.2)));
        assert!(literal.contains(r"'it\'s' AS metric"), "{literal}");
        assert!(
            literal.contains("CAST(0.30000000000000004 AS FLOAT64) AS point"),
            "{literal}"
        );
        assert!(
            literal.contains("CAST('-inf' AS FLOAT64) AS lower"),
            "{literal}"
        );
        assert!(
            literal.contains("CAST(NULL AS FLOAT64) AS upper"),
            "{literal}"
        );
        assert!(
            literal.contains("CAST('0.100000000' AS NUMERIC) AS parameter"),
            "{literal}"
        );
        assert!(
            literal.contains("CAST('relative_uplift' AS STRING) AS comparison"),
            "{literal}"
        );
    }

    #[test]
    fn statistics_are_split_into_bounded_queries_without_losing_rows() {
        let rows: Vec<StatisticRow> = (0..50)
            .map(|i| stat(&format!("m{i}"), Some(i as f64)))
            .collect();
        let one = statistics_selects(&rows, usize::MAX);
        assert_eq!(one.len(), 1);
        let limit = 2_000;
        let many = statistics_selects(&rows, limit);
        assert!(many.len() > 1);
        assert_eq!(
            many.iter()
                .map(|s| s.matches("STRUCT(").count())
                .sum::<usize>(),
            50
        );
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                many.iter()
                    .filter(|s| s.contains(&format!("'{}' AS metric", r.metric)))
                    .count(),
                1,
                "row {i}"
            );
        }
        assert!(statistics_selects(&[], 10).is_empty());
    }
}
