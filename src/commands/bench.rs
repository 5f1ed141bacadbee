//! `jetstream bench`: the measurements behind the statistics' speed and calibration targets.
//!
//! - `bench statistics` times every summary of a config (by default the twelve the peer
//!   harness times) on synthetic per-client tables of the given sizes, or on given files (the
//!   fair comparison with the peer: the same file on both sides). Each summary is timed on its
//!   own (median of `--repeat` runs): its pre-treatments and statistic, as the peer times
//!   `Summary.run` on a prepared data frame; reading the file and selecting the metric's rows
//!   are not included, as in the peer.
//! - `bench calibration` runs A/A simulations and reports the coverage of the 95 % intervals.
//!
//! The worker crate is optimised (opt-level 3) in the ordinary build, so these run from the
//! same binary as everything else, without a separate release build of DuckDB.

use super::statistics::{branch_order, covariate_column, metric_data, metrics};
use crate::cli::{BenchArgs, BenchCalibrationArgs, BenchCommand, BenchStatisticsArgs};
use anyhow::{bail, Context};
use jetstream_coordinator::config::{load_config, parse_config};
use jetstream_proto::{AnalysisBasis, AnalysisPeriod};
use jetstream_worker::client_file::{read_client_file, ClientTable};
use jetstream_worker::stats::calibration::{aa_coverage, peer_like_clients};
use jetstream_worker::stats::{self, StatContext};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The default summaries (see the file's header).
const DEFAULT_SUMMARIES: &str = include_str!("bench_summaries.toml");

pub fn execute(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    match &args.what {
        BenchCommand::Statistics(a) => statistics(a),
        BenchCommand::Calibration(a) => calibration(a),
        BenchCommand::Queue(a) => queue(a),
    }
}

fn statistics(args: &BenchStatisticsArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => load_config(path)?,
        None => parse_config(Path::new("bench_summaries.toml"), DEFAULT_SUMMARIES)?,
    };
    if let Some(n) = args.clients.iter().find(|&&n| n < 2) {
        if args.input.is_empty() {
            bail!("--clients: every size must be at least 2 (the table has two branches), got {n}");
        }
    }
    let metrics = metrics(&config);
    let inputs: Vec<(String, ClientTable)> = if args.input.is_empty() {
        args.clients
            .iter()
            .map(|&n| {
                let table = peer_like_clients(n, &["control", "treatment"], args.seed);
                (format!("{n} synthetic clients"), table)
            })
            .collect()
    } else {
        args.input
            .iter()
            .map(|p| {
                read_client_file(p)
                    .with_context(|| format!("reading {}", p.display()))
                    .map(|t| (p.display().to_string(), t))
            })
            .collect::<anyhow::Result<_>>()?
    };
    println!(
        "threads: {} (rayon), repeats: {}, seed: {}",
        rayon::current_num_threads(),
        args.repeat,
        args.seed
    );
    for (name, table) in &inputs {
        let branches = branch_order(table, "control")?;
        let base = StatContext {
            experiment: "bench",
            metric: "identity",
            segment: "all",
            basis: AnalysisBasis::Enrollments,
            period: AnalysisPeriod::Overall,
            window_index: 1,
            analysis_length_days: 28,
            seed: args.seed,
            branches: &branches,
        };
        println!("\n## {name} ({} rows)\n", table.branches.len());
        println!("| summary | median s | rows | errors |");
        println!("|---|---|---|---|");
        let mut total = Duration::ZERO;
        for metric in &metrics {
            // As the peer times `Summary.run` on a prepared data frame, selecting the metric's
            // rows is not timed; pre-treatments and the statistic are.
            let mut data = metric_data(table, metric.definition)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let ctx = StatContext {
                metric: &metric.definition.name,
                ..base
            };
            for summary in &metric.summaries {
                data.covariate = covariate_column(table, summary, &data);
                let mut times = Vec::new();
                let mut out = None;
                for _ in 0..args.repeat.max(1) {
                    let start = Instant::now();
                    let result = stats::run_summary(summary, &data, &ctx);
                    times.push(start.elapsed());
                    out = Some(result);
                }
                let median = median(&mut times);
                total += median;
                let out = out.unwrap_or_default();
                println!(
                    "| {}/{} | {:.4} | {} | {} |",
                    metric.definition.name,
                    summary.statistic.name,
                    median.as_secs_f64(),
                    out.rows.len(),
                    out.errors.len()
                );
            }
        }
        let mut times = Vec::new();
        for _ in 0..args.repeat.max(1) {
            let start = Instant::now();
            let rows = stats::counts(&table.branches, &base);
            times.push(start.elapsed());
            std::hint::black_box(rows);
        }
        let median = median(&mut times);
        total += median;
        println!("| identity/count | {:.4} | | |", median.as_secs_f64());
        println!("| **total** | **{:.3}** | | |", total.as_secs_f64());
        if let Some(peak) = peak_rss_mib() {
            println!("\npeak resident memory so far: {peak:.0} MiB");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn calibration(args: &BenchCalibrationArgs) -> anyhow::Result<ExitCode> {
    if args.simulations == 0 {
        bail!("--simulations must be at least 1");
    }
    if args.clients_per_branch < 2 {
        bail!(
            "--clients-per-branch must be at least 2, got {}",
            args.clients_per_branch
        );
    }
    if args.num_samples == 0 {
        bail!("--num-samples must be at least 1");
    }
    if !(args.sigma > 0.0 && args.sigma.is_finite()) {
        bail!("--sigma must be a positive number, got {}", args.sigma);
    }
    if !(0.0..=0.5).contains(&args.drop_highest) {
        bail!(
            "--drop-highest must be between 0 and 0.5 (bootstrap_mean's range), got {}",
            args.drop_highest
        );
    }
    let start = Instant::now();
    let coverage = aa_coverage(
        args.simulations,
        args.clients_per_branch,
        args.num_samples,
        args.drop_highest,
        args.sigma,
        args.seed,
    );
    println!(
        "A/A coverage of 95 % difference intervals over {} simulations ({} clients per branch, \
         {} bootstrap samples, drop_highest {}, lognormal σ {}; {:.1} s):",
        coverage.simulations,
        args.clients_per_branch,
        args.num_samples,
        args.drop_highest,
        args.sigma,
        start.elapsed().as_secs_f64()
    );
    let se = (0.95 * 0.05 / coverage.simulations.max(1) as f64).sqrt();
    for (name, share) in [
        ("mean (bootstrap_mean)", coverage.mean),
        ("binomial", coverage.binomial),
        ("mean_lm (linear_model_mean)", coverage.mean_lm),
    ] {
        println!(
            "  {name:<28} {:.1} %  (±{:.1} % sampling error)",
            share * 100.0,
            se * 100.0
        );
    }
    let calibrated = [coverage.mean, coverage.binomial, coverage.mean_lm]
        .iter()
        .all(|c| (0.93..=0.97).contains(c));
    Ok(if calibrated {
        ExitCode::SUCCESS
    } else {
        println!("coverage outside 93–97 %");
        ExitCode::FAILURE
    })
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// The process's peak resident set size (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `bench queue`: no-op tasks through RabbitMQ on a private queue prefix. Each consumer takes a
/// task, publishes a result of the same size with a confirm, then acknowledges the task, as a
/// worker does; the figures are the fleet's overhead per task without any analysis.
fn queue(args: &crate::cli::BenchQueueArgs) -> anyhow::Result<ExitCode> {
    use jetstream_amqp::{AmqpConfig, RabbitMq};
    use jetstream_proto::queue::{MessageQueue, QueueNames};
    use std::sync::Arc;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!("consumers  tasks  wall_s  tasks_per_s  mean_latency_ms");
        for &consumers in &args.consumers {
            let consumers = consumers.max(1);
            let prefix = format!("bench.queue.{}.{consumers}", std::process::id());
            let names = QueueNames::with_prefix(&prefix);
            let mut config = AmqpConfig::new(args.broker.amqp_url.clone());
            config.prefetch = 1;
            let publisher = RabbitMq::connect(config.clone()).await?;
            // A task-sized payload (a real task carries its resolved spec: a few kB).
            let payload = vec![b'x'; 4096];
            let started = std::time::Instant::now();
            let mut handles = Vec::new();
            for i in 0..consumers {
                let mut c = config.clone();
                c.connection_name = format!("bench-consumer-{i}");
                let rabbit = Arc::new(RabbitMq::connect(c).await?);
                let names = names.clone();
                handles.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while let Some(d) = rabbit.receive(&names.tasks).await? {
                        let t = std::time::Instant::now();
                        if d.payload.is_empty() {
                            rabbit.ack(d).await?;
                            break;
                        }
                        rabbit.publish(&names.results, d.payload.clone()).await?;
                        rabbit.ack(d).await?;
                        latencies.push(t.elapsed().as_secs_f64());
                    }
                    let _ = rabbit.close().await;
                    Ok::<Vec<f64>, jetstream_proto::queue::QueueError>(latencies)
                }));
            }
            let publish = {
                let publisher = publisher.clone();
                let names = names.clone();
                let payload = payload.clone();
                let tasks = args.tasks;
                tokio::spawn(async move {
                    let mut set = tokio::task::JoinSet::new();
                    for chunk in 0..16 {
                        let (p, n, pl) = (publisher.clone(), names.clone(), payload.clone());
                        set.spawn(async move {
                            for _ in (chunk..tasks).step_by(16) {
                                p.publish(&n.tasks, pl.clone()).await?;
                            }
                            Ok::<(), jetstream_proto::queue::QueueError>(())
                        });
                    }
                    while let Some(r) = set.join_next().await {
                        r.map_err(|e| {
                            jetstream_proto::queue::QueueError::Transport(e.to_string())
                        })??;
                    }
                    // One empty message per consumer tells it to stop.
                    for _ in 0..consumers {
                        publisher.publish(&names.tasks, Vec::new()).await?;
                    }
                    Ok::<(), jetstream_proto::queue::QueueError>(())
                })
            };
            publish.await??;
            let mut latencies = Vec::new();
            for h in handles {
                latencies.extend(h.await??);
            }
            let wall = started.elapsed().as_secs_f64();
            let mean = latencies.iter().sum::<f64>() / latencies.len().max(1) as f64;
            println!(
                "{consumers:>9}  {:>5}  {wall:>6.2}  {:>11.0}  {:>15.2}",
                latencies.len(),
                latencies.len() as f64 / wall,
                mean * 1000.0
            );
            for q in names.all() {
                let _ = publisher.delete_topology(q).await;
            }
            let _ = publisher.close().await;
        }
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}
