//! `run` pins git-tracked config repositories as Jetstream pins metric-hub: to the time the
//! experiment's enrollments table was first written, so a rerun analyses with the configs of
//! its first run even after the repository changed; `--config-as-of` overrides it.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str], date: &str) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn reruns_use_the_configs_of_the_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    // The demo writes the enrollments table now.
    demo(&demo_dir, 200, 1);
    let slug = "demo-onboarding-callout";

    // A config repository: the demo's config, committed before the first run, then replaced
    // by a broken one committed (dated) long after it.
    let repo = dir.path().join("configs");
    std::fs::create_dir(&repo).unwrap();
    let config = repo.join(format!("{slug}.toml"));
    std::fs::copy(demo_dir.join("inputs/config.toml"), &config).unwrap();
    git(&repo, &["init", "-q", "-b", "main"], "2020-01-01T00:00:00Z");
    git(&repo, &["add", "."], "2020-01-01T00:00:00Z");
    git(
        &repo,
        &["commit", "-q", "-m", "config"],
        "2020-01-01T00:00:00Z",
    );
    std::fs::write(&config, "[metrics]\nweekly = [\"no_such_metric\"]\n").unwrap();
    git(
        &repo,
        &["commit", "-q", "-am", "broken"],
        "2099-01-01T00:00:00Z",
    );

    let experiments = demo_dir.join("inputs/experiment.json");
    let warehouse = demo_dir.join("warehouse.duckdb");
    let rerun = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--date",
            "2025-03-16",
            "--experiment_slug",
            slug,
            "--config_repos",
            repo.to_str().unwrap(),
            "--experiments",
            experiments.to_str().unwrap(),
            "--warehouse",
            warehouse.to_str().unwrap(),
            "--results",
            "none",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let pinned = rerun(&[]);
    assert!(
        pinned.status.success(),
        "the rerun uses the config committed before the first run:\n{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    let latest = rerun(&["--config-as-of", "2099-06-01"]);
    assert!(!latest.status.success());
    let stderr = String::from_utf8_lossy(&latest.stderr);
    assert!(
        stderr.contains("Could not locate metric no_such_metric"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{slug}.toml:2:")), "{stderr}");
}
