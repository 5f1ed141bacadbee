-- DuckDB macros for BigQuery builtins that have no direct DuckDB equivalent.
-- Generated SQL from jetstream-dialect calls these; run once per database (duckdb_prelude()).
-- Lambdas are written as list comprehensions, which DuckDB 1.2 and 2.0 both accept.

-- SAFE_DIVIDE: NULL when the divisor is 0 (DuckDB's / returns inf or NULL instead).
CREATE OR REPLACE MACRO bq_safe_divide(a, b) AS
  CASE WHEN b = 0 THEN NULL ELSE a / b END;

-- CAST(x AS INT64): BigQuery rounds halves away from zero, DuckDB rounds them to even.
CREATE OR REPLACE MACRO bq_cast_int64(x) AS
  CASE WHEN typeof(x) IN ('DOUBLE', 'FLOAT')
       THEN CAST(round(TRY_CAST(x AS DOUBLE)) AS BIGINT)
       ELSE CAST(x AS BIGINT) END;
CREATE OR REPLACE MACRO bq_safe_cast_int64(x) AS
  CASE WHEN typeof(x) IN ('DOUBLE', 'FLOAT')
       THEN TRY_CAST(round(TRY_CAST(x AS DOUBLE)) AS BIGINT)
       ELSE TRY_CAST(x AS BIGINT) END;

-- SUBSTR: 1-based; position 0 is 1; a negative position counts from the end (clamped to 1);
-- a negative length is an error (SAFE.SUBSTR: NULL).
CREATE OR REPLACE MACRO bq_substr_start(s, p) AS
  CASE WHEN p = 0 THEN 1 WHEN p < 0 THEN greatest(length(s) + p + 1, 1) ELSE p END;
CREATE OR REPLACE MACRO bq_substr(s, p) AS
  substring(s, bq_substr_start(s, p), greatest(length(s), 0) + 1),
  (s, p, l) AS
  CASE WHEN l < 0 THEN error('SUBSTR: negative length')
       ELSE substring(s, bq_substr_start(s, p), l) END;
CREATE OR REPLACE MACRO bq_safe_substr(s, p) AS
  substring(s, bq_substr_start(s, p), greatest(length(s), 0) + 1),
  (s, p, l) AS
  CASE WHEN l < 0 THEN NULL ELSE substring(s, bq_substr_start(s, p), l) END;

-- arr[OFFSET(n)] fails out of range; arr[SAFE_OFFSET(n)] is NULL out of range (0-based).
CREATE OR REPLACE MACRO bq_safe_offset(arr, n) AS
  CASE WHEN n < 0 THEN NULL ELSE arr[n + 1] END;
CREATE OR REPLACE MACRO bq_offset(arr, n) AS
  CASE WHEN arr IS NULL OR n IS NULL THEN NULL
       WHEN n < 0 OR n >= len(arr) THEN error('Array index out of bounds')
       ELSE arr[n + 1] END;

-- DATE_DIFF(a, b, WEEK): Sunday-based week boundaries crossed.
CREATE OR REPLACE MACRO bq_date_trunc_week(d) AS
  CAST(CAST(d AS DATE) - CAST(dayofweek(CAST(d AS DATE)) AS INTEGER) AS DATE);
CREATE OR REPLACE MACRO bq_date_diff_week(a, b) AS
  CAST((bq_date_trunc_week(a) - bq_date_trunc_week(b)) / 7 AS BIGINT);

-- GENERATE_DATE_ARRAY(a, b, step): DATEs (DuckDB's generate_series yields TIMESTAMPs).
CREATE OR REPLACE MACRO bq_generate_date_array(a, b, step) AS
  [CAST(x AS DATE) FOR x IN generate_series(CAST(a AS DATE), CAST(b AS DATE), step)];

-- REGEXP_EXTRACT: NULL (not '') when there is no match; group 1 if the pattern has one.
CREATE OR REPLACE MACRO bq_regexp_extract(s, r, g) AS
  CASE WHEN regexp_matches(s, r) THEN regexp_extract(s, r, g) END;

-- JSON_VALUE / JSON_EXTRACT_SCALAR: scalars only (NULL for objects and arrays).
CREATE OR REPLACE MACRO bq_json_value(j, p) AS
  CASE WHEN json_type(j, p) IN ('OBJECT', 'ARRAY') THEN NULL
       ELSE json_extract_string(j, p) END;

-- JSON_EXTRACT_ARRAY: the elements as JSON texts.
CREATE OR REPLACE MACRO bq_json_extract_array(j, p) AS
  [CAST(x AS VARCHAR) FOR x IN CAST(json_extract(j, p) AS JSON[])];

-- JSON_VALUE_ARRAY / JSON_EXTRACT_STRING_ARRAY: the scalar elements as strings.
CREATE OR REPLACE MACRO bq_json_value_array(j, p) AS
  [bq_json_value(x, '$') FOR x IN CAST(json_extract(j, p) AS JSON[])];
