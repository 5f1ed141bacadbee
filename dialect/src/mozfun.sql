-- Mozilla persistent BigQuery UDFs (mozfun.* and <project>.udf.*) re-implemented
-- as DuckDB macros.
--
-- Naming: mozfun.<ns>.<name>  -> mozfun_<ns>_<name>
--         [<project>.]udf.<name> -> udf_<name>
--         internal helpers      -> _mozfun_<name>
--
-- Written for DuckDB 1.2.0 and checked against DuckDB 2.0.0 (the version bundled
-- by the workspace's duckdb crate). Lambdas are written only as list
-- comprehensions ([f(x) FOR x IN l IF p(x)]) because the two versions accept
-- different lambda syntaxes (1.2.0: `x -> e`, 2.0.0: `lambda x: e`), while the
-- comprehension form works in both.
--
-- Data shapes (BigQuery -> DuckDB):
--   map                ARRAY<STRUCT<key, value>> -> STRUCT(key .., value ..)[]
--   extracted hist     STRUCT(bucket_count BIGINT, histogram_type BIGINT,
--                             sum BIGINT, range BIGINT[],
--                             values STRUCT(key BIGINT, value BIGINT)[])
--   DATETIME -> TIMESTAMP, NUMERIC -> DECIMAL(38,9), INT64 -> BIGINT,
--   FLOAT64 -> DOUBLE.
--
-- Every statement is CREATE OR REPLACE MACRO, so the file can be executed
-- any number of times on one connection. A macro only calls macros defined
-- above it. Lambda variables use a `_mz` prefix so they cannot capture caller
-- columns that appear in macro arguments.
--
-- See dialect/MOZFUN.md for the list of macros and deliberate differences
-- from BigQuery.

-- ---------------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------------

-- Build a histogram struct with the canonical DuckDB types so that every
-- branch of mozfun_hist_extract has exactly the same type.
CREATE OR REPLACE MACRO _mozfun_hist_struct(_bc, _ht, _s, _r, _v) AS
  {
    'bucket_count': CAST(_bc AS BIGINT),
    'histogram_type': CAST(_ht AS BIGINT),
    'sum': CAST(_s AS BIGINT),
    'range': CAST(_r AS BIGINT[]),
    'values': CAST(_v AS STRUCT("key" BIGINT, "value" BIGINT)[])
  };

-- JSON object text of integer->integer pairs ('{"0":1,"1":2}') to a list of
-- {key, value} structs, in text order. Mirrors mozfun.json.extract_int_map:
-- strip braces and quotes, split on ',' then ':'; unparsable ints become NULL.
CREATE OR REPLACE MACRO _mozfun_json_int_map(_txt) AS
  [
    {
      'key': TRY_CAST(string_split(_mz_e, ':')[1] AS BIGINT),
      'value': TRY_CAST(string_split(_mz_e, ':')[2] AS BIGINT)
    }
    FOR _mz_e IN string_split(replace(trim(_txt, '{}'), '"', ''), ',')
    IF length(_mz_e) > 0
  ];

-- ---------------------------------------------------------------------------
-- mozfun.map
-- ---------------------------------------------------------------------------

-- mozfun.map.get_key(map, key): value of the first entry whose key equals k.
CREATE OR REPLACE MACRO mozfun_map_get_key(_map, _k) AS
  ([_mz_e.value FOR _mz_e IN _map IF _mz_e.key = _k])[1];

-- mozfun.map.extract_keyed_scalar_sum(ARRAY<STRUCT<key STRING, value INT64>>)
-- -> INT64: sum of the non-NULL values; NULL for NULL/empty/all-NULL input.
CREATE OR REPLACE MACRO mozfun_map_extract_keyed_scalar_sum(_map) AS
  CAST(list_sum([_mz_e.value FOR _mz_e IN _map]) AS BIGINT);

-- mozfun.map.sum(entries): per-key sums, one entry per distinct key (NULL key
-- included), in order of first appearance; [] for NULL or empty input.
CREATE OR REPLACE MACRO mozfun_map_sum(_entries) AS
  coalesce(
    (
      [
        [
          {
            'key': _mz_m[_mz_i].key,
            'value': list_sum([
              _mz_f.value FOR _mz_f IN _mz_m
              IF _mz_f.key IS NOT DISTINCT FROM _mz_m[_mz_i].key
            ])
          }
          FOR _mz_i IN range(1, len(_mz_m) + 1)
          IF list_position(
               [_mz_g.key IS NOT DISTINCT FROM _mz_m[_mz_i].key FOR _mz_g IN _mz_m],
               true
             ) = _mz_i
        ]
        FOR _mz_m IN [_entries]
      ]
    )[1],
    []
  );

-- ---------------------------------------------------------------------------
-- mozfun.stats
-- ---------------------------------------------------------------------------

-- mozfun.stats.mode_last(list): most frequent non-NULL element; ties go to the
-- element whose last occurrence is latest. NULL if there is none.
-- Score = count * (n + 1) + last_position, maximised.
CREATE OR REPLACE MACRO mozfun_stats_mode_last(_list) AS
  (
    [
      list_sort(
        [
          {
            'score': len([_mz_y FOR _mz_y IN _mz_l IF _mz_y = _mz_d]) * (len(_mz_l) + 1)
                     + (len(_mz_l) + 1 - list_position(list_reverse(_mz_l), _mz_d)),
            'v': _mz_d
          }
          FOR _mz_d IN list_distinct(_mz_l)
        ],
        'DESC'
      )[1].v
      FOR _mz_l IN [_list]
    ]
  )[1];

-- ---------------------------------------------------------------------------
-- mozfun.hist
-- ---------------------------------------------------------------------------

-- mozfun.hist.extract(STRING) -> histogram struct. Accepts the JSON form and
-- the compact forms "bucket_count;histogram_type;sum;lo,hi;k:v,k:v",
-- "v0,v1" (boolean) and "n" (count). NULL for NULL input or any other shape.
CREATE OR REPLACE MACRO mozfun_hist_extract(_input) AS
  CASE
    WHEN starts_with(trim(_input), '{') THEN
      CASE
        WHEN json_valid(_input) THEN
          -- One JSON parse for all fields; objects/arrays come back as
          -- minified JSON text. _mz_j binds the result once.
          (
            [
              _mozfun_hist_struct(
                TRY_CAST(_mz_j[1] AS BIGINT),
                TRY_CAST(_mz_j[2] AS BIGINT),
                TRY_CAST(_mz_j[3] AS BIGINT),
                [
                  TRY_CAST(_mz_b AS BIGINT)
                  FOR _mz_b IN string_split(trim(coalesce(_mz_j[4], ''), '[]'), ',')
                  IF length(_mz_b) > 0
                ],
                coalesce(_mozfun_json_int_map(_mz_j[5]), [])
              )
              FOR _mz_j IN [
                json_extract_string(
                  _input,
                  ['$.bucket_count', '$.histogram_type', '$.sum', '$.range', '$.values']
                )
              ]
            ]
          )[1]
        ELSE
          -- Malformed JSON: BigQuery's JSON functions yield NULL here.
          _mozfun_hist_struct(NULL, NULL, NULL, [], [])
      END
    WHEN len(string_split(_input, ';')) = 5 THEN
      _mozfun_hist_struct(
        TRY_CAST(string_split(_input, ';')[1] AS BIGINT),
        TRY_CAST(string_split(_input, ';')[2] AS BIGINT),
        TRY_CAST(string_split(_input, ';')[3] AS BIGINT),
        [TRY_CAST(_mz_b AS BIGINT)
         FOR _mz_b IN string_split(string_split(_input, ';')[4], ',')],
        [
          {
            'key': TRY_CAST(string_split(_mz_e, ':')[1] AS BIGINT),
            'value': TRY_CAST(string_split(_mz_e, ':')[2] AS BIGINT)
          }
          FOR _mz_e IN string_split(string_split(_input, ';')[5], ',')
          IF length(_mz_e) >= 3
        ]
      )
    WHEN len(string_split(_input, ',')) = 2 THEN
      _mozfun_hist_struct(
        3,
        2,
        TRY_CAST(string_split(_input, ',')[2] AS BIGINT),
        [1, 2],
        [
          {'key': 0, 'value': TRY_CAST(string_split(_input, ',')[1] AS BIGINT)},
          {'key': 1, 'value': TRY_CAST(string_split(_input, ',')[2] AS BIGINT)},
          {'key': 2, 'value': 0}
        ]
      )
    WHEN len(string_split(_input, ',')) = 1 THEN
      _mozfun_hist_struct(
        3,
        4,
        TRY_CAST(_input AS BIGINT),
        [1, 2],
        [
          {'key': 0, 'value': TRY_CAST(_input AS BIGINT)},
          {'key': 1, 'value': 0}
        ]
      )
    ELSE NULL
  END;

-- mozfun.hist.threshold_count(histogram STRING, threshold INT64) -> INT64:
-- sum of bucket counts whose key >= threshold (0 when none).
CREATE OR REPLACE MACRO mozfun_hist_threshold_count(_histogram, _threshold) AS
  CAST(
    coalesce(
      list_sum([
        _mz_e.value FOR _mz_e IN mozfun_hist_extract(_histogram)."values"
        IF _mz_e.key >= _threshold
      ]),
      0
    ) AS BIGINT
  );

-- mozfun.hist.merge(ARRAY<histogram struct>) -> histogram struct.
-- bucket_count / histogram_type / range bounds: mode_last over the inputs;
-- sum: total of sums; values: per-key sum of counts (one entry per distinct
-- key, NULL key included), sorted by key. NULL histograms in the list are
-- ignored (DuckDB's list()/array_agg keep NULLs, BigQuery's ARRAY_AGG ...
-- IGNORE NULLS does not). The per-key sums use a correlated subquery, which
-- is much faster than a list comprehension on large merges; it works when the
-- argument is an aggregate such as list(...), but the macro cannot be used
-- inside a lambda / list comprehension body.
CREATE OR REPLACE MACRO mozfun_hist_merge(_histogram_list) AS
  {
    'bucket_count': mozfun_stats_mode_last([_mz_h.bucket_count FOR _mz_h IN _histogram_list]),
    'histogram_type': mozfun_stats_mode_last([_mz_h.histogram_type FOR _mz_h IN _histogram_list]),
    'sum': CAST(list_sum([_mz_h."sum" FOR _mz_h IN _histogram_list]) AS BIGINT),
    'range': [
      mozfun_stats_mode_last([_mz_h."range"[1] FOR _mz_h IN _histogram_list]),
      mozfun_stats_mode_last([_mz_h."range"[2] FOR _mz_h IN _histogram_list])
    ],
    'values': coalesce(
      (
        SELECT list({'key': _mz_k, 'value': _mz_s} ORDER BY _mz_k NULLS LAST)
        FROM (
          SELECT _mz_u._mz_e.key AS _mz_k, CAST(sum(_mz_u._mz_e.value) AS BIGINT) AS _mz_s
          FROM (
            SELECT unnest(flatten([
              _mz_h."values" FOR _mz_h IN _histogram_list
              IF _mz_h IS NOT NULL AND _mz_h."values" IS NOT NULL
            ])) AS _mz_e
          ) AS _mz_u
          GROUP BY 1
        ) AS _mz_g
      ),
      []
    )
  };

-- mozfun.hist.percentiles(histogram, ARRAY<FLOAT64>)
--   -> ARRAY<STRUCT<percentile FLOAT64, value INT64>>
-- For each distinct non-NULL percentile p (ascending), the smallest key whose
-- cumulative fraction (sum of counts with key <= this key, over the total)
-- is >= p. Percentiles that no bucket reaches are omitted. NULL when the
-- histogram is NULL or its total count is 0 (documented "empty" case).
CREATE OR REPLACE MACRO mozfun_hist_percentiles(_histogram, _percentiles) AS
  (
    [
      CASE
        WHEN coalesce(list_sum([_mz_e.value FOR _mz_e IN _mz_v]), 0) <> 0 THEN
          [
            _mz_r FOR _mz_r IN [
              {
                'percentile': CAST(_mz_p AS DOUBLE),
                'value': CAST(
                  list_min([
                    _mz_e.key FOR _mz_e IN _mz_v
                    IF CAST(list_sum([_mz_f.value FOR _mz_f IN _mz_v IF _mz_f.key <= _mz_e.key]) AS DOUBLE)
                       / CAST(list_sum([_mz_f.value FOR _mz_f IN _mz_v]) AS DOUBLE)
                       >= _mz_p
                  ]) AS BIGINT
                )
              }
              FOR _mz_p IN list_sort(list_distinct(CAST(_percentiles AS DOUBLE[])))
            ]
            IF _mz_r.value IS NOT NULL
          ]
        ELSE NULL
      END
      FOR _mz_v IN [(_histogram)."values"]
    ]
  )[1];

-- mozfun.hist.mean(histogram) -> INT64: floor(sum / number of observations),
-- counting each bucket at most 2^31; 0 when sum = 0, NULL when sum < 0 or
-- there are no positive counts.
CREATE OR REPLACE MACRO mozfun_hist_mean(_histogram) AS
  CASE
    WHEN (_histogram)."sum" < 0 THEN NULL
    WHEN (_histogram)."sum" = 0 THEN 0
    ELSE TRY_CAST(
      trunc(
        CAST((_histogram)."sum" AS DOUBLE)
        / CAST(list_sum([
            least(2147483648, _mz_e.value) FOR _mz_e IN (_histogram)."values"
            IF _mz_e.value > 0
          ]) AS DOUBLE)
      ) AS BIGINT
    )
  END;

-- ---------------------------------------------------------------------------
-- mozfun.norm
-- ---------------------------------------------------------------------------

-- mozfun.norm.fenix_build_to_datetime(STRING) -> DATETIME (TIMESTAMP).
-- 8-char builds "YDDDHHMM" (year offset from 2018, day of year, hour, minute);
-- 10-char builds are an integer whose low 20 bits, minus the 3 lowest, count
-- hours since 2014-12-28. Anything else is NULL.
CREATE OR REPLACE MACRO mozfun_norm_fenix_build_to_datetime(_app_build) AS
  CASE
    WHEN length(_app_build) = 8
         AND substr(_app_build, 5, 2) < '24'
         AND substr(_app_build, 7, 2) < '60' THEN
      make_timestamp(
        2018 + TRY_CAST(substr(_app_build, 1, 1) AS BIGINT),
        1,
        1,
        TRY_CAST(substr(_app_build, 5, 2) AS BIGINT),
        TRY_CAST(substr(_app_build, 7, 2) AS BIGINT),
        0
      ) + to_days(CAST(TRY_CAST(substr(_app_build, 2, 3) AS BIGINT) - 1 AS INTEGER))
    WHEN length(_app_build) = 10 THEN
      TIMESTAMP '2014-12-28 00:00:00'
      + to_hours((TRY_CAST(_app_build AS BIGINT) & 1048575) >> 3)
    ELSE NULL
  END;

-- mozfun.norm.extract_version(version_string, 'major'|'minor'|'patch'|'beta')
-- -> NUMERIC (DECIMAL(38,9)).
CREATE OR REPLACE MACRO mozfun_norm_extract_version(_version_string, _extraction_level) AS
  CASE
    WHEN _extraction_level = 'patch' THEN
      TRY_CAST(nullif(regexp_extract(_version_string, '^[0-9]+[.][0-9]+[.]([0-9]+).*', 1), '') AS DECIMAL(38, 9))
    WHEN _extraction_level = 'minor' THEN
      TRY_CAST(nullif(regexp_extract(_version_string, '^[0-9]+[.]([0-9]+).*', 1), '') AS DECIMAL(38, 9))
    WHEN _extraction_level = 'major' THEN
      TRY_CAST(nullif(regexp_extract(_version_string, '^([0-9]+).*', 1), '') AS DECIMAL(38, 9))
    WHEN _extraction_level = 'beta' THEN
      TRY_CAST(nullif(regexp_extract(_version_string, '^[0-9.]+[rc|b]+([0-9]+)$', 1), '') AS DECIMAL(38, 9))
    ELSE NULL
  END;

-- mozfun.norm.truncate_version(os_version, 'major'|'minor') -> NUMERIC
-- (DECIMAL(38,9)): "16.1.1" -> 16.1 (minor) / 16 (major).
CREATE OR REPLACE MACRO mozfun_norm_truncate_version(_os_version, _truncation_level) AS
  CASE
    WHEN _truncation_level = 'minor' THEN
      TRY_CAST(nullif(regexp_extract(_os_version, '^([0-9]+[.]?[0-9]+).*', 1), '') AS DECIMAL(38, 9))
    WHEN _truncation_level = 'major' THEN
      TRY_CAST(nullif(regexp_extract(_os_version, '^([0-9]+).*', 1), '') AS DECIMAL(38, 9))
    ELSE NULL
  END;

-- mozfun.norm.os(STRING) -> 'Windows' | 'Mac' | 'Linux' | 'iOS' | 'Android' | 'Other'
-- (NULL input gives 'Other', as in BigQuery).
CREATE OR REPLACE MACRO mozfun_norm_os(_os) AS
  CASE
    WHEN _os LIKE 'Windows%' OR _os LIKE 'WINNT%' THEN 'Windows'
    WHEN _os LIKE 'Darwin%' THEN 'Mac'
    WHEN _os LIKE '%Linux%' OR _os LIKE '%BSD%' OR _os LIKE '%SunOS%' OR _os LIKE '%Solaris%' THEN 'Linux'
    WHEN _os LIKE 'iOS%' OR _os LIKE '%iPhone%' THEN 'iOS'
    WHEN _os LIKE 'Android%' THEN 'Android'
    ELSE 'Other'
  END;

-- mozfun.norm.windows_version_info(os, os_version, windows_build_number) -> STRING
CREATE OR REPLACE MACRO mozfun_norm_windows_version_info(_os, _os_version, _windows_build_number) AS
  CASE
    WHEN _os NOT IN ('Windows_NT', 'Windows_95', 'Windows_98') THEN NULL
    WHEN _os = 'Windows_95' THEN 'Windows 95'
    WHEN _os = 'Windows_98' THEN 'Windows 98'
    WHEN _os_version = '4.0' AND _os = 'Windows_NT' THEN 'Windows NT 4.0'
    WHEN _os_version = '5.0' THEN 'Windows 2000'
    WHEN _os_version = '5.1' OR _os_version = '5.2' THEN 'Windows XP'
    WHEN _os_version = '6.0' THEN 'Windows Vista'
    WHEN _os_version = '6.1' THEN 'Windows 7'
    WHEN _os_version = '6.2' THEN 'Windows 8'
    WHEN _os_version = '6.3' THEN 'Windows 8.1'
    WHEN _os_version = '10.0' AND _windows_build_number >= 22000 THEN 'Windows 11'
    WHEN _os_version = '10.0' AND _windows_build_number < 22000 THEN 'Windows 10'
    ELSE NULL
  END;

-- ---------------------------------------------------------------------------
-- mozfun.bits28
-- ---------------------------------------------------------------------------

-- mozfun.bits28.days_since_seen(INT64) -> INT64: index of the lowest set bit
-- (0 = seen today); NULL when no bit is set.
CREATE OR REPLACE MACRO mozfun_bits28_days_since_seen(_bits) AS
  CASE
    WHEN _bits <> 0 THEN
      CAST(round(log2(CAST(CAST(_bits AS BIGINT) & (-CAST(_bits AS BIGINT)) AS DOUBLE))) AS BIGINT)
    ELSE NULL
  END;

-- ---------------------------------------------------------------------------
-- Legacy <project>.udf.* functions
-- ---------------------------------------------------------------------------

-- udf.get_key: legacy alias of mozfun.map.get_key.
CREATE OR REPLACE MACRO udf_get_key(_map, _k) AS
  mozfun_map_get_key(_map, _k);

-- udf.json_extract_histogram: legacy alias of mozfun.hist.extract.
CREATE OR REPLACE MACRO udf_json_extract_histogram(_input) AS
  mozfun_hist_extract(_input);

-- udf.histogram_to_threshold_count: legacy alias of mozfun.hist.threshold_count.
CREATE OR REPLACE MACRO udf_histogram_to_threshold_count(_histogram, _threshold) AS
  mozfun_hist_threshold_count(_histogram, _threshold);

-- udf.histogram_percentiles: legacy alias of mozfun.hist.percentiles.
CREATE OR REPLACE MACRO udf_histogram_percentiles(_histogram, _percentiles) AS
  mozfun_hist_percentiles(_histogram, _percentiles);

-- udf.histogram_max_key_with_nonzero_value(STRING) -> INT64: largest bucket
-- key with a count > 0; NULL if none.
CREATE OR REPLACE MACRO udf_histogram_max_key_with_nonzero_value(_histogram) AS
  list_max([
    _mz_e.key FOR _mz_e IN mozfun_hist_extract(_histogram)."values"
    IF _mz_e.value > 0
  ]);

-- udf.extract_histogram_sum(STRING) -> INT64: the "sum" of any histogram
-- encoding (JSON "$.sum", else the 3rd ';' field, else the 2nd ',' field,
-- else the whole string), NULL if that is not an integer.
CREATE OR REPLACE MACRO udf_extract_histogram_sum(_input) AS
  TRY_CAST(
    coalesce(
      CASE WHEN json_valid(_input) THEN json_extract_string(_input, '$.sum') END,
      string_split(_input, ';')[3],
      string_split(_input, ',')[2],
      _input
    ) AS BIGINT
  );

-- udf.keyed_histogram_get_sum(keyed_histogram ARRAY<STRUCT<key, value STRING>>,
-- key) -> INT64: sum of the histogram stored under key.
CREATE OR REPLACE MACRO udf_keyed_histogram_get_sum(_keyed_histogram, _target_key) AS
  udf_extract_histogram_sum(mozfun_map_get_key(_keyed_histogram, _target_key));

-- udf.normalize_search_engine(STRING) -> STRING. The production body lives in
-- Mozilla's private repository; this is the last public implementation.
CREATE OR REPLACE MACRO udf_normalize_search_engine(_engine) AS
  CASE
    WHEN _engine IS NULL THEN NULL
    WHEN starts_with(lower(_engine), 'google') THEN 'Google'
    WHEN starts_with(lower(_engine), 'ddg') OR starts_with(lower(_engine), 'duckduckgo') THEN 'DuckDuckGo'
    WHEN starts_with(lower(_engine), 'bing') THEN 'Bing'
    WHEN starts_with(lower(_engine), 'yandex') OR starts_with(lower(_engine), 'yasearch') THEN 'Yandex'
    WHEN starts_with(lower(_engine), 'amazon') THEN 'Amazon'
    WHEN starts_with(lower(_engine), 'ebay') THEN 'Ebay'
    ELSE 'Other'
  END;

-- udf.monetized_search(engine, country, distribution_id, submission_date DATE)
-- -> BOOL. The production body lives in Mozilla's private repository; this is
-- the last public implementation. Never NULL (unknown -> false).
CREATE OR REPLACE MACRO udf_monetized_search(_engine, _country, _distribution_id, _submission_date) AS
  CASE
    WHEN _engine = 'google-nocodes' THEN false
    WHEN _engine LIKE 'google%'
         AND _distribution_id LIKE 'canonical%'
         AND CAST(_submission_date AS DATE) < DATE '2020-07-29' THEN true
    WHEN _engine = 'google-canonical'
         AND CAST(_submission_date AS DATE) >= DATE '2020-07-29' THEN true
    WHEN _engine LIKE 'google%'
         AND _country IN ('RU', 'TR', 'KZ', 'BY', 'CN') THEN false
    WHEN _engine LIKE 'google%'
         AND _country = 'UA'
         AND CAST(_submission_date AS DATE) < DATE '2017-07-14' THEN false
    WHEN _engine LIKE 'google%'
         AND _country IN ('US', 'CA', 'TW', 'HK')
         AND CAST(_submission_date AS DATE) < DATE '2017-11-14' THEN false
    WHEN _engine IN ('google', 'google-sysaddon', 'google-b-d', 'google-b-e') THEN true
    WHEN _engine IN ('google-2018', 'google-2018-sysaddon', 'google-b-1-d', 'google-b-1-e')
         AND _country = 'US' THEN true
    WHEN _engine IN ('google-2018', 'google-2018-sysaddon', 'google-b-1-d', 'google-b-1-e')
         AND _country <> 'US' THEN false
    WHEN _engine LIKE 'yandex%'
         AND _country = 'UA'
         AND CAST(_submission_date AS DATE) < DATE '2017-07-01' THEN true
    WHEN (_engine LIKE 'yandex%' OR _engine = 'yasearch')
         AND _country IN ('RU', 'KZ', 'BY', 'TR') THEN true
    WHEN _engine IN ('bing', 'ddg', 'duckduckgo') THEN true
    WHEN _engine LIKE 'ebay%'
         AND _country IN ('US', 'GB', 'CA', 'IE', 'FR', 'IT', 'DE', 'AT', 'ES', 'NL', 'AU', 'CH') THEN true
    WHEN _engine LIKE 'amazon%'
         AND _country IN ('US', 'IT', 'GB', 'FR', 'DE', 'JP') THEN true
    WHEN _engine LIKE 'yahoo-jp%' AND _country = 'JP' THEN true
    WHEN _engine = 'baidu' AND _country = 'CN' THEN true
    WHEN _engine = 'ecosia' AND _country = 'DE' THEN true
    WHEN _engine = 'qwant' AND _country = 'FR' THEN true
    WHEN _engine = 'mailru' AND _country = 'RU' THEN true
    WHEN _engine = 'seznam-cz' AND _country = 'CZ' THEN true
    WHEN _engine = 'webde-suche' AND _country = 'DE' THEN true
    WHEN _engine = 'rakuten' AND _country = 'JP' THEN true
    WHEN _engine IN ('amazondotcom-adm', 'amazon-en-GB-adm', 'amazon-de-adm') THEN true
    WHEN _engine LIKE 'yahoo%' AND CAST(_submission_date AS DATE) < DATE '2017-11-14' THEN true
    ELSE false
  END;
