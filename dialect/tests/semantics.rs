//! Every case of `semantics.jsonl` translates. The cases are executed on DuckDB by
//! `check_semantics.py` (and can be by a DuckDB-linked test elsewhere): each holds the
//! BigQuery SQL and the rows BigQuery returns.

#[test]
fn every_semantics_case_translates() {
    let text = include_str!("semantics.jsonl");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        let sql = case["bigquery"].as_str().expect("bigquery field");
        assert!(
            case.get("expected").is_some(),
            "case without expected rows: {line}"
        );
        if let Err(e) = jetstream_dialect::translate(sql) {
            panic!("{}: {e}", case["name"]);
        }
        n += 1;
    }
    assert!(n >= 80, "only {n} cases");
}
