//! Config repositories: directories laid out like metric-hub, loaded and layered as Jetstream
//! layers its `--config_repos` (metric-config-parser's `ConfigCollection`).
//!
//! Layout of one directory (upstream's `from_local_repo`):
//! - `*.toml` — experiment configs, slug = file stem (files with a `[project]` table are OpMon's
//!   and skipped);
//! - `defaults/<app or experiment type>.toml` — platform defaults;
//! - `definitions/<platform>.toml` — metric, data source and segment definitions;
//!   `definitions/functions.toml` — the Jinja helpers (`agg_sum`, ...);
//! - `outcomes/<platform>/<slug>.toml` — outcomes.
//!
//! Later directories are merged over earlier ones: configs, defaults and definitions of the same
//! name with the merge rules of `merge.rs`, outcomes and functions replaced.
//!
//! Deliberate decisions:
//! - **A metric-hub checkout is two layers.** A directory with a `jetstream/` sub-directory and
//!   no experiment configs of its own is read as `[dir, dir/jetstream]`, which is exactly how
//!   Jetstream layers metric-hub (`metric-hub` then `metric-hub/tree/main/jetstream`), so users
//!   can point at their checkout unchanged.
//! - **A broken experiment config only breaks its experiment**: it is kept as an error and
//!   reported when that experiment is resolved. A broken defaults, definitions, outcome or
//!   functions file fails the load (every experiment depends on them), as upstream.
//! - **Outcomes are replaced by (platform, slug)**; upstream matches on slug only, so a later
//!   repository's `fenix/pocket` would hide an earlier `firefox_ios/pocket`.

use super::error::ConfigError;
use super::history::{Commit, GitDir, HistoryError};
use super::merge::{merge_definitions, merge_spec};
use super::parse;
use super::template::Templates;
use super::types::{CustomConfig, FileKind, FunctionDefinition};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Everything a set of config repositories defines.
#[derive(Debug, Default)]
pub struct ConfigCollection {
    /// Experiment configs by slug; a file that failed to parse keeps its error.
    configs: BTreeMap<String, Result<CustomConfig, Arc<ConfigError>>>,
    /// Outcomes by (platform, slug).
    outcomes: BTreeMap<(String, String), CustomConfig>,
    /// Defaults by app name or experiment type.
    defaults: BTreeMap<String, CustomConfig>,
    /// Definitions by platform.
    definitions: BTreeMap<String, CustomConfig>,
    /// Jinja helpers by name.
    functions: BTreeMap<String, FunctionDefinition>,
    /// The directories loaded, in layering order.
    sources: Vec<PathBuf>,
    /// The commit each pinned directory was read at.
    commits: Vec<(PathBuf, Commit)>,
    templates: OnceLock<Templates>,
}

/// Which version of git-tracked config repositories to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// The newest commit at or before this time.
    AsOf(DateTime<Utc>),
    /// A commit-ish: sha, tag or branch.
    Commit(String),
}

impl Clone for ConfigCollection {
    fn clone(&self) -> Self {
        ConfigCollection {
            configs: self.configs.clone(),
            outcomes: self.outcomes.clone(),
            defaults: self.defaults.clone(),
            definitions: self.definitions.clone(),
            functions: self.functions.clone(),
            sources: self.sources.clone(),
            commits: self.commits.clone(),
            templates: OnceLock::new(),
        }
    }
}

impl ConfigCollection {
    /// An empty collection: experiments resolve with only their own config.
    pub fn empty() -> ConfigCollection {
        ConfigCollection::default()
    }

    /// Loads directories in order, later ones layered over earlier ones (a metric-hub checkout
    /// counts as two layers, see the module docs).
    pub fn load(dirs: &[PathBuf]) -> Result<ConfigCollection, ConfigError> {
        let mut collection = ConfigCollection::empty();
        for dir in dirs {
            for layer in layers(dir)? {
                collection.merge(ConfigCollection::load_dir(&layer)?);
            }
        }
        Ok(collection)
    }

    /// Like [`ConfigCollection::load`], with every directory that is in a git checkout read as
    /// of `pin` (upstream's `ConfigCollection.as_of`): the newest commit at or before a time
    /// (the oldest commit when none is; a newer one when the chosen commit's configs do not
    /// load), or a given commit. A directory outside git is read as it is, with a warning.
    pub fn load_pinned(dirs: &[PathBuf], pin: &Pin) -> Result<ConfigCollection, ConfigError> {
        let mut collection = ConfigCollection::empty();
        for dir in dirs {
            for layer in layers(dir)? {
                collection.merge(load_layer_pinned(&layer, pin)?);
            }
        }
        Ok(collection)
    }

    /// The commits the directories were pinned to, by directory (empty when not pinned).
    pub fn pinned_commits(&self) -> &[(PathBuf, Commit)] {
        &self.commits
    }

    /// Loads one directory laid out like a metric-hub project directory.
    pub fn load_dir(dir: &Path) -> Result<ConfigCollection, ConfigError> {
        ConfigCollection::load_tree(dir, dir)
    }

    /// Reads the files under `dir`, naming them as if they were under `shown_as` (a pinned
    /// checkout is read from a temporary directory but reported under the user's).
    fn load_tree(dir: &Path, shown_as: &Path) -> Result<ConfigCollection, ConfigError> {
        let shown = |path: &Path| match path.strip_prefix(dir) {
            Ok(relative) => shown_as.join(relative),
            Err(_) => path.to_path_buf(),
        };
        if !dir.is_dir() {
            return Err(ConfigError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "config repository is not a directory",
                ),
            });
        }
        let mut collection = ConfigCollection {
            sources: vec![shown_as.to_path_buf()],
            ..ConfigCollection::default()
        };
        for path in toml_files(dir)? {
            let slug = stem(&path);
            let name = shown(&path);
            match read(&path)
                .and_then(|text| parse::parse_quietly(&name, &text, FileKind::Experiment))
            {
                Ok(config) => {
                    collection.configs.insert(slug, Ok(config));
                }
                Err(e) if is_opmon(&e) => {
                    tracing::debug!(file = %path.display(), "OpMon config skipped");
                }
                Err(e) => {
                    tracing::debug!(file = %path.display(), error = %e, "experiment config does not parse");
                    collection.configs.insert(slug, Err(Arc::new(e)));
                }
            }
        }
        for path in toml_files(&dir.join("defaults"))? {
            let name = shown(&path);
            match read(&path)
                .and_then(|text| parse::parse_quietly(&name, &text, FileKind::Defaults))
            {
                Ok(config) => {
                    collection.defaults.insert(stem(&path), config);
                }
                Err(e) if is_opmon(&e) => {}
                Err(e) => return Err(e),
            }
        }
        for path in toml_files(&dir.join("definitions"))? {
            let text = read(&path)?;
            let name = shown(&path);
            if path.file_name().and_then(|n| n.to_str()) == Some("functions.toml") {
                for function in parse::parse_functions(&name, &text)? {
                    collection.functions.insert(function.name.clone(), function);
                }
            } else {
                let config = parse::parse_quietly(&name, &text, FileKind::Definitions)?;
                collection.definitions.insert(stem(&path), config);
            }
        }
        let outcomes_dir = dir.join("outcomes");
        if outcomes_dir.is_dir() {
            for platform_dir in sorted_entries(&outcomes_dir)? {
                if !platform_dir.is_dir() {
                    continue;
                }
                let platform = stem(&platform_dir);
                for path in toml_files(&platform_dir)? {
                    let text = read(&path)?;
                    let outcome = parse::parse_quietly(&shown(&path), &text, FileKind::Outcome)?;
                    collection
                        .outcomes
                        .insert((platform.clone(), stem(&path)), outcome);
                }
            }
        }
        Ok(collection)
    }

    /// Layers `other` over `self` (upstream's `ConfigCollection.merge`).
    pub fn merge(&mut self, other: ConfigCollection) {
        for (slug, config) in other.configs {
            let merged = match (self.configs.remove(&slug), config) {
                (Some(Ok(mut base)), Ok(over)) => {
                    merge_spec(&mut base, &over);
                    base.path = over.path;
                    base.parameters.extend(over.parameters);
                    Ok(base)
                }
                (Some(Err(e)), _) | (_, Err(e)) => Err(e),
                (None, Ok(over)) => Ok(over),
            };
            self.configs.insert(slug, merged);
        }
        self.outcomes.extend(other.outcomes);
        for (name, over) in other.defaults {
            match self.defaults.get_mut(&name) {
                Some(base) => merge_spec(base, &over),
                None => {
                    self.defaults.insert(name, over);
                }
            }
        }
        for (name, over) in other.definitions {
            match self.definitions.get_mut(&name) {
                Some(base) => merge_definitions(base, &over),
                None => {
                    self.definitions.insert(name, over);
                }
            }
        }
        self.functions.extend(other.functions);
        self.sources.extend(other.sources);
        self.commits.extend(other.commits);
        self.templates = OnceLock::new();
    }

    /// Adds (or replaces) one experiment config, e.g. an explicit `--config_file`.
    pub fn insert_config(&mut self, slug: &str, config: CustomConfig) {
        self.configs.insert(slug.to_string(), Ok(config));
    }

    /// Adds (or replaces) an outcome, e.g. the file `validate-config` checks.
    pub fn insert_outcome(&mut self, platform: &str, slug: &str, outcome: CustomConfig) {
        self.outcomes
            .insert((platform.to_string(), slug.to_string()), outcome);
    }

    /// Replaces the Jetstream-specific layer of `platform`'s definitions with `definitions`,
    /// merged over what the other layers define (the file `validate-config` checks).
    pub fn replace_definitions(&mut self, platform: &str, definitions: CustomConfig) {
        match self.definitions.get_mut(platform) {
            Some(base) => merge_definitions(base, &definitions),
            None => {
                self.definitions.insert(platform.to_string(), definitions);
            }
        }
    }

    /// The experiment config for `slug`: `None` when there is none, an error when its file is
    /// broken.
    pub fn config(&self, slug: &str) -> Option<Result<&CustomConfig, &ConfigError>> {
        self.configs
            .get(slug)
            .map(|c| c.as_ref().map_err(|e| e.as_ref()))
    }

    /// Slugs of every experiment config, including broken ones.
    pub fn config_slugs(&self) -> impl Iterator<Item = &str> {
        self.configs.keys().map(String::as_str)
    }

    /// The outcome `slug` for `platform`.
    pub fn outcome(&self, platform: &str, slug: &str) -> Option<&CustomConfig> {
        self.outcomes.get(&(platform.to_string(), slug.to_string()))
    }

    /// Slugs of the outcomes `platform` has.
    pub fn outcome_slugs(&self, platform: &str) -> Vec<&str> {
        self.outcomes
            .keys()
            .filter(|(p, _)| p == platform)
            .map(|(_, s)| s.as_str())
            .collect()
    }

    /// Every outcome as (platform, slug, spec).
    pub fn outcomes(&self) -> impl Iterator<Item = (&str, &str, &CustomConfig)> {
        self.outcomes
            .iter()
            .map(|((p, s), c)| (p.as_str(), s.as_str(), c))
    }

    /// The definitions of `platform` (root and Jetstream-specific, merged).
    pub fn definitions(&self, platform: &str) -> Option<&CustomConfig> {
        self.definitions.get(platform)
    }

    /// Platform names that have definitions.
    pub fn platforms(&self) -> impl Iterator<Item = &str> {
        self.definitions.keys().map(String::as_str)
    }

    /// The defaults an experiment starts from (upstream's `default_for_experiment`): the app's,
    /// with the experiment type's merged over them.
    pub fn defaults_for(&self, app_name: &str, experiment_type: &str) -> CustomConfig {
        let mut spec = self.defaults.get(app_name).cloned().unwrap_or_default();
        if let Some(by_type) = self.defaults.get(experiment_type) {
            merge_spec(&mut spec, by_type);
        }
        spec
    }

    /// Names of every defaults file (apps and experiment types).
    pub fn defaults_names(&self) -> impl Iterator<Item = &str> {
        self.defaults.keys().map(String::as_str)
    }

    /// The Jinja environment with this collection's functions.
    pub fn templates(&self) -> &Templates {
        self.templates.get_or_init(|| {
            Templates::new(
                self.functions
                    .values()
                    .map(|f| (f.name.clone(), f.definition.clone())),
            )
        })
    }

    /// Resolves every definition of `experiment`'s platform (see `validate-config`).
    pub fn check_definitions(
        &self,
        experiment: &crate::experimenter::ExperimenterExperiment,
        today: chrono::NaiveDate,
    ) -> Result<usize, ConfigError> {
        super::resolve::check_definitions(self, experiment, today)
    }

    /// The directories loaded, in layering order.
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }
}

fn load_layer_pinned(dir: &Path, pin: &Pin) -> Result<ConfigCollection, ConfigError> {
    let git_error = |e: HistoryError| ConfigError::Invalid {
        file: Some(dir.to_path_buf()),
        line: None,
        column: None,
        key: None,
        message: e.to_string(),
    };
    let Some(git) = GitDir::discover(dir).map_err(git_error)? else {
        tracing::warn!(dir = %dir.display(), "not in a git checkout: configs are read as they are, not pinned");
        return ConfigCollection::load_dir(dir);
    };
    let load = |checkout: &Path| ConfigCollection::load_tree(checkout, dir);
    let (mut collection, commit) = match pin {
        Pin::AsOf(time) => git.load_as_of(*time, load),
        Pin::Commit(rev) => git.load_at(rev, load),
    }
    .map_err(git_error)?;
    tracing::info!(dir = %dir.display(), commit = %commit.sha, "config repository pinned");
    collection.commits = vec![(dir.to_path_buf(), commit)];
    Ok(collection)
}

/// The layers a directory stands for (see the module docs).
fn layers(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let jetstream = dir.join("jetstream");
    if jetstream.is_dir() && toml_files(dir)?.is_empty() {
        Ok(vec![dir.to_path_buf(), jetstream])
    } else {
        Ok(vec![dir.to_path_buf()])
    }
}

fn is_opmon(e: &ConfigError) -> bool {
    e.key() == Some("project")
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort();
    Ok(entries)
}

/// The `*.toml` files directly in `dir` (none when it does not exist), sorted.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect())
}
