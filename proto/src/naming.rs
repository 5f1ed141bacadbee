//! Names derived from slugs, as Jetstream derives them, so that tables and files land where
//! Experimenter and existing dashboards look for them.

/// Replaces every character outside `[A-Za-z0-9_]` with `_` (upstream `bq_normalize_name`).
///
/// Every table and file name derived from a slug goes through this, which also makes those names
/// safe to splice into SQL as identifiers.
pub fn normalize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<slug>_<basis>_<data source>_<period>_<n>`: the discrete mode's per-data-source metrics
/// table of one window (upstream's name).
pub fn data_source_metrics_table(
    slug: &str,
    basis: &str,
    data_source: &str,
    period: &str,
    window_index: u32,
) -> String {
    format!(
        "{}_{basis}_{}_{period}_{window_index}",
        normalize_name(slug),
        normalize_name(data_source)
    )
}

/// The BigQuery dataset of an application id (`org.mozilla.firefox` → `org_mozilla_firefox`):
/// it fills `{dataset}` in data source expressions and names the Glean tables the built-in
/// enrollment queries read.
pub fn dataset_for_app_id(app_id: &str) -> String {
    app_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `name` is a valid table name for every warehouse: letters, digits and `_` only
/// (BigQuery's rule; a name may start with a digit, as tables named after slugs like
/// `1-click-pin` do, so references to tables are always quoted).
pub fn is_table_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` can be used unquoted as a SQL identifier in both BigQuery and DuckDB.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Quotes a string as a BigQuery string literal: quotes and backslashes are escaped with a
/// backslash, control characters spelled out, so any value (a slug, a branch, a parameter)
/// stays one literal. BigQuery does not read a doubled quote as an escape.
pub fn bq_string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    out.push_str(&bq_escape(value));
    out.push('\'');
    out
}

/// The body of a BigQuery string literal for `value` (valid between single or double quotes).
pub fn bq_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A BigQuery identifier or table path in backticks (backticks and backslashes escaped).
pub fn bq_quoted_identifier(name: &str) -> String {
    let escaped = name.replace('\\', "\\\\").replace('`', "\\`");
    format!("`{escaped}`")
}

/// Quotes a string as a SQL literal (single quotes doubled, the standard SQL and DuckDB escape), for values
/// such as slugs and branch names that end up inside generated queries.
pub fn sql_string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_bq_normalize_name() {
        assert_eq!(normalize_name("my-exp.v2 test"), "my_exp_v2_test");
        assert_eq!(normalize_name("already_ok_1"), "already_ok_1");
    }

    #[test]
    fn identifiers_and_literals_are_safe() {
        assert!(is_plain_identifier("active_hours"));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("a;drop"));
        assert!(is_table_name("1_click_pin_enrollments_week_1"));
        assert!(!is_table_name("a.b") && !is_table_name("") && !is_table_name("a;drop"));
        assert_eq!(sql_string_literal("o'neil"), "'o''neil'");
    }
}
