//! `jetstream validate-config PATH...`: checks metric-hub files (upstream's `validate_config`).

use crate::cli::ValidateConfigArgs;
use anyhow::{bail, Context};
use chrono::Utc;
use jetstream_coordinator::config::FileKind;
use jetstream_coordinator::experimenter::load_experiments;
use jetstream_coordinator::validate_config::{
    check_offline, check_online, record_json, AppChoice, CheckRecord,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
        (Some(path), false) => Some(load_experiments(path)?),
        (None, false) => bail!(
            "online validation resolves each experiment config against its Experimenter \
             experiment: pass --experiments FILE, or --offline to use a synthetic experiment"
        ),
        (_, true) => None,
    };
    let today = Utc::now().date_naive();

    let mut failed = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &files {
        let record = match (&experiments, FileKind::of_path(file)) {
            (Some(experiments), FileKind::Experiment) => {
                let slug = stem(file);
                match experiments.iter().find(|e| e.slug == slug) {
                    Some(experiment) => check_online(&collection, file, experiment, today),
                    None => {
                        failed += 1;
                        report_missing(&mut out, file, &slug, args.json)?;
                        continue;
                    }
                }
            }
            _ => check_offline(&collection, file, &app),
        };
        if record.result.is_err() {
            failed += 1;
        }
        print_record(&mut out, &record, args.json)?;
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

fn print_record(out: &mut impl Write, record: &CheckRecord, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(&record_json(record))?)?;
        return Ok(());
    }
    match &record.result {
        Ok(_) => writeln!(out, "{} OK ({})", record.path.display(), record.app_name)?,
        Err(e) => writeln!(out, "{}: ERROR: {e}", record.path.display())?,
    }
    Ok(())
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
