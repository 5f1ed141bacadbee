//! The translated text of the constructs found in metric-hub, one assertion per construct.
//! (Their results are checked by execution in `check_semantics.py`.)

use jetstream_dialect::{duckdb_prelude, translate, translate_expression, TranslateError};

fn expr(bq: &str) -> String {
    translate_expression(bq).unwrap_or_else(|e| panic!("{bq}: {e}"))
}

fn sql(bq: &str) -> String {
    translate(bq).unwrap_or_else(|e| panic!("{bq}: {e}"))
}

#[test]
fn literals() {
    assert_eq!(expr(r#""nimbus_events""#), "'nimbus_events'");
    assert_eq!(expr(r"r'^\d+$'"), r"'^\d+$'");
    assert_eq!(expr(r"'it\'s'"), "'it''s'");
    assert_eq!(expr(r#""say \"hi\"""#), r#"'say "hi"'"#);
}

#[test]
fn names() {
    assert_eq!(
        sql("SELECT * FROM `moz-fx-data-shared-prod.telemetry.events`"),
        "SELECT * FROM telemetry.events"
    );
    assert_eq!(
        sql("SELECT * FROM moz-fx-data-shared-prod.telemetry.events e"),
        "SELECT * FROM telemetry.events e"
    );
    assert_eq!(
        sql("SELECT * FROM `mozdata`.telemetry.clients_daily"),
        "SELECT * FROM telemetry.clients_daily"
    );
    assert_eq!(sql("SELECT * FROM `my-ds.t`"), "SELECT * FROM \"my-ds\".t");
    assert_eq!(expr("experiments.`slug-x`"), "experiments.\"slug-x\"");
    assert_eq!(
        expr("mozfun.map.get_key(m, 'k')"),
        "mozfun_map_get_key(m, 'k')"
    );
    assert_eq!(
        expr("`mozfun.map.get_key`(m, 'k')"),
        "mozfun_map_get_key(m, 'k')"
    );
    assert_eq!(
        expr("`mozfun`.map.get_key(m, 'k')"),
        "mozfun_map_get_key(m, 'k')"
    );
    assert_eq!(
        expr("`moz-fx-data-shared-prod`.udf.get_key(m, 'k')"),
        "udf_get_key(m, 'k')"
    );
    assert_eq!(
        expr("`moz-fx-data-shared-prod.udf.normalize_search_engine`(e)"),
        "udf_normalize_search_engine(e)"
    );
    assert_eq!(expr("mozdata.udf.get_key(m, 'k')"), "udf_get_key(m, 'k')");
    assert_eq!(expr("udf_js.f(x)"), "udf_js_f(x)");
}

#[test]
fn struct_field_access_on_call_results() {
    assert_eq!(
        expr("mozfun.hist.extract(h).values"),
        "(mozfun_hist_extract(h)).\"values\""
    );
    assert_eq!(
        expr("mozfun.map.get_key(b.ping_info.experiments, 'slug').branch"),
        "(mozfun_map_get_key(b.ping_info.experiments, 'slug')).branch"
    );
}

#[test]
fn aggregates() {
    assert_eq!(
        expr("SAFE_DIVIDE(SUM(a), SUM(b))"),
        "bq_safe_divide(sum(a), sum(b))"
    );
    assert_eq!(expr("COUNTIF(x > 0)"), "COALESCE(count_if(x > 0), 0)");
    assert_eq!(expr("LOGICAL_OR(x)"), "bool_or(x)");
    assert_eq!(expr("LOGICAL_AND(x)"), "bool_and(x)");
    assert_eq!(expr("MAX_BY(x, y)"), "arg_max(x, y)");
    assert_eq!(expr("MIN_BY(x, y)"), "arg_min(x, y)");
    assert_eq!(expr("ANY_VALUE(x)"), "any_value(x)");
    assert_eq!(expr("COUNT(DISTINCT x)"), "count(DISTINCT x)");
    assert_eq!(
        expr("ARRAY_AGG(x IGNORE NULLS)"),
        "list(x) FILTER (WHERE x IS NOT NULL)"
    );
    assert_eq!(
        expr("ARRAY_AGG(mozfun.hist.extract(h) IGNORE NULLS)"),
        "list(mozfun_hist_extract(h)) FILTER (WHERE mozfun_hist_extract(h) IS NOT NULL)"
    );
    assert_eq!(
        expr("ARRAY_AGG(x ORDER BY y DESC LIMIT 1)[SAFE_OFFSET(0)]"),
        "(list_slice(list(x ORDER BY y DESC NULLS LAST), 1, 1))[1]"
    );
    assert_eq!(expr("ARRAY_CONCAT_AGG(a)"), "flatten(list(a))");
    assert_eq!(
        expr("APPROX_QUANTILES(x, 4)"),
        "quantile_disc(x, [0.0, 0.25, 0.5, 0.75, 1.0])"
    );
}

#[test]
fn conditionals_and_nulls() {
    assert_eq!(expr("IF(a, 1, 2)"), "CASE WHEN a THEN 1 ELSE 2 END");
    assert_eq!(expr("IFNULL(a, 0)"), "coalesce(a, 0)");
    assert_eq!(
        expr("LEAST(a, b)"),
        "CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE least(a, b) END"
    );
    assert_eq!(expr("CONCAT(a, '-', b)"), "(a || '-' || b)");
    assert_eq!(expr("x IS TRUE"), "x IS TRUE");
}

#[test]
fn dates() {
    assert_eq!(
        expr("DATE(submission_timestamp)"),
        "CAST(submission_timestamp AS DATE)"
    );
    assert_eq!(expr("DATE(2024, 1, 2)"), "make_date(2024, 1, 2)");
    assert_eq!(expr("DATE_DIFF(a, b, DAY)"), "date_diff('day', b, a)");
    assert_eq!(expr("DATE_DIFF(a, b, WEEK)"), "bq_date_diff_week(a, b)");
    assert_eq!(
        expr("DATE_ADD('2024-01-01', INTERVAL 7 DAY)"),
        "CAST(CAST('2024-01-01' AS DATE) + INTERVAL 7 DAY AS DATE)"
    );
    assert_eq!(
        expr("DATE_ADD(e.enrollment_date, interval e.analysis_window_start day)"),
        "CAST(e.enrollment_date + INTERVAL ((e.analysis_window_start)) DAY AS DATE)"
    );
    assert_eq!(
        expr("DATE_SUB(d, INTERVAL 1 DAY)"),
        "CAST(d - INTERVAL 1 DAY AS DATE)"
    );
    assert_eq!(expr("EXTRACT(DAYOFWEEK FROM d)"), "(dayofweek(d) + 1)");
    assert_eq!(
        expr("PARSE_DATE('%Y%m%d', s)"),
        "CAST(strptime(s, '%Y%m%d') AS DATE)"
    );
    assert_eq!(expr("FORMAT_DATE('%F', d)"), "strftime(d, '%Y-%m-%d')");
    assert_eq!(expr("DATE_TRUNC(d, WEEK)"), "bq_date_trunc_week(d)");
    assert_eq!(expr("CURRENT_DATE()"), "current_date");
    assert_eq!(
        expr("TIMESTAMP_MILLIS(t)"),
        "make_timestamp(CAST(t AS BIGINT) * 1000)"
    );
    assert_eq!(
        expr("TIMESTAMP_DIFF(a, b, SECOND)"),
        "date_sub('second', b, a)"
    );
}

#[test]
fn casts() {
    assert_eq!(expr("CAST(x AS INT64)"), "bq_cast_int64(x)");
    assert_eq!(expr("CAST(x > 0 AS INT)"), "CAST(x > 0 AS BIGINT)");
    assert_eq!(
        expr("CAST(COALESCE(LOGICAL_OR(x), FALSE) AS INT64)"),
        "CAST(coalesce(bool_or(x), false) AS BIGINT)"
    );
    assert_eq!(expr("SAFE_CAST(x AS INT64)"), "bq_safe_cast_int64(x)");
    assert_eq!(expr("SAFE_CAST(x AS FLOAT64)"), "TRY_CAST(x AS DOUBLE)");
    assert_eq!(expr("CAST(x AS STRING)"), "CAST(x AS VARCHAR)");
    assert_eq!(expr("CAST(x AS BOOL)"), "CAST(x AS BOOLEAN)");
    assert_eq!(expr("CAST(x AS NUMERIC)"), "CAST(x AS DECIMAL(38,9))");
    assert_eq!(expr("CAST(x AS DATE)"), "CAST(x AS DATE)");
}

#[test]
fn strings_json_regex() {
    assert_eq!(
        expr("SAFE.SUBSTR(application.build_id, 0, 8)"),
        "bq_safe_substr(application.build_id, 0, 8)"
    );
    assert_eq!(expr("SUBSTR(s, 2)"), "bq_substr(s, 2)");
    assert_eq!(
        expr(r#"JSON_EXTRACT_SCALAR(h, "$.sum")"#),
        "bq_json_value(h, '$.sum')"
    );
    assert_eq!(
        expr("JSON_VALUE(event_extra, '$.branch')"),
        "bq_json_value(event_extra, '$.branch')"
    );
    assert_eq!(
        expr("JSON_EXTRACT(j, \"$['a-b']\")"),
        "CAST(json_extract(j, '$.\"a-b\"') AS VARCHAR)"
    );
    assert_eq!(
        expr("JSON_EXTRACT_ARRAY(j, '$.a')"),
        "bq_json_extract_array(j, '$.a')"
    );
    assert_eq!(expr("REGEXP_CONTAINS(s, r'^a')"), "regexp_matches(s, '^a')");
    assert_eq!(
        expr("REGEXP_EXTRACT(s, r'v(\\d+)')"),
        r"bq_regexp_extract(s, 'v(\d+)', 1)"
    );
    assert_eq!(expr("STARTS_WITH(s, 'a')"), "starts_with(s, 'a')");
    assert_eq!(expr("SPLIT(s)"), "string_split(s, ',')");
    assert_eq!(expr("ARRAY_LENGTH(a)"), "len(a)");
    assert_eq!(expr("ARRAY_TO_STRING(a, ',')"), "array_to_string(a, ',')");
}

#[test]
fn arrays_structs_unnest() {
    assert_eq!(expr("[1, 2]"), "[1, 2]");
    assert_eq!(expr("arr[OFFSET(1)]"), "bq_offset(arr, 1)");
    assert_eq!(expr("arr[SAFE_OFFSET(0)]"), "arr[1]");
    assert_eq!(expr("arr[ORDINAL(2)]"), "bq_offset(arr, 2 - 1)");
    assert_eq!(expr("STRUCT(a AS x, b)"), "struct_pack(x := a, b := b)");
    assert_eq!(expr("x IN UNNEST(arr)"), "x IN (SELECT unnest(arr))");
    assert_eq!(
        expr("(SELECT SUM(value) FROM UNNEST(mozfun.hist.extract(h).values) WHERE key >= 1)"),
        "(SELECT sum(value) FROM (SELECT unnest((mozfun_hist_extract(h)).\"values\", max_depth := 2)) WHERE key >= 1)"
    );
    assert_eq!(
        sql("SELECT h.key FROM t, UNNEST(t.arr) AS h"),
        "SELECT h.key FROM t, unnest(t.arr) AS h(h)"
    );
    assert_eq!(
        sql("SELECT x FROM t CROSS JOIN UNNEST(col) AS x"),
        "SELECT x FROM t CROSS JOIN unnest(col) AS x(x)"
    );
    assert_eq!(
        sql("SELECT key FROM t, UNNEST(t.kv)"),
        "SELECT key FROM t, LATERAL (SELECT unnest(t.kv, max_depth := 2))"
    );
}

#[test]
fn query_shapes() {
    assert_eq!(
        sql("SELECT * EXCEPT (a, b) FROM t"),
        "SELECT * EXCLUDE (a, b) FROM t"
    );
    assert_eq!(
        sql("SELECT e.* EXCEPT (a) FROM t e"),
        "SELECT e.* EXCLUDE (a) FROM t e"
    );
    assert_eq!(
        sql("SELECT raw_enrollments.*, FROM r"),
        "SELECT raw_enrollments.* FROM r"
    );
    assert_eq!(
        sql("SELECT a FROM t QUALIFY ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) = 1"),
        "SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY a ORDER BY b NULLS FIRST) = 1"
    );
    assert_eq!(
        sql("SELECT a, COUNT(*) FROM t GROUP BY ALL"),
        "SELECT a, count(*) FROM t GROUP BY ALL"
    );
    assert_eq!(
        sql("SELECT 1 UNION DISTINCT SELECT 2"),
        "SELECT 1 UNION SELECT 2"
    );
    assert_eq!(
        sql("CREATE OR REPLACE TABLE `p.d.t` AS SELECT 1 AS a"),
        "CREATE OR REPLACE TABLE d.t AS SELECT 1 AS a"
    );
    assert_eq!(
        sql("SELECT 1 AS a; SELECT 2 AS b"),
        "SELECT 1 AS a;\nSELECT 2 AS b"
    );
    assert_eq!(sql("SELECT a -- note\nFROM t /* x */"), "SELECT a FROM t");
}

#[test]
fn errors_name_the_construct_and_position() {
    match translate("SELECT FARM_FINGERPRINT(x) FROM t") {
        Err(TranslateError::Unsupported {
            construct,
            line,
            column,
        }) => {
            assert!(construct.contains("FARM_FINGERPRINT"), "{construct}");
            assert_eq!((line, column), (1, 8));
        }
        other => panic!("{other:?}"),
    }
    match translate("SELECT a,\n  FROM t WHERE (") {
        Err(TranslateError::Parse { message, line, .. }) => {
            assert!(message.contains("Expected"), "{message}");
            assert_eq!(line, 2);
        }
        other => panic!("{other:?}"),
    }
    match translate_expression("a b c") {
        Err(TranslateError::Parse { message, .. }) => {
            assert!(message.contains("end of expression"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(translate("").is_err());
    assert!(translate("DECLARE x INT64").is_err());
    assert!(translate_expression("SAFE.FOO(x)").is_err());
    assert!(translate_expression("NO_SUCH_FUNCTION(x)").is_err());
    assert!(translate_expression("REGEXP_EXTRACT(s, pattern_column)").is_err());
    assert!(translate_expression("b'bytes'").is_err());
}

#[test]
fn prelude_defines_the_macros_the_translation_uses() {
    let prelude = duckdb_prelude();
    for name in [
        "bq_safe_divide",
        "bq_cast_int64",
        "bq_safe_cast_int64",
        "bq_substr",
        "bq_safe_substr",
        "bq_safe_offset",
        "bq_offset",
        "bq_date_diff_week",
        "bq_date_trunc_week",
        "bq_generate_date_array",
        "bq_regexp_extract",
        "bq_json_value",
        "bq_json_extract_array",
        "bq_json_value_array",
    ] {
        assert!(
            prelude.contains(&format!("MACRO {name}(")),
            "prelude lacks {name}"
        );
    }
}

#[test]
fn less_common_constructs() {
    assert_eq!(
        sql("SELECT t.id, e.* FROM t CROSS JOIN UNNEST(t.kv) AS e"),
        "SELECT t.id, unnest(e) FROM t CROSS JOIN unnest(t.kv) AS e(e)"
    );
    assert!(translate("SELECT e.* EXCEPT (k) FROM t, UNNEST(t.kv) AS e").is_err());
    assert_eq!(
        expr("ARRAY(SELECT x FROM t ORDER BY x)"),
        "ARRAY(SELECT x FROM t ORDER BY x NULLS FIRST)"
    );
    assert_eq!(
        sql("SELECT x, o FROM UNNEST(a) AS x WITH OFFSET AS o"),
        "SELECT x, o FROM (SELECT unnest(a) AS x, generate_subscripts(a, 1) - 1 AS o) AS x"
    );
    assert_eq!(
        expr("ARRAY_TO_STRING(a, ',', 'NULL')"),
        "array_to_string([coalesce(bq_x, 'NULL') FOR bq_x IN a], ',')"
    );
    assert_eq!(
        expr("JSON_VALUE(e['k'])"),
        "bq_json_value(json_extract(e, '$.\"k\"'), '$')"
    );
    assert_eq!(expr("RAND()"), "random()");
    assert_eq!(expr("LOG(x)"), "ln(x)");
    assert_eq!(expr("DIV(a, b)"), "(a // b)");
}
