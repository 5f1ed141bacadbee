//! `rerun` does upstream's bookkeeping first: it touches the enrollments table (moving the
//! config pin to now) and deletes the experiment's window tables, so stale windows do not
//! survive in the views; other experiments' tables are left alone. `rerun-skip` only touches.

mod common;

use common::*;

const SLUG: &str = "demo-onboarding-callout";

fn comment(conn: &duckdb::Connection, table: &str) -> String {
    conn.query_row(
        "SELECT comment FROM duckdb_tables() WHERE schema_name = 'mozanalysis' AND table_name = ?",
        [table],
        |r| r.get(0),
    )
    .unwrap()
}

fn tables(conn: &duckdb::Connection) -> Vec<String> {
    conn.prepare(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'mozanalysis' ORDER BY 1",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

#[test]
fn rerun_touches_enrollments_and_replaces_the_experiments_window_tables_only() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    demo(&demo_dir, 200, 1);
    let warehouse = demo_dir.join("warehouse.duckdb");
    let enrollments = "enrollments_demo_onboarding_callout";
    let before = {
        let conn = duckdb::Connection::open(&warehouse).unwrap();
        conn.execute_batch(
            "CREATE TABLE mozanalysis.statistics_demo_onboarding_callout_week_99 AS
                 SELECT * FROM mozanalysis.statistics_demo_onboarding_callout_week_1;
             CREATE TABLE mozanalysis.statistics_demo_onboarding_callout_other_week_1 AS SELECT 1 AS a;
             CREATE TABLE mozanalysis.statistics_another_experiment_week_1 AS SELECT 1 AS a;",
        )
        .unwrap();
        comment(&conn, enrollments)
    };
    let out = run(&[
        "rerun",
        "--experiment-slug",
        SLUG,
        "--config-file",
        demo_dir.join("inputs/config.toml").to_str().unwrap(),
        "--experiments",
        demo_dir.join("inputs/experiment.json").to_str().unwrap(),
        "--warehouse",
        warehouse.to_str().unwrap(),
        "--results",
        "none",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = duckdb::Connection::open(&warehouse).unwrap();
    let after = tables(&conn);
    assert!(
        !after.contains(&"statistics_demo_onboarding_callout_week_99".to_string()),
        "the stale window is deleted"
    );
    for kept in [
        "statistics_another_experiment_week_1",
        "statistics_demo_onboarding_callout_other_week_1",
        enrollments,
        "statistics_demo_onboarding_callout_week_1",
    ] {
        assert!(after.contains(&kept.to_string()), "{kept} in {after:?}");
    }
    let weekly: i64 = conn
        .query_row(
            "SELECT max(window_index) FROM mozanalysis.statistics_demo_onboarding_callout_weekly",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(weekly < 99, "the view no longer shows the stale window");
    let touched = comment(&conn, enrollments);
    assert!(
        touched > before,
        "enrollments touched: {before} -> {touched}"
    );
    drop(conn);

    let out = run(&[
        "rerun-skip",
        "--experiment-slug",
        SLUG,
        "--warehouse",
        warehouse.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = duckdb::Connection::open(&warehouse).unwrap();
    assert!(
        comment(&conn, enrollments) > touched,
        "rerun-skip touches again"
    );
    assert!(
        comment(&conn, "statistics_demo_onboarding_callout_week_1").starts_with("last_updated="),
    );
}
