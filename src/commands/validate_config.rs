//! `jetstream validate-config PATH...`: checks metric-hub files (upstream's `validate_config`).

use crate::cli::ValidateConfigArgs;
use anyhow::{bail, Context};
use chrono::Utc;
use jetstream_coordinator::config::FileKind;
use jetstream_coordinator::validate_config::{
    check_offline, check_online, record_json, AppChoice, CheckRecord, Checked,
};
use jetstream_coordinator::{Coordinator, RunOptions};
use jetstream_proto::queue::{InProcessQueue, MessageQueue};
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::AnalysisPeriod;
use jetstream_worker::sql::{format_select_expression, Catalog};
use jetstream_worker::sql_check::DuckDbParser;
use jetstream_worker::{DuckDbWarehouse, TaskExecutor};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

pub fn execute(args: &ValidateConfigArgs) -> anyhow::Result<ExitCode> {
    let files = expand(&args.paths)?;
    if files.is_empty() {
        bail!("no .toml files to check in {}", display_paths(&args.paths));
    }
    let repos = if args.config_repos.is_empty() {
        discover_repository(&files[0]).into_iter().collect()
    } else {
        args.config_repos.clone()
    };
    if repos.is_empty() {
        tracing::warn!(
            "no --config-repos given and the files are not in a metric-hub checkout: configs \
             resolve without platform defaults, definitions or outcomes"
        );
    }
    let collection = crate::commands::config_source::load(&repos, args.config_as_of.as_deref())?;
    let app = if args.app_name == "auto" {
        AppChoice::Auto
    } else {
        AppChoice::Fixed(args.app_name.clone())
    };
    let experiments = match (&args.experiments, args.offline) {
        (Some(source), false) => Some(crate::backends::load_definitions(source, &[])?),
        (None, false) => bail!(
            "online validation resolves each experiment config against its Experimenter \
             experiment: pass --experiments FILE|URL, or --offline to use a synthetic experiment"
        ),
        (_, true) => None,
    };
    let today = Utc::now().date_naive();

    let mut outcomes = Vec::new();
    for file in &files {
        outcomes.push(match (&experiments, FileKind::of_path(file)) {
            (Some(experiments), FileKind::Experiment) => {
                let slug = stem(file);
                match experiments.iter().find(|e| e.slug == slug) {
                    Some(experiment) => {
                        FileOutcome::Record(check_online(&collection, file, experiment, today))
                    }
                    None => FileOutcome::Missing(file.clone(), slug),
                }
            }
            _ => FileOutcome::Record(check_offline(&collection, file, &app)),
        });
    }
    // Offline, every resolved analysis also has its queries generated, translated to DuckDB
    // and parsed there: ~2 ms a query, so files are checked in parallel, one DuckDB each.
    let sql: Vec<Option<SqlReport>> = outcomes
        .par_iter()
        .map_init(
            || args.offline.then(SqlChecker::new),
            |checker, outcome| match (checker, outcome) {
                (Some(Ok(checker)), FileOutcome::Record(record)) => match &record.result {
                    Ok(Checked::Analysis(spec)) => Some(checker.check(spec)),
                    _ => None,
                },
                (Some(Err(e)), FileOutcome::Record(_)) => Some(SqlReport {
                    checked: 0,
                    problems: vec![format!("cannot start DuckDB to check the SQL: {e:#}")],
                }),
                _ => None,
            },
        )
        .collect();

    let mut failed = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (outcome, sql) in outcomes.iter().zip(&sql) {
        match outcome {
            FileOutcome::Missing(file, slug) => {
                failed += 1;
                report_missing(&mut out, file, slug, args.json)?;
            }
            FileOutcome::Record(record) => {
                let sql_failed = sql.as_ref().is_some_and(|s| !s.problems.is_empty());
                if record.result.is_err() || sql_failed {
                    failed += 1;
                }
                print_record(&mut out, record, sql.as_ref(), args.json)?;
            }
        }
    }
    if !args.json {
        writeln!(out, "{} file(s) checked, {} failed", files.len(), failed)?;
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A file's check, or an experiment config without its experiment (online mode).
enum FileOutcome {
    Record(CheckRecord),
    Missing(PathBuf, String),
}

fn print_record(
    out: &mut impl Write,
    record: &CheckRecord,
    sql: Option<&SqlReport>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut value = record_json(record);
        if let (Some(sql), Some(object)) = (sql, value.as_object_mut()) {
            object.insert("sql_queries".into(), sql.checked.into());
            object.insert("sql_errors".into(), sql.problems.clone().into());
            if !sql.problems.is_empty() {
                object.insert("ok".into(), false.into());
                object.insert("error_class".into(), "sql".into());
                object.insert("error".into(), sql.problems.join("\n").into());
            }
        }
        writeln!(out, "{}", serde_json::to_string(&value)?)?;
        return Ok(());
    }
    match (&record.result, sql) {
        (Ok(_), Some(sql)) if !sql.problems.is_empty() => {
            for problem in &sql.problems {
                writeln!(out, "{}: ERROR: SQL: {problem}", record.path.display())?;
            }
        }
        (Ok(_), Some(sql)) => writeln!(
            out,
            "{} OK ({}; {} queries and fragments parse in DuckDB)",
            record.path.display(),
            record.app_name,
            sql.checked
        )?,
        (Ok(_), None) => writeln!(out, "{} OK ({})", record.path.display(), record.app_name)?,
        (Err(e), _) => writeln!(out, "{}: ERROR: {e}", record.path.display())?,
    }
    Ok(())
}

/// The synthetic experiment of `--offline` cannot know Experimenter's randomization unit; a
/// custom enrollment query that names only `profile_group_id` was written for a profile-group
/// experiment, so its queries are checked as one (mozanalysis would otherwise refuse it for
/// naming the other unit's column).
fn unit_for_offline_check(spec: &AnalysisSpec) -> AnalysisSpec {
    let mut spec = spec.clone();
    let query = spec
        .experiment
        .enrollment_query
        .as_deref()
        .unwrap_or_default();
    if spec.experiment.analysis_unit == "client_id"
        && query.contains("profile_group_id")
        && !query.contains("client_id")
    {
        spec.experiment.analysis_unit = "profile_group_id".to_string();
    }
    spec
}

/// Generates, translates and parses every query of a resolved analysis.
struct SqlChecker {
    coordinator: Coordinator,
    executor: TaskExecutor,
    parser: DuckDbParser,
}

/// What [`SqlChecker::check`] found.
struct SqlReport {
    /// Queries and fragments checked.
    checked: usize,
    /// `<what>: <problem>` for each that would not run on DuckDB.
    problems: Vec<String>,
}

impl SqlChecker {
    fn new() -> anyhow::Result<SqlChecker> {
        let warehouse = Arc::new(DuckDbWarehouse::in_memory("mozanalysis")?);
        let queue: Arc<dyn MessageQueue> = Arc::new(InProcessQueue::default());
        let options = RunOptions {
            run_id: "validate-config".into(),
            periods: AnalysisPeriod::ALL.to_vec(),
            seed: 0,
            query: Default::default(),
        };
        Ok(SqlChecker {
            coordinator: Coordinator::new(queue, Default::default(), options),
            executor: TaskExecutor::new(warehouse, Catalog::default(), "validate-config"),
            parser: DuckDbParser::new().map_err(|e| anyhow::anyhow!("DuckDB: {e}"))?,
        })
    }

    fn check(&self, spec: &AnalysisSpec) -> SqlReport {
        let spec = &unit_for_offline_check(spec);
        let mut statements: Vec<(String, String)> = Vec::new();
        let mut problems = Vec::new();
        // Every rendered fragment on its own, wrapped as a statement (so a problem names its
        // key, and metrics no period uses are checked too)...
        for metric in spec.metrics.values() {
            if let Some(expr) = &metric.select_expression {
                let expr = format_select_expression(expr, &spec.experiment.slug)
                    .unwrap_or_else(|_| expr.clone());
                statements.push((
                    format!("metrics.{}.select_expression", metric.name),
                    format!("SELECT {expr} AS v FROM t"),
                ));
            }
        }
        for segment in &spec.segments {
            statements.push((
                format!("segments.{}.select_expression", segment.name),
                format!("SELECT {} AS v FROM t", segment.select_expression),
            ));
        }
        for ds in spec.data_sources.values() {
            statements.push((
                format!("data_sources.{}.from_expression", ds.name),
                format!("SELECT * FROM {} AS ds", ds.from_expression),
            ));
        }
        // ...and every query the analysis generates.
        for task in self.coordinator.every_query_task(&Arc::new(spec.clone())) {
            match self.executor.render_sql(&task) {
                Ok(queries) => statements.extend(
                    queries
                        .into_iter()
                        .map(|(table, sql)| (format!("query {table}"), sql)),
                ),
                Err(e) => problems.push(format!("{}: {e}", task.key)),
            }
        }
        for (what, sql) in &statements {
            if let Err(problem) = self.parser.check(sql) {
                problems.push(format!("{what}: {problem}"));
            }
        }
        SqlReport {
            checked: statements.len(),
            problems,
        }
    }
}

fn report_missing(out: &mut impl Write, file: &Path, slug: &str, json: bool) -> anyhow::Result<()> {
    let message = format!("no experiment with slug '{slug}' in the experiment definitions");
    if json {
        let record = serde_json::json!({
            "slug": slug, "kind": "experiment", "path": file.display().to_string(),
            "ok": false, "app_name": null, "error": message, "error_class": "missing_experiment",
        });
        writeln!(out, "{record}")?;
    } else {
        writeln!(out, "{}: ERROR: {message}", file.display())?;
    }
    Ok(())
}

/// Files to check: each path, or every `*.toml` under a directory (recursively); `*.example`
/// files are skipped, as upstream does.
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect_toml(path, &mut files)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("{} does not exist", path.display());
        }
    }
    Ok(files)
}

fn collect_toml(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_toml(&entry, files)?;
        } else if entry.extension().is_some_and(|e| e == "toml") {
            files.push(entry);
        }
    }
    Ok(())
}

/// The metric-hub checkout a file is in: the nearest ancestor with `definitions/` and
/// `jetstream/` directories.
fn discover_repository(file: &Path) -> Option<PathBuf> {
    let absolute = std::fs::canonicalize(file).ok()?;
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("definitions").is_dir() && dir.join("jetstream").is_dir())
        .map(Path::to_path_buf)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
