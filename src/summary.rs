//! The readable summary the demo prints: per metric and branch, the estimate and the relative
//! uplift versus the reference branch with its 95% interval.

use anyhow::Context;
use jetstream_coordinator::export::statistics_path;
use jetstream_proto::{AnalysisBasis, Comparison, StatisticRow};
use jetstream_worker::synthetic::InjectedEffect;
use std::path::Path;

/// Reads the overall (else weekly) statistics export and prints the summary table.
pub fn print(
    results: &Path,
    slug: &str,
    reference: &str,
    effects: &[InjectedEffect],
) -> anyhow::Result<()> {
    let (suffix, rows) = ["overall", "weekly"]
        .iter()
        .find_map(|suffix| {
            let path = results.join(statistics_path(slug, suffix));
            let text = std::fs::read(&path).ok()?;
            Some((
                *suffix,
                serde_json::from_slice::<Vec<StatisticRow>>(&text)
                    .with_context(|| format!("reading {}", path.display())),
            ))
        })
        .context("no overall or weekly statistics were exported")?;
    let rows = rows?;
    let last_window = rows
        .iter()
        .filter_map(|r| r.window_index.as_deref()?.parse::<u32>().ok())
        .max()
        .unwrap_or(1)
        .to_string();
    let selected: Vec<&StatisticRow> = rows
        .iter()
        .filter(|r| r.segment == "all" && r.analysis_basis == Some(AnalysisBasis::Enrollments))
        .filter(|r| r.window_index.as_deref() == Some(last_window.as_str()))
        .collect();
    println!("{suffix} results (window {last_window}, segment all, enrollments basis):");
    println!(
        "{:<14} {:<16} {:<11} {:>12}   {:<34} injected",
        "metric", "statistic", "branch", "estimate", "relative uplift vs reference (95%)"
    );
    let mut metrics: Vec<&str> = selected
        .iter()
        .filter(|r| r.metric != "identity")
        .map(|r| r.metric.as_str())
        .collect();
    metrics.sort();
    metrics.dedup();
    for metric in metrics {
        for r in selected
            .iter()
            .filter(|r| r.metric == metric && r.comparison.is_none())
        {
            let uplift = selected.iter().find(|u| {
                u.metric == metric
                    && u.statistic == r.statistic
                    && u.branch == r.branch
                    && u.comparison == Some(Comparison::RelativeUplift)
                    && u.comparison_to_branch.as_deref() == Some(reference)
            });
            let uplift_text = match uplift {
                Some(u) => format!(
                    "{:+.2}% [{:+.2}%, {:+.2}%]",
                    100.0 * u.point.unwrap_or(f64::NAN),
                    100.0 * u.lower.unwrap_or(f64::NAN),
                    100.0 * u.upper.unwrap_or(f64::NAN)
                ),
                None if r.branch == reference => "(reference)".to_string(),
                None => "-".to_string(),
            };
            let injected = effects
                .iter()
                .find(|e| e.metric == metric && e.branch == r.branch)
                .map(|e| format!("{:+.2}%", 100.0 * e.relative_uplift))
                .unwrap_or_default();
            println!(
                "{:<14} {:<16} {:<11} {:>12.4}   {:<34} {}",
                metric,
                r.statistic,
                r.branch,
                r.point.unwrap_or(f64::NAN),
                uplift_text,
                injected
            );
        }
    }
    for r in selected.iter().filter(|r| r.metric == "identity") {
        println!(
            "{:<14} {:<16} {:<11} {:>12}",
            "clients",
            "count",
            r.branch,
            r.point.unwrap_or(0.0)
        );
    }
    Ok(())
}
