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

/// Whether `name` can be used unquoted as a SQL identifier in both BigQuery and DuckDB.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
        assert_eq!(sql_string_literal("o'neil"), "'o''neil'");
    }
}
