//! Loading config repositories for a command, pinned when the user asks.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use jetstream_coordinator::config::{ConfigCollection, GitDir, Pin};
use jetstream_coordinator::plan::enrollments_table;
use jetstream_proto::warehouse::Warehouse;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The configs of a run: the repositories as they are, pinned as the user asked, or — as
/// Jetstream does — each experiment pinned to the time its enrollments table was first written,
/// so a rerun analyses with the configs of its first run.
pub struct Configs {
    repos: Vec<PathBuf>,
    /// The collection for experiments without a pin.
    current: ConfigCollection,
    /// Whether pinning per experiment applies (no explicit pin, some repository in git).
    pin_per_experiment: bool,
    /// Collections already loaded, by pin time.
    pinned: BTreeMap<DateTime<Utc>, ConfigCollection>,
}

impl Configs {
    pub fn new(repos: &[PathBuf], as_of: Option<&str>) -> anyhow::Result<Configs> {
        let in_git = repos
            .iter()
            .any(|r| matches!(GitDir::discover(r), Ok(Some(_))));
        Ok(Configs {
            repos: repos.to_vec(),
            current: load(repos, as_of)?,
            pin_per_experiment: as_of.is_none() && in_git,
            pinned: BTreeMap::new(),
        })
    }

    /// The repositories as they are now (or as pinned by the user): what a `rerun` resolves
    /// with, since it moves the experiment's pin to now (upstream touches its tables first).
    pub fn latest(&self) -> &ConfigCollection {
        &self.current
    }

    /// The collection `slug` resolves with.
    pub fn for_experiment(
        &mut self,
        slug: &str,
        warehouse: &dyn Warehouse,
    ) -> anyhow::Result<&ConfigCollection> {
        if !self.pin_per_experiment {
            return Ok(&self.current);
        }
        let table = enrollments_table(slug);
        let Some(first_run) = warehouse
            .table_last_updated(&table)
            .with_context(|| format!("reading when {table} was written"))?
        else {
            return Ok(&self.current);
        };
        if !self.pinned.contains_key(&first_run) {
            tracing::info!(experiment = %slug, as_of = %first_run, "configs pinned to the enrollments table's first run");
            let collection = ConfigCollection::load_pinned(&self.repos, &Pin::AsOf(first_run))
                .with_context(|| format!("loading the configs as of {first_run}"))?;
            self.pinned.insert(first_run, collection);
        }
        Ok(&self.pinned[&first_run])
    }
}

/// Loads `repos` (later ones layered over earlier ones), pinned to `as_of` when given.
pub fn load(repos: &[PathBuf], as_of: Option<&str>) -> anyhow::Result<ConfigCollection> {
    let collection = match as_of {
        None => ConfigCollection::load(repos),
        Some(when) => ConfigCollection::load_pinned(repos, &parse_pin(when)),
    };
    collection.with_context(|| {
        format!(
            "loading config repositories {}",
            repos
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// `YYYY-MM-DD` is the end of that day (UTC), an RFC 3339 time is itself, anything else is a
/// commit-ish.
pub fn parse_pin(when: &str) -> Pin {
    if let Ok(date) = NaiveDate::parse_from_str(when, "%Y-%m-%d") {
        let end_of_day = NaiveTime::from_hms_opt(23, 59, 59).expect("valid time");
        return Pin::AsOf(date.and_time(end_of_day).and_utc());
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(when) {
        return Pin::AsOf(time.with_timezone(&Utc));
    }
    Pin::Commit(when.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_as_dates_times_or_commits() {
        assert_eq!(
            parse_pin("2024-02-03"),
            Pin::AsOf("2024-02-03T23:59:59Z".parse().unwrap())
        );
        assert_eq!(
            parse_pin("2024-02-03T10:00:00+01:00"),
            Pin::AsOf("2024-02-03T09:00:00Z".parse().unwrap())
        );
        assert_eq!(parse_pin("abc123"), Pin::Commit("abc123".into()));
    }
}
