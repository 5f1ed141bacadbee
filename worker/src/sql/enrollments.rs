//! The enrollments table query: enrollees, their segments, and their exposures
//! (mozanalysis `build_enrollments_query`, reference/mozanalysis.md A.4, A.6, A.7).

use super::{analysis_unit, date_str, Catalog, IdColumns, IdOptions, SqlError};
use jetstream_proto::naming::{bq_string_literal, dataset_for_app_id};
use jetstream_proto::spec::{
    AnalysisSpec, ExposureSignalSpec, SegmentDataSourceSpec, SegmentSpec, TimeLimits,
};

/// `WITH raw_enrollments, segmented_enrollments, exposures SELECT ...` for the experiment's
/// enrollment dates (Jetstream's `enrollments_<slug>` table).
pub fn enrollments_query(
    spec: &AnalysisSpec,
    tl: &TimeLimits,
    catalog: &Catalog,
    ids: IdOptions,
) -> Result<String, SqlError> {
    let experiment = &spec.experiment;
    let unit = analysis_unit(&experiment.analysis_unit)?;
    let kind = QueryType::of(spec)?;
    let ctx = Context {
        spec,
        catalog,
        unit,
        slug: bq_string_literal(&experiment.slug),
        first: date_str(tl.first_enrollment_date),
        last: date_str(tl.last_enrollment_date),
    };
    let raw = match &experiment.enrollment_query {
        Some(custom) => {
            check_custom_query(custom, "custom_enrollments_query", unit)?;
            custom.trim().to_string()
        }
        None => kind.enrollments(&ctx)?,
    };
    let exposures = match &spec.exposure_signal {
        Some(signal) => exposure_signal_query(spec, signal, tl, ids)?,
        None => kind.exposures(&ctx)?,
    };
    Ok(format!(
        "WITH raw_enrollments AS (\n{raw}\n),\nsegmented_enrollments AS (\n{segments}\n),\nexposures AS (\n{exposures}\n)\n\
         SELECT\n    se.*,\n    e.* EXCEPT (analysis_id, branch)\nFROM segmented_enrollments se\nLEFT JOIN exposures e\nUSING (analysis_id, branch)",
        segments = segments_query(spec, tl, unit, ids),
    ))
}

/// What every per-type query needs.
struct Context<'a> {
    spec: &'a AnalysisSpec,
    catalog: &'a Catalog,
    unit: &'static str,
    /// The slug as a BigQuery string literal.
    slug: String,
    first: String,
    last: String,
}

impl Context<'_> {
    fn sample_size(&self) -> u32 {
        match self.spec.experiment.sample_size {
            0 => 100,
            n => n,
        }
    }

    /// The app's BigQuery dataset (`org.mozilla.firefox` → `org_mozilla_firefox`).
    fn app_dataset(&self) -> Option<String> {
        let app_id = self.spec.experiment.app_id.trim();
        (!app_id.is_empty()).then(|| dataset_for_app_id(app_id))
    }

    fn require_client(&self, kind: QueryType) -> Result<(), SqlError> {
        if self.unit == "client_id" {
            Ok(())
        } else {
            Err(SqlError::IncompatibleAnalysisUnit {
                query_type: kind.name().to_string(),
                unit: self.unit.to_string(),
            })
        }
    }
}

/// mozanalysis' `EnrollmentsQueryType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryType {
    Normandy,
    GleanEvent,
    FenixFallback,
    Cirrus,
    BackgroundUpdate,
}

impl QueryType {
    fn of(spec: &AnalysisSpec) -> Result<QueryType, SqlError> {
        match spec
            .experiment
            .enrollments_query_type
            .as_deref()
            .unwrap_or("normandy")
        {
            "normandy" => Ok(QueryType::Normandy),
            "glean-event" => Ok(QueryType::GleanEvent),
            "fenix-fallback" => Ok(QueryType::FenixFallback),
            "cirrus" => Ok(QueryType::Cirrus),
            "background-update" => Ok(QueryType::BackgroundUpdate),
            other => Err(SqlError::UnknownQueryType(other.to_string())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            QueryType::Normandy => "normandy",
            QueryType::GleanEvent => "glean-event",
            QueryType::FenixFallback => "fenix-fallback",
            QueryType::Cirrus => "cirrus",
            QueryType::BackgroundUpdate => "background-update",
        }
    }

    /// The Glean app dataset the type reads: client_id unit only; the app's dataset, which
    /// `fenix-fallback` defaults to Firefox for Android's and the others require.
    fn glean_dataset(self, ctx: &Context) -> Result<String, SqlError> {
        ctx.require_client(self)?;
        match (ctx.app_dataset(), self) {
            (Some(dataset), _) => Ok(dataset),
            (None, QueryType::FenixFallback) => Ok(FENIX_DATASET.to_string()),
            (None, _) => Err(SqlError::MissingAppId(self.name().into())),
        }
    }

    fn enrollments(self, ctx: &Context) -> Result<String, SqlError> {
        Ok(match self {
            QueryType::Normandy => normandy_enrollments(ctx),
            QueryType::GleanEvent => glean_event_enrollments(ctx, &self.glean_dataset(ctx)?),
            QueryType::FenixFallback => fenix_fallback_enrollments(ctx, &self.glean_dataset(ctx)?),
            QueryType::Cirrus => cirrus_enrollments(ctx, &self.glean_dataset(ctx)?),
            QueryType::BackgroundUpdate => background_update_enrollments(ctx),
        })
    }

    fn exposures(self, ctx: &Context) -> Result<String, SqlError> {
        Ok(match self {
            QueryType::Normandy | QueryType::BackgroundUpdate => normandy_exposures(ctx),
            QueryType::GleanEvent | QueryType::FenixFallback => {
                events_stream_exposures(ctx, &self.glean_dataset(ctx)?)
            }
            QueryType::Cirrus => cirrus_exposures(ctx, &self.glean_dataset(ctx)?),
        })
    }
}

/// Firefox for Android's dataset, which `fenix-fallback` reads when the experiment has no app id.
const FENIX_DATASET: &str = "org_mozilla_firefox";

/// mozanalysis' sanity check of a custom query's text against the analysis unit.
fn check_custom_query(query: &str, which: &'static str, unit: &str) -> Result<(), SqlError> {
    let wrong = if unit == "client_id" {
        "profile_group_id"
    } else {
        "client_id"
    };
    if query.contains(wrong) {
        return Err(SqlError::CustomQueryUnit {
            which,
            found: wrong,
            unit: unit.to_string(),
        });
    }
    Ok(())
}

fn normandy_enrollments(ctx: &Context) -> String {
    format!(
        "    SELECT
        e.{unit} AS analysis_id,
        `mozfun.map.get_key`(e.event_map_values, 'branch') AS branch,
        MIN(e.submission_date) AS enrollment_date,
        COUNT(e.submission_date) AS num_enrollment_events
    FROM {events} e
    WHERE
        e.event_category = 'normandy'
        AND e.event_method = 'enroll'
        AND e.submission_date BETWEEN {first} AND {last}
        AND e.event_string_value = {slug}
        AND e.sample_id < {sample}
    GROUP BY ALL",
        unit = ctx.unit,
        events = ctx.catalog.table("telemetry", "events"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
        sample = ctx.sample_size(),
    )
}

fn glean_event_enrollments(ctx: &Context, dataset: &str) -> String {
    format!(
        "    SELECT
        client_id AS analysis_id,
        JSON_VALUE(event_extra, '$.branch') AS branch,
        DATE(MIN(submission_timestamp)) AS enrollment_date,
        COUNT(submission_timestamp) AS num_enrollment_events
    FROM {table}
    WHERE
        client_id IS NOT NULL
        AND DATE(submission_timestamp) BETWEEN {first} AND {last}
        AND event_category = 'nimbus_events'
        AND JSON_VALUE(event_extra, '$.experiment') = {slug}
        AND event_name = 'enrollment'
        AND sample_id < {sample}
    GROUP BY ALL",
        table = ctx.catalog.table(dataset, "events_stream"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
        sample = ctx.sample_size(),
    )
}

fn fenix_fallback_enrollments(ctx: &Context, dataset: &str) -> String {
    format!(
        "    SELECT
        b.client_info.client_id AS analysis_id,
        mozfun.map.get_key(b.ping_info.experiments, {slug}).branch,
        DATE(MIN(b.submission_timestamp)) AS enrollment_date,
        COUNT(b.submission_date) AS num_enrollment_events
    FROM {table} b
    WHERE
        b.client_info.client_id IS NOT NULL
        AND DATE(b.submission_timestamp) BETWEEN DATE_SUB({first}, INTERVAL 7 DAY) AND {last}
        AND mozfun.map.get_key(b.ping_info.experiments, {slug}).branch IS NOT NULL
        AND b.sample_id < {sample}
    GROUP BY ALL
    HAVING enrollment_date >= {first}",
        table = ctx.catalog.table(dataset, "baseline"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
        sample = ctx.sample_size(),
    )
}

fn cirrus_enrollments(ctx: &Context, dataset: &str) -> String {
    format!(
        "    SELECT
        `mozfun.map.get_key`(e.extra, 'nimbus_user_id') AS analysis_id,
        `mozfun.map.get_key`(e.extra, 'branch') AS branch,
        DATE(MIN(events.submission_timestamp)) AS enrollment_date,
        COUNT(events.submission_timestamp) AS num_enrollment_events
    FROM {table} events,
    UNNEST(events.events) AS e
    WHERE
        `mozfun.map.get_key`(e.extra, 'nimbus_user_id') IS NOT NULL
        AND DATE(events.submission_timestamp) BETWEEN {first} AND {last}
        AND e.category = 'cirrus_events'
        AND `mozfun.map.get_key`(e.extra, 'experiment') = {slug}
        AND e.name = 'enrollment'
        AND client_info.app_channel = 'production'
    GROUP BY ALL",
        table = ctx.catalog.table(dataset, "enrollment"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
    )
}

/// Desktop background-update enrollments: Glean enrollment events of the background task, the
/// task's own pings carrying the experiment, and legacy launched-to-handle toast events (whose
/// `name` extra reads `<slug>:<branch>`); each client's earliest row wins.
fn background_update_enrollments(ctx: &Context) -> String {
    format!(
        "    SELECT * FROM (
    (
        SELECT
            JSON_VALUE(metrics, '$.uuid.background_update_client_id') AS analysis_id,
            JSON_VALUE(event_extra, '$.branch') AS branch,
            MIN(DATE(events.submission_timestamp)) AS enrollment_date,
            COUNT(events.submission_timestamp) AS num_enrollment_events
        FROM {stream} events
        WHERE
            DATE(submission_timestamp) BETWEEN {first} AND {last}
            AND event_category = 'nimbus_events'
            AND event_name = 'enrollment'
            AND JSON_VALUE(event_extra, '$.experiment') = {slug}
            AND JSON_VALUE(metrics, '$.uuid.background_update_client_id') IS NOT NULL
            AND sample_id < {sample}
        GROUP BY analysis_id, branch
    )
    UNION ALL
    (
        SELECT
            m.metrics.uuid.background_update_client_id AS analysis_id,
            experiment.value.branch AS branch,
            MIN(DATE(submission_timestamp)) AS enrollment_date,
            1 AS num_enrollment_events
        FROM {pings} AS m
        CROSS JOIN UNNEST(ping_info.experiments) AS experiment
        WHERE
            DATE(submission_timestamp) BETWEEN {first} AND {last}
            AND experiment.key = {slug}
            AND sample_id < {sample}
        GROUP BY analysis_id, branch
    )
    UNION ALL
    (
        SELECT
            client_id AS analysis_id,
            SPLIT(`mozfun.map.get_key`(event_map_values, 'name'), ':')[SAFE_OFFSET(1)] AS branch,
            MIN(submission_date) AS enrollment_date,
            COUNT(submission_date) AS num_enrollment_events
        FROM {events}
        WHERE
            submission_date BETWEEN {first} AND {last}
            AND event_category = 'browser.launched_to_handle'
            AND event_method = 'system_notification'
            AND event_object = 'toast'
            AND STARTS_WITH(`mozfun.map.get_key`(event_map_values, 'name'), {prefix})
            AND sample_id < {sample}
        GROUP BY analysis_id, branch
    )
    )
    QUALIFY ROW_NUMBER() OVER (PARTITION BY analysis_id ORDER BY enrollment_date ASC) = 1",
        stream = ctx
            .catalog
            .table("firefox_desktop_background_update", "events_stream"),
        pings = ctx
            .catalog
            .mozdata_table("firefox_desktop_background_update", "background_update"),
        events = ctx.catalog.mozdata_table("telemetry", "events"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
        prefix = bq_string_literal(&format!("{}:", ctx.spec.experiment.slug)),
        sample = ctx.sample_size(),
    )
}

/// Built-in Normandy exposure events within the enrollment dates, matched to the enrollee's
/// branch and not before enrollment. As upstream, the key columns come from the events side,
/// so unexposed enrollees fall into one NULL-keyed group that the final join never matches:
/// they end with NULL exposure columns.
fn normandy_exposures(ctx: &Context) -> String {
    format!(
        "    SELECT
        e.analysis_id,
        e.branch,
        MIN(e.submission_date) AS exposure_date,
        COUNT(e.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
        SELECT
            {unit} AS analysis_id,
            `mozfun.map.get_key`(event_map_values, 'branchSlug') AS branch,
            submission_date
        FROM {events}
        WHERE
            event_category = 'normandy'
            AND (event_method = 'exposure' OR event_method = 'expose')
            AND submission_date BETWEEN {first} AND {last}
            AND event_string_value = {slug}
    ) e
        ON re.analysis_id = e.analysis_id
        AND re.branch = e.branch
        AND e.submission_date >= re.enrollment_date
    GROUP BY ALL",
        unit = ctx.unit,
        events = ctx.catalog.table("telemetry", "events"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
    )
}

/// Nimbus exposure events from a Glean app's `events_stream`.
fn events_stream_exposures(ctx: &Context, dataset: &str) -> String {
    glean_exposures_over(&format!(
        "        SELECT
            client_id AS analysis_id,
            JSON_VALUE(event_extra, '$.branch') AS branch,
            DATE(submission_timestamp) AS submission_date
        FROM {table}
        WHERE
            DATE(submission_timestamp) BETWEEN {first} AND {last}
            AND event_category = 'nimbus_events'
            AND JSON_VALUE(event_extra, '$.experiment') = {slug}
            AND (event_name = 'expose' OR event_name = 'exposure')",
        table = ctx.catalog.table(dataset, "events_stream"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
    ))
}

/// Cirrus exposure events from the app's legacy Glean `events` table.
fn cirrus_exposures(ctx: &Context, dataset: &str) -> String {
    glean_exposures_over(&format!(
        "        SELECT
            `mozfun.map.get_key`(event.extra, 'nimbus_user_id') AS analysis_id,
            `mozfun.map.get_key`(event.extra, 'branch') AS branch,
            DATE(events.submission_timestamp) AS submission_date
        FROM {table} events,
            UNNEST(events.events) AS event
        WHERE
            DATE(events.submission_timestamp) BETWEEN {first} AND {last}
            AND event.category = 'cirrus_events'
            AND `mozfun.map.get_key`(event.extra, 'experiment') = {slug}
            AND (event.name = 'expose' OR event.name = 'exposure')",
        table = ctx.catalog.table(dataset, "events"),
        first = ctx.first,
        last = ctx.last,
        slug = ctx.slug,
    ))
}

/// The shape the Glean exposure queries share, over exposure `events` (analysis_id, branch,
/// submission_date).
fn glean_exposures_over(events: &str) -> String {
    format!(
        "    SELECT
        exposures.analysis_id AS analysis_id,
        exposures.branch,
        DATE(MIN(exposures.submission_date)) AS exposure_date,
        COUNT(exposures.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
{events}
    ) exposures
        ON re.analysis_id = exposures.analysis_id
        AND re.branch = exposures.branch
        AND exposures.submission_date >= re.enrollment_date
    GROUP BY ALL"
    )
}

/// One LEFT JOIN per segment data source (first-use order), each computing that source's
/// segments over the source's window around each client's enrollment date.
fn segments_query(spec: &AnalysisSpec, tl: &TimeLimits, unit: &str, ids: IdOptions) -> String {
    let mut groups: Vec<(&SegmentDataSourceSpec, Vec<&SegmentSpec>)> = Vec::new();
    for segment in &spec.segments {
        let Some(source) = spec.segment_data_sources.get(&segment.data_source) else {
            continue; // the config resolver guarantees every segment's source exists
        };
        match groups.iter_mut().find(|(s, _)| s.name == source.name) {
            Some((_, segments)) => segments.push(segment),
            None => groups.push((source, vec![segment])),
        }
    }
    let mut columns = vec!["    raw_enrollments.*".to_string()];
    let mut joins = Vec::new();
    for (idx, (source, segments)) in groups.iter().enumerate() {
        let selects: Vec<String> = segments
            .iter()
            .map(|s| format!("        {} AS {}", s.select_expression.trim(), s.name))
            .collect();
        columns.extend(segments.iter().map(|s| format!("    ds_{idx}.{}", s.name)));
        joins.push(format!(
            "LEFT JOIN (
    SELECT
        e.analysis_id,
        e.branch,
{selects}
    FROM raw_enrollments e
    LEFT JOIN {from} ds
        ON ds.{id} = e.analysis_id
        AND ds.{date} BETWEEN DATE_ADD({first}, INTERVAL {ws} DAY) AND DATE_ADD({last}, INTERVAL {we} DAY)
        AND ds.{date} BETWEEN DATE_ADD(e.enrollment_date, INTERVAL {ws} DAY) AND DATE_ADD(e.enrollment_date, INTERVAL {we} DAY)
    GROUP BY e.analysis_id, e.branch
) ds_{idx} USING (analysis_id, branch)",
            selects = selects.join(",\n"),
            from = source.from_expression.trim(),
            id = IdColumns::of_segment_source(source).choose(unit, ids),
            date = source.submission_date_column,
            first = date_str(tl.first_enrollment_date),
            last = date_str(tl.last_enrollment_date),
            ws = source.window_start,
            we = source.window_end,
        ));
    }
    format!(
        "SELECT\n{}\nFROM raw_enrollments\n{}",
        columns.join(",\n"),
        joins.join("\n")
    )
}

/// A custom exposure signal's query over `raw_enrollments` (mozanalysis
/// `ExposureSignal.build_query`): the source's rows where the signal holds, from
/// `first_enrollment + window_start` to `(first_enrollment if window_end else
/// last_enrollment) + window_end`, on or after each client's enrollment date. Every enrollee
/// gets a row (count 0 when unexposed).
pub fn exposure_signal_query(
    spec: &AnalysisSpec,
    signal: &ExposureSignalSpec,
    tl: &TimeLimits,
    ids: IdOptions,
) -> Result<String, SqlError> {
    let unit = analysis_unit(&spec.experiment.analysis_unit)?;
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
            IdColumns::of(ds).choose(unit, ids).to_string(),
            ds.submission_date_column.clone(),
        ),
        None => (
            signal.data_source.clone(),
            unit.to_string(),
            "submission_date".to_string(),
        ),
    };
    Ok(format!(
        "    SELECT
        e.analysis_id,
        e.branch,
        MIN(ds.submission_date) AS exposure_date,
        COUNT(ds.submission_date) AS num_exposure_events
    FROM raw_enrollments e
    LEFT JOIN (
        SELECT
            {id} AS analysis_id,
            {date} AS submission_date
        FROM {from}
        WHERE {date} BETWEEN DATE_ADD({lo}, INTERVAL {ws} DAY) AND DATE_ADD({hi}, INTERVAL {we} DAY)
            AND ({select})
    ) AS ds
        ON ds.analysis_id = e.analysis_id
        AND ds.submission_date >= e.enrollment_date
    GROUP BY e.analysis_id, e.branch",
        lo = date_str(tl.first_enrollment_date),
        hi = date_str(end_base),
        select = signal.select_expression.trim(),
    ))
}
