//! The enrollments table query: enrollees, their segments, and their exposures.

use super::{date_lit, date_plus, Catalog};
use jetstream_proto::naming::sql_string_literal;
use jetstream_proto::spec::{AnalysisSpec, ExposureSignalSpec, TimeLimits};
use std::collections::BTreeMap;

/// `WITH raw_enrollments, segmented_enrollments, exposures SELECT ...` for the experiment's
/// enrollment dates (Jetstream's `enrollments_<slug>` table).
pub fn enrollments_query(spec: &AnalysisSpec, tl: &TimeLimits, catalog: &Catalog) -> String {
    let raw = match &spec.experiment.enrollment_query {
        Some(custom) => custom.clone(),
        None => normandy_enrollments(spec, tl, catalog),
    };
    let exposures = match &spec.exposure_signal {
        Some(signal) => exposure_signal_query(spec, signal, tl),
        None => normandy_exposures(spec, tl, catalog),
    };
    format!(
        "WITH raw_enrollments AS (\n{raw}\n),\nsegmented_enrollments AS (\n{segments}\n),\nexposures AS (\n{exposures}\n)\n\
         SELECT se.*, e.* EXCLUDE (analysis_id, branch)\nFROM segmented_enrollments se\nLEFT JOIN exposures e USING (analysis_id, branch)",
        segments = segments_query(spec, tl),
    )
}

fn normandy_enrollments(spec: &AnalysisSpec, tl: &TimeLimits, catalog: &Catalog) -> String {
    format!(
        "    SELECT
        e.client_id AS analysis_id,
        map_get_key(e.event_map_values, 'branch') AS branch,
        MIN(e.submission_date) AS enrollment_date,
        COUNT(e.submission_date) AS num_enrollment_events
    FROM {events} e
    WHERE e.event_category = 'normandy'
        AND e.event_method = 'enroll'
        AND e.submission_date BETWEEN {first} AND {last}
        AND e.event_string_value = {slug}
        AND e.sample_id < {sample}
    GROUP BY ALL",
        events = catalog.events_table,
        first = date_lit(tl.first_enrollment_date),
        last = date_lit(tl.last_enrollment_date),
        slug = sql_string_literal(&spec.experiment.slug),
        sample = spec.experiment.sample_size,
    )
}

/// One LEFT JOIN per segment data source (first-use order), each computing that source's
/// segments over the source's window around each client's enrollment date.
fn segments_query(spec: &AnalysisSpec, tl: &TimeLimits) -> String {
    let mut by_source: BTreeMap<usize, (String, Vec<&jetstream_proto::spec::SegmentSpec>)> =
        BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for segment in &spec.segments {
        let idx = match order.iter().position(|s| *s == segment.data_source) {
            Some(i) => i,
            None => {
                order.push(segment.data_source.clone());
                order.len() - 1
            }
        };
        by_source
            .entry(idx)
            .or_insert_with(|| (segment.data_source.clone(), Vec::new()))
            .1
            .push(segment);
    }
    let mut columns = vec!["raw_enrollments.*".to_string()];
    let mut joins = Vec::new();
    for (idx, (source_name, segments)) in &by_source {
        let Some(source) = spec.segment_data_sources.get(source_name) else {
            continue; // the config resolver guarantees every segment's source exists
        };
        let selects: Vec<String> = segments
            .iter()
            .map(|s| format!("            {} AS {}", s.select_expression, s.name))
            .collect();
        columns.extend(segments.iter().map(|s| format!("ds_{idx}.{}", s.name)));
        joins.push(format!(
            "    LEFT JOIN (
        SELECT
            e.analysis_id,
            e.branch,
{selects}
        FROM raw_enrollments e
        LEFT JOIN {from} ds
            ON ds.{id} = e.analysis_id
            AND ds.{date} BETWEEN {lo} AND {hi}
            AND ds.{date} BETWEEN e.enrollment_date + {ws} AND e.enrollment_date + {we}
        GROUP BY e.analysis_id, e.branch
    ) ds_{idx} USING (analysis_id, branch)",
            selects = selects.join(",\n"),
            from = source.from_expression.trim(),
            id = source.client_id_column,
            date = source.submission_date_column,
            lo = date_plus(tl.first_enrollment_date, source.window_start),
            hi = date_plus(tl.last_enrollment_date, source.window_end),
            ws = source.window_start,
            we = source.window_end,
        ));
    }
    format!(
        "    SELECT {}\n    FROM raw_enrollments\n{}",
        columns.join(", "),
        joins.join("\n")
    )
}

/// Built-in Normandy exposure events, within the enrollment dates, matched to the enrollee's
/// branch and not before enrollment.
///
/// Every enrollee gets a row (count 0 and a NULL date when unexposed), as with a custom signal;
/// upstream's built-in query groups on the events side and leaves the count NULL instead. Only
/// `exposure_date IS NOT NULL` is ever tested downstream, so results are the same.
fn normandy_exposures(spec: &AnalysisSpec, tl: &TimeLimits, catalog: &Catalog) -> String {
    format!(
        "    SELECT
        re.analysis_id,
        re.branch,
        MIN(x.submission_date) AS exposure_date,
        COUNT(x.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
        SELECT
            client_id AS analysis_id,
            map_get_key(event_map_values, 'branchSlug') AS branch,
            submission_date
        FROM {events}
        WHERE event_category = 'normandy'
            AND (event_method = 'exposure' OR event_method = 'expose')
            AND submission_date BETWEEN {first} AND {last}
            AND event_string_value = {slug}
    ) x
        ON re.analysis_id = x.analysis_id
        AND re.branch = x.branch
        AND x.submission_date >= re.enrollment_date
    GROUP BY re.analysis_id, re.branch",
        events = catalog.events_table,
        first = date_lit(tl.first_enrollment_date),
        last = date_lit(tl.last_enrollment_date),
        slug = sql_string_literal(&spec.experiment.slug),
    )
}

/// A custom exposure signal's query over `raw_enrollments` (mozanalysis
/// `ExposureSignal.build_query`): the source's rows where the signal holds, from
/// `first_enrollment + window_start` to `(first_enrollment if window_end else
/// last_enrollment) + window_end`, on or after each client's enrollment date.
pub(crate) fn exposure_signal_query(
    spec: &AnalysisSpec,
    signal: &ExposureSignalSpec,
    tl: &TimeLimits,
) -> String {
    let span = (tl.last_enrollment_date - tl.first_enrollment_date).num_days();
    let ws = signal
        .window_start
        .map(|b| b.to_days(span, tl.window))
        .unwrap_or(0);
    let we = signal
        .window_end
        .map(|b| b.to_days(span, tl.window))
        .unwrap_or(0);
    let end_base = if we != 0 {
        tl.first_enrollment_date
    } else {
        tl.last_enrollment_date
    };
    let (from, id, date) = match spec.data_sources.get(&signal.data_source) {
        Some(ds) => (
            ds.from_expression.trim().to_string(),
            ds.client_id_column.clone(),
            ds.submission_date_column.clone(),
        ),
        None => (
            signal.data_source.clone(),
            "client_id".to_string(),
            "submission_date".to_string(),
        ),
    };
    format!(
        "    SELECT
        e.analysis_id,
        e.branch,
        MIN(ds.submission_date) AS exposure_date,
        COUNT(ds.submission_date) AS num_exposure_events
    FROM raw_enrollments e
    LEFT JOIN (
        SELECT {id} AS analysis_id, {date} AS submission_date
        FROM {from}
        WHERE {date} BETWEEN {lo} AND {hi}
            AND ({select})
    ) AS ds
        ON ds.analysis_id = e.analysis_id
        AND ds.submission_date >= e.enrollment_date
    GROUP BY e.analysis_id, e.branch",
        lo = date_plus(tl.first_enrollment_date, ws),
        hi = date_plus(end_base, we),
        select = signal.select_expression,
    )
}
