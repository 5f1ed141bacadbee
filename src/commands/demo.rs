//! `jetstream demo`: a synthetic warehouse, a bundled experiment and config, analysed on every
//! date from the experiment's start to its end through the same path as `jetstream run`.

use super::run::{analyse, prepare_on, report};
use crate::backends::{ResultsLocation, WarehouseLocation};
use crate::cli::{BrokerArgs, DemoArgs, GoogleArgs, Locations, RunArgs, WarehouseArgs};
use crate::summary;
use anyhow::Context;
use chrono::Duration;
use jetstream_coordinator::config;
use jetstream_coordinator::experimenter::load_experiments;
use jetstream_coordinator::timelimits::dates_enrollment;
use jetstream_worker::synthetic::{self, SyntheticBranch, SyntheticConfig};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

const EXPERIMENT_JSON: &str = include_str!("../../examples/demo/experiment.json");
const CONFIG_TOML: &str = include_str!("../../examples/demo/config.toml");

pub fn execute(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let out = &args.out;
    let inputs = out.join("inputs");
    std::fs::create_dir_all(&inputs).with_context(|| format!("creating {}", inputs.display()))?;
    let experiment_path = inputs.join("experiment.json");
    let config_path = inputs.join("config.toml");
    std::fs::write(&experiment_path, EXPERIMENT_JSON)
        .with_context(|| format!("writing {}", experiment_path.display()))?;
    std::fs::write(&config_path, CONFIG_TOML)
        .with_context(|| format!("writing {}", config_path.display()))?;

    let experiment = load_experiments(&experiment_path)?
        .into_iter()
        .next()
        .context("the bundled experiment definition is empty")?;
    let (Some(start), Some(end)) = (experiment.start_date, experiment.end_date) else {
        anyhow::bail!("the bundled experiment has no start or end date");
    };
    let reference = experiment
        .reference_branch
        .clone()
        .unwrap_or_else(|| "control".into());
    let synthetic = SyntheticConfig {
        slug: experiment.slug.clone(),
        clients: args.clients as usize,
        seed: args.seed,
        branches: experiment
            .branches
            .iter()
            .map(|b| {
                let treated = b.slug != reference;
                SyntheticBranch {
                    slug: b.slug.clone(),
                    ratio: b.ratio,
                    active_hours_factor: if treated { 1.10 } else { 1.0 },
                    search_factor: if treated { 1.05 } else { 1.0 },
                    pip_probability: if treated { 0.30 } else { 0.25 },
                }
            })
            .collect(),
        start_date: start,
        // Enroll clients on exactly the dates Jetstream's enrollment query will read.
        enrollment_dates: dates_enrollment(
            &config::resolve(&experiment, None, chrono::Utc::now().date_naive())?.experiment,
        ),
        end_date: end,
        exposure_rate: 0.6,
    };

    let warehouse_path = out.join("warehouse.duckdb");
    let results = out.join("results");
    remove_if_exists(&warehouse_path)?;
    remove_if_exists(&out.join("warehouse.duckdb.wal"))?;
    if results.exists() {
        std::fs::remove_dir_all(&results)
            .with_context(|| format!("removing {}", results.display()))?;
    }
    eprintln!(
        "generating {} clients into {} ...",
        args.clients,
        warehouse_path.display()
    );
    synthetic::generate_file(&warehouse_path, &synthetic)
        .with_context(|| format!("generating {}", warehouse_path.display()))?;

    let run_args = RunArgs {
        date: Some(start),
        experiment_slug: vec![experiment.slug.clone()],
        config_file: Some(config_path.clone()),
        config_repos: Vec::new(),
        config_as_of: None,
        analysis_periods: Vec::new(),
        seed: args.seed,
        workers: args.workers,
        sql_output_dir: None,
        dry_run: false,
        discrete_metrics: true,
        no_discrete_metrics: false,
        use_glean_ids: false,
        locations: Locations {
            warehouse: WarehouseArgs {
                warehouse: Some(WarehouseLocation::DuckDb(warehouse_path.clone())),
                project_id: "moz-fx-data-experiments".to_string(),
                dataset_id: "mozanalysis".to_string(),
                logs_table: None,
                google: GoogleArgs::default(),
            },
            experiments: experiment_path.display().to_string(),
            results: Some(ResultsLocation::Dir(results.clone())),
            bucket: None,
        },
        fleet: false,
        wait: false,
        broker: BrokerArgs::default(),
    };
    let prepared = prepare_on(&run_args, start)?;
    let mut work = Vec::new();
    let mut date = start;
    while date <= end {
        for (spec, _) in &prepared.work {
            work.push((Arc::clone(spec), date));
        }
        date += Duration::days(1);
    }
    eprintln!("analysing {} from {start} to {end} ...", experiment.slug);
    let started = std::time::Instant::now();
    let reports = analyse(prepared, work, &run_args)?;
    let elapsed = started.elapsed();
    let analysed = reports
        .iter()
        .filter(|r| matches!(r.outcome, jetstream_coordinator::DateOutcome::Analysed(_)))
        .count();
    let code = report(
        &reports
            .into_iter()
            .filter(|r| !matches!(r.outcome, jetstream_coordinator::DateOutcome::NothingDue))
            .collect::<Vec<_>>(),
    );
    println!();
    println!(
        "{analysed} analysis dates in {:.1} s; results in {}",
        elapsed.as_secs_f64(),
        results.display()
    );
    println!();
    summary::print(
        &results,
        &experiment.slug,
        &reference,
        &synthetic.injected_effects(&reference),
    )?;
    Ok(code)
}

fn remove_if_exists(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}
