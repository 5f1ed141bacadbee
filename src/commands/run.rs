//! `jetstream run`: the analyses due on one date, on a warehouse the user already has.

use super::config_source;
use crate::backends::{load_definitions, open_warehouse, results_sink};
use crate::cli::{BackfillArgs, RunArgs};
use crate::embedded::{run_embedded, DateReport};
use anyhow::{bail, Context};
use chrono::{NaiveDate, Utc};
use jetstream_coordinator::config;
use jetstream_coordinator::experimenter::ExperimenterExperiment;
use jetstream_coordinator::export::ResultsSink;
use jetstream_coordinator::{DateOutcome, RunOptions};
use jetstream_proto::spec::{AnalysisSpec, ExperimentStatus};
use jetstream_proto::warehouse::Warehouse;
use jetstream_proto::AnalysisPeriod;
use jetstream_worker::sql_output::SqlOutput;
use std::process::ExitCode;
use std::sync::Arc;

/// Everything a run needs, validated before anything is written.
pub struct Prepared {
    /// Each experiment with the dates to analyse, in order.
    pub work: Vec<(Arc<AnalysisSpec>, Vec<NaiveDate>)>,
    pub warehouse: Arc<dyn Warehouse>,
    pub sink: Option<Arc<dyn ResultsSink>>,
}

/// Which dates each selected experiment is analysed on.
enum Dates {
    /// The experiments eligible on each of these dates.
    Each(Vec<NaiveDate>),
    /// Every date of each named experiment (`rerun`).
    WholeExperiment,
}

pub fn execute(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let Some(date) = args.date else {
        bail!("`run` needs --date YYYY-MM-DD (the last date with complete data)");
    };
    let prepared = prepare(args, Dates::Each(vec![date]))?;
    if args.dry_run {
        return dry_run(&prepared, args, date);
    }
    finish(prepared, args)
}

/// `rerun`: every date of the named experiments, from their start to the day after their end
/// (or yesterday, if earlier).
pub fn rerun(args: &RunArgs) -> anyhow::Result<ExitCode> {
    if args.experiment_slug.is_empty() {
        bail!("`rerun` needs at least one --experiment-slug");
    }
    if args.date.is_some() || args.dry_run {
        bail!("`rerun` analyses every date of the experiments; --date and --dry-run do not apply");
    }
    let prepared = prepare(args, Dates::WholeExperiment)?;
    let periods = if args.analysis_periods.is_empty() {
        AnalysisPeriod::ALL.to_vec()
    } else {
        args.analysis_periods.clone()
    };
    for (spec, _) in &prepared.work {
        clear_for_rerun(prepared.warehouse.as_ref(), &spec.experiment.slug, &periods)?;
    }
    finish(prepared, args)
}

/// Upstream's rerun bookkeeping, after every input is validated: touches the enrollments table
/// (its `last_updated` pins the experiment's configs, now to the newest) and deletes the
/// experiment's window tables of `periods`, so windows that no longer exist (a shorter
/// experiment, a removed metric's data source) do not linger in the views. The enrollments
/// table is kept, as upstream keeps it unless asked to recreate it.
fn clear_for_rerun(
    warehouse: &dyn Warehouse,
    slug: &str,
    periods: &[AnalysisPeriod],
) -> anyhow::Result<()> {
    let enrollments = jetstream_coordinator::plan::enrollments_table(slug);
    if warehouse.table_exists(&enrollments)? {
        warehouse
            .touch_table(&enrollments)
            .with_context(|| format!("touching {enrollments}"))?;
    }
    let doomed = window_tables(warehouse, slug, periods)?;
    for table in &doomed {
        warehouse
            .drop_table(table)
            .with_context(|| format!("deleting {table} before the rerun"))?;
    }
    tracing::info!(experiment = %slug, deleted = doomed.len(), "cleared the experiment's window tables for the rerun");
    Ok(())
}

/// The experiment's tables `rerun` and `rerun-skip` act on: its window tables of `periods`
/// (`plan::is_window_table_of`), sorted.
fn window_tables(
    warehouse: &dyn Warehouse,
    slug: &str,
    periods: &[AnalysisPeriod],
) -> anyhow::Result<Vec<String>> {
    let normalized = jetstream_proto::naming::normalize_name(slug);
    let mut tables: Vec<String> = Vec::new();
    for prefix in [
        format!("statistics_{normalized}_"),
        format!("{normalized}_"),
    ] {
        tables.extend(
            warehouse
                .list_tables(&prefix)?
                .into_iter()
                .filter(|t| jetstream_coordinator::plan::is_window_table_of(t, slug, periods)),
        );
    }
    tables.sort();
    tables.dedup();
    Ok(tables)
}

/// `rerun-skip`: touches every table of the named experiments (upstream's `touch_tables`), so
/// their configs are pinned to now without recomputing anything.
pub fn rerun_skip(args: &crate::cli::RerunSkipArgs) -> anyhow::Result<ExitCode> {
    if args.warehouse.warehouse.is_none() {
        bail!("--warehouse is required");
    }
    let warehouse = open_warehouse(&args.warehouse, false)?;
    for slug in &args.experiment_slug {
        let enrollments = jetstream_coordinator::plan::enrollments_table(slug);
        let mut tables = window_tables(warehouse.as_ref(), slug, &AnalysisPeriod::ALL)?;
        if warehouse.table_exists(&enrollments)? {
            tables.push(enrollments);
        }
        for table in &tables {
            warehouse
                .touch_table(table)
                .with_context(|| format!("touching {table}"))?;
        }
        println!("{slug}: {} tables marked up to date", tables.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// `backfill`: the experiments eligible on each date from --from to --to.
pub fn backfill(args: &BackfillArgs) -> anyhow::Result<ExitCode> {
    if args.from > args.to {
        bail!("--from {} is after --to {}", args.from, args.to);
    }
    if args.run.date.is_some() || args.run.dry_run {
        bail!("`backfill` analyses --from to --to; --date and --dry-run do not apply");
    }
    let dates: Vec<NaiveDate> = args
        .from
        .iter_days()
        .take_while(|d| *d <= args.to)
        .collect();
    let prepared = prepare(&args.run, Dates::Each(dates))?;
    finish(prepared, &args.run)
}

/// Runs the prepared work here, or enqueues it for a fleet.
fn finish(prepared: Prepared, args: &RunArgs) -> anyhow::Result<ExitCode> {
    if args.fleet {
        return super::fleet::enqueue(&args.broker, run_options(args), prepared.work, args.wait);
    }
    let work = prepared
        .work
        .iter()
        .flat_map(|(spec, dates)| dates.iter().map(|d| (Arc::clone(spec), *d)))
        .collect();
    let reports = analyse(prepared, work, args)?;
    Ok(report(&reports))
}

/// [`prepare`] for the experiments eligible on `date` (the demo's selection).
pub fn prepare_on(args: &RunArgs, date: NaiveDate) -> anyhow::Result<Prepared> {
    prepare(args, Dates::Each(vec![date]))
}

/// Loads and resolves every input, opens the warehouse; fails before any write.
fn prepare(args: &RunArgs, dates: Dates) -> anyhow::Result<Prepared> {
    if args.config_file.is_some() && args.experiment_slug.len() != 1 {
        bail!("--config-file can only be used with exactly one --experiment-slug");
    }
    if !args.fleet && !args.dry_run {
        if args.locations.warehouse.warehouse.is_none() {
            bail!("--warehouse is required (unless --fleet or --dry-run)");
        }
        if args.locations.results.is_none() && args.locations.bucket.is_none() {
            bail!("--results (or --bucket) is required (unless --fleet or --dry-run)");
        }
    }
    let results = args
        .locations
        .results_location()
        .map_err(anyhow::Error::msg)?;
    let experiments = load_definitions(&args.locations.experiments, &args.experiment_slug)?;
    // Each selected experiment with its dates, in the order experiments are listed.
    let mut selected: Vec<(&ExperimenterExperiment, Vec<NaiveDate>)> = Vec::new();
    match &dates {
        Dates::Each(days) => {
            for day in days {
                for experiment in select(&experiments, &args.experiment_slug, *day)? {
                    match selected.iter_mut().find(|(e, _)| e.slug == experiment.slug) {
                        Some((_, ds)) => ds.push(*day),
                        None => selected.push((experiment, vec![*day])),
                    }
                }
            }
        }
        Dates::WholeExperiment => {
            let today = Utc::now().date_naive();
            for experiment in select(&experiments, &args.experiment_slug, today)? {
                selected.push((experiment, Vec::new()));
            }
        }
    }
    let explicit = match &args.config_file {
        Some(path) => Some(config::load_config(path)?),
        None => None,
    };
    let warehouse = open_warehouse(&args.locations.warehouse, args.fleet)?;
    let mut configs =
        config_source::Configs::new(&args.config_repos, args.config_as_of.as_deref())?;
    let today = Utc::now().date_naive();
    let mut work = Vec::new();
    for (experiment, mut days) in selected {
        let collection = match dates {
            // A rerun moves the experiment's config pin to now (see `clear_for_rerun`).
            Dates::WholeExperiment => configs.latest(),
            Dates::Each(_) => configs.for_experiment(&experiment.slug, warehouse.as_ref())?,
        };
        let spec = collection.resolve(experiment, explicit.as_ref(), today)?;
        jetstream_coordinator::validation::check_names(&spec)?;
        jetstream_coordinator::validation::check_enrollments_query(&spec)?;
        if spec.experiment.skip {
            tracing::warn!(experiment = %spec.experiment.slug, "configured with skip = true; not analysed");
            continue;
        }
        if matches!(dates, Dates::WholeExperiment) {
            days = whole_experiment_dates(&spec, today);
            if days.is_empty() {
                tracing::warn!(experiment = %spec.experiment.slug, "has no start date before today; nothing to rerun");
                continue;
            }
        }
        work.push((Arc::new(spec), days));
    }
    let sink = results_sink(results.as_ref(), &args.locations.warehouse.google)?;
    Ok(Prepared {
        work,
        warehouse,
        sink,
    })
}

/// Jetstream's rerun dates: from the start to the day after the end, or yesterday if earlier.
fn whole_experiment_dates(spec: &AnalysisSpec, today: NaiveDate) -> Vec<NaiveDate> {
    let Some(start) = spec.experiment.start_date else {
        return Vec::new();
    };
    let yesterday = today.pred_opt().unwrap_or(today);
    let last = match spec.experiment.end_date.and_then(|e| e.succ_opt()) {
        Some(after_end) => after_end.min(yesterday),
        None => yesterday,
    };
    start.iter_days().take_while(|d| *d <= last).collect()
}

/// Runs `work` on the embedded default.
pub fn analyse(
    prepared: Prepared,
    work: Vec<(Arc<AnalysisSpec>, NaiveDate)>,
    args: &RunArgs,
) -> anyhow::Result<Vec<DateReport>> {
    let options = run_options(args);
    run_embedded(
        prepared.warehouse,
        prepared.sink,
        work,
        options,
        args.workers,
        sql_output(args)?,
    )
}

fn run_options(args: &RunArgs) -> RunOptions {
    let periods = if args.analysis_periods.is_empty() {
        AnalysisPeriod::ALL.to_vec()
    } else {
        args.analysis_periods.clone()
    };
    RunOptions {
        run_id: format!("run-{}", Utc::now().format("%Y%m%dT%H%M%S%.3f")),
        periods,
        seed: args.seed,
        query: args.query_options(),
    }
}

fn sql_output(args: &RunArgs) -> anyhow::Result<Option<SqlOutput>> {
    args.sql_output_dir
        .as_ref()
        .map(|dir| {
            SqlOutput::new(dir)
                .with_context(|| format!("cannot create --sql-output-dir {}", dir.display()))
        })
        .transpose()
}

/// `--dry-run`: writes the SQL of every enrollments and metrics query due, runs nothing.
fn dry_run(prepared: &Prepared, args: &RunArgs, date: NaiveDate) -> anyhow::Result<ExitCode> {
    let output = sql_output(args)?.context("--dry-run needs --sql-output-dir")?;
    let queue: Arc<dyn jetstream_proto::queue::MessageQueue> =
        Arc::new(jetstream_proto::queue::InProcessQueue::default());
    let coordinator =
        jetstream_coordinator::Coordinator::new(queue, Default::default(), run_options(args));
    let executor = jetstream_worker::TaskExecutor::new(
        prepared.warehouse.clone(),
        jetstream_worker::sql::Catalog::default(),
        "dry-run",
    );
    let mut failed = false;
    for (spec, _) in &prepared.work {
        let tasks = match coordinator.query_tasks(spec, date) {
            Ok(tasks) => tasks,
            Err(reason) => {
                println!(
                    "{} {}: nothing written: {reason}",
                    spec.experiment.slug, date
                );
                continue;
            }
        };
        let mut written = 0;
        let mut scanned: Option<u64> = None;
        for task in &tasks {
            match executor.render_sql(task) {
                Ok(queries) => {
                    for (table, sql) in queries {
                        output.write(&table, &sql).with_context(|| {
                            format!("writing {}", output.dir().join(&table).display())
                        })?;
                        written += 1;
                        // On BigQuery, a dry run checks the query and reports what it would
                        // scan. A query that reads an output table not written yet (metrics
                        // read enrollments) cannot be dry-run before its stage; those are
                        // reported, not counted as failures.
                        match prepared.warehouse.estimate_bytes(&sql) {
                            Ok(Some(bytes)) => {
                                *scanned.get_or_insert(0) += bytes;
                                println!(
                                    "{} {}: {table}: would scan {bytes} bytes",
                                    spec.experiment.slug, date
                                );
                            }
                            Ok(None) => {}
                            Err(e) => println!(
                                "{} {}: {table}: dry run failed: {e}",
                                spec.experiment.slug, date
                            ),
                        }
                    }
                }
                Err(e) => {
                    failed = true;
                    println!("{} {}: {}: {e}", spec.experiment.slug, date, task.key);
                }
            }
        }
        println!(
            "{} {}: {written} queries written to {}{}",
            spec.experiment.slug,
            date,
            output.dir().display(),
            scanned
                .map(|b| format!(" (dry runs: {b} bytes would be scanned)"))
                .unwrap_or_default()
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Jetstream's selection (reference/jetstream.md §1.3): the named experiments, or every
/// Live/Complete non-rollout experiment that ended at most 90 days before `date`.
fn select<'a>(
    experiments: &'a [ExperimenterExperiment],
    slugs: &[String],
    date: NaiveDate,
) -> anyhow::Result<Vec<&'a ExperimenterExperiment>> {
    if !slugs.is_empty() {
        let mut out = Vec::new();
        for slug in slugs {
            match experiments.iter().find(|e| &e.slug == slug) {
                Some(e) => out.push(e),
                None => {
                    tracing::warn!(experiment = %slug, "not found in the experiment definitions; skipped")
                }
            }
        }
        if out.is_empty() {
            bail!(
                "none of the requested experiments ({}) is in the experiment definitions",
                slugs.join(", ")
            );
        }
        return Ok(out);
    }
    let today = Utc::now().date_naive();
    Ok(experiments
        .iter()
        .filter(|e| !e.is_rollout)
        .filter(|e| match e.end_date {
            // "ended within 90 days" is implied by "ends on or after the run date".
            Some(end) => end >= date,
            None => e.status(today) == ExperimentStatus::Live,
        })
        .collect())
}

/// Prints each experiment-date's outcome; non-zero exit when any failed.
pub fn report(reports: &[DateReport]) -> ExitCode {
    let mut failed = false;
    for r in reports {
        match &r.outcome {
            DateOutcome::Analysed(written) => {
                let parts: Vec<String> = written
                    .iter()
                    .map(|(p, n)| format!("{p}: {n} rows"))
                    .collect();
                println!("{} {}: analysed ({})", r.slug, r.date, parts.join(", "));
            }
            DateOutcome::NothingDue => println!("{} {}: nothing due", r.slug, r.date),
            DateOutcome::Skipped { reason, failed: f } => {
                failed |= *f;
                println!("{} {}: skipped: {reason}", r.slug, r.date);
            }
            DateOutcome::Failed(reason) => {
                failed = true;
                println!("{} {}: FAILED: {reason}", r.slug, r.date);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
