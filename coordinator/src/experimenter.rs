//! Experimenter's experiment definitions: the JSON Experimenter's API serves (v8, or a v6
//! recipe), reduced to the fields Jetstream reads (reference/jetstream.md §2.7).
//!
//! Parsing is strict about the fields Jetstream uses and ignores every other field, so a newer
//! API version that adds fields still parses. Every error names the file, the JSON path of the
//! offending value (`[1].branches[0].slug`, `startDate`) and what was expected there.

use chrono::NaiveDate;
use jetstream_proto::spec::{Branch, ExperimentStatus};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// An experiment as Experimenter's API (v8, or v6 recipe JSON) describes it: the fields Jetstream
/// reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimenterExperiment {
    /// `slug` (Jetstream's `normandy_slug`).
    pub slug: String,
    /// `appName`; `firefox_desktop` when absent or null.
    pub app_name: String,
    /// `appId`; `firefox-desktop` when absent or null.
    pub app_id: String,
    /// `branches[].{slug, ratio}`, in Experimenter's order.
    pub branches: Vec<Branch>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// `proposedEnrollment`, in days.
    pub proposed_enrollment: Option<i64>,
    pub enrollment_end_date: Option<NaiveDate>,
    pub reference_branch: Option<String>,
    pub is_rollout: bool,
    /// Stored for completeness; upstream no longer gates anything on it.
    pub is_enrollment_paused: bool,
    /// `bucketConfig.randomizationUnit` (`group_id` selects the profile-group analysis unit).
    pub randomization_unit: Option<String>,
    /// `outcomes[].slug`.
    pub outcomes: Vec<String>,
    /// `segments[].slug`.
    pub segments: Vec<String>,
}

impl ExperimenterExperiment {
    /// Status as Jetstream derives it: Live if endDate is null or >= today, else Complete.
    ///
    /// Deliberate decision: the comparison is by date, as the caller's `today` is a date.
    /// Upstream compares `endDate` at 00:00 UTC with the current instant, so there an experiment
    /// whose `endDate` is today is already `Complete`; here it is `Live` until the next day.
    pub fn status(&self, today: NaiveDate) -> ExperimentStatus {
        match self.end_date {
            Some(end) if end < today => ExperimentStatus::Complete,
            _ => ExperimentStatus::Live,
        }
    }
}

/// Why experiment definitions could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExperimenterError {
    /// The file could not be read.
    #[error("{}: cannot read experiment definitions: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The document (a file, or an API response) is not valid JSON.
    #[error("{source_name}:{line}:{column}: invalid JSON: {message}")]
    Syntax {
        /// The file or URL.
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value is missing or has the wrong type or form.
    #[error("{}", InvalidDisplay { file, path, message })]
    Invalid {
        /// The file (or other source) the JSON came from.
        file: String,
        /// The JSON path of the value (`[1].branches[0].slug`); empty for the document itself.
        path: String,
        message: String,
    },
    /// A non-empty array in which no entry could be parsed.
    #[error("{source_name}: none of the {count} experiments could be parsed; the first problem: {first}")]
    NoValidExperiments {
        /// The file or URL.
        source_name: String,
        count: usize,
        first: Box<ExperimenterError>,
    },
}

struct InvalidDisplay<'a> {
    file: &'a str,
    path: &'a str,
    message: &'a str,
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: `{}`: {}", self.file, self.path, self.message)
        }
    }
}

/// Reads a file holding one experiment object or a JSON array of them.
///
/// In an array, entries that fail to parse are logged with `tracing::warn` (naming file, index
/// and reason) and skipped, as upstream does; a single-object file that fails is an error. An
/// empty result from a non-empty array is an error (an empty array gives an empty list).
pub fn load_experiments(path: &Path) -> Result<Vec<ExperimenterExperiment>, ExperimenterError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExperimenterError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_experiments(&text, &path.display().to_string())
}

/// Parses a document holding one experiment object or an array of them (a file's contents or
/// Experimenter's API response); `source_name` (a file or URL) starts every error message.
/// Entries of an array that fail are logged and skipped as in [`load_experiments`].
pub fn parse_experiments(
    text: &str,
    source_name: &str,
) -> Result<Vec<ExperimenterExperiment>, ExperimenterError> {
    let value: Value = serde_json::from_str(text).map_err(|e| syntax_error(source_name, &e))?;
    let file = source_name.to_string();
    match &value {
        Value::Object(_) => Ok(vec![parse_at(&value, &file, "")?]),
        Value::Array(entries) => {
            let mut experiments = Vec::with_capacity(entries.len());
            let mut first_error = None;
            for (index, entry) in entries.iter().enumerate() {
                match parse_at(entry, &file, &format!("[{index}]")) {
                    Ok(experiment) => experiments.push(experiment),
                    Err(error) => {
                        tracing::warn!(
                            file = %file,
                            index,
                            reason = %error,
                            "skipping an experiment definition that does not parse"
                        );
                        first_error.get_or_insert(error);
                    }
                }
            }
            match first_error {
                Some(first) if experiments.is_empty() => {
                    Err(ExperimenterError::NoValidExperiments {
                        source_name: file,
                        count: entries.len(),
                        first: Box::new(first),
                    })
                }
                _ => Ok(experiments),
            }
        }
        other => Err(ExperimenterError::Invalid {
            file,
            path: String::new(),
            message: format!(
                "expected an experiment object or an array of experiment objects, found {}",
                describe(other)
            ),
        }),
    }
}

/// Parses one experiment object. `source` names where it came from (a file name, possibly
/// followed by where in the file) and starts every error message.
pub fn parse_experiment(
    value: &Value,
    source: &str,
) -> Result<ExperimenterExperiment, ExperimenterError> {
    parse_at(value, source, "")
}

fn syntax_error(source_name: &str, error: &serde_json::Error) -> ExperimenterError {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    ExperimenterError::Syntax {
        source_name: source_name.to_string(),
        line: error.line(),
        column: error.column(),
        message,
    }
}

/// A short JSON rendering of a value for error messages.
fn describe(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "?".to_string());
    if text.chars().count() > 60 {
        let mut short: String = text.chars().take(60).collect();
        short.push('…');
        short
    } else {
        text
    }
}

/// Reads fields of one JSON object, naming paths relative to `prefix`.
struct Reader<'a> {
    file: &'a str,
    prefix: String,
    object: &'a Map<String, Value>,
}

impl<'a> Reader<'a> {
    fn path(&self, key: &str) -> String {
        join_path(&self.prefix, key)
    }

    fn error(&self, key: &str, message: String) -> ExperimenterError {
        ExperimenterError::Invalid {
            file: self.file.to_string(),
            path: self.path(key),
            message,
        }
    }

    fn expected(&self, key: &str, what: &str, found: &Value) -> ExperimenterError {
        self.error(key, format!("expected {what}, found {}", describe(found)))
    }

    /// The value of `key`, with null treated as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    fn required_slug(&self, key: &str) -> Result<String, ExperimenterError> {
        let value = self.object.get(key).unwrap_or(&Value::Null);
        match value {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            other => Err(self.expected(key, "a non-empty string", other)),
        }
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, ExperimenterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.expected(key, "a string or null", other)),
        }
    }

    fn string_or(&self, key: &str, default: &str) -> Result<String, ExperimenterError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(other) => Err(self.expected(key, "a non-empty string or null", other)),
        }
    }

    fn optional_date(&self, key: &str) -> Result<Option<NaiveDate>, ExperimenterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(date) => Ok(Some(date)),
                Err(_) => Err(self.expected(
                    key,
                    "a date \"YYYY-MM-DD\" or null",
                    &Value::String(s.clone()),
                )),
            },
            Some(other) => Err(self.expected(key, "a date \"YYYY-MM-DD\" or null", other)),
        }
    }

    fn optional_days(&self, key: &str) -> Result<Option<i64>, ExperimenterError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => match value.as_i64() {
                Some(days) if days >= 0 => Ok(Some(days)),
                _ => Err(self.expected(key, "a non-negative integer (days) or null", value)),
            },
        }
    }

    fn flag(&self, key: &str) -> Result<bool, ExperimenterError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.expected(key, "a boolean or null", other)),
        }
    }

    fn nested(
        &self,
        key: &str,
        value: &'a Value,
        what: &str,
    ) -> Result<Reader<'a>, ExperimenterError> {
        match value {
            Value::Object(object) => Ok(Reader {
                file: self.file,
                prefix: self.path(key),
                object,
            }),
            other => Err(self.expected(key, what, other)),
        }
    }

    /// A list of `{slug: ...}` objects (outcomes, segments); absent or null is empty.
    fn slug_list(&self, key: &str) -> Result<Vec<String>, ExperimenterError> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.expected(
                    key,
                    "an array of objects with a \"slug\", or null",
                    other,
                ))
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                self.nested(&format!("{key}[{i}]"), item, "an object with a \"slug\"")?
                    .required_slug("slug")
            })
            .collect()
    }

    fn branches(&self) -> Result<Vec<Branch>, ExperimenterError> {
        let items = match self.object.get("branches") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(Value::Array(_)) => {
                return Err(self.error(
                    "branches",
                    "expected at least one branch, found none".into(),
                ))
            }
            other => {
                return Err(self.expected(
                    "branches",
                    "a non-empty array of branches",
                    other.unwrap_or(&Value::Null),
                ))
            }
        };
        let mut seen = BTreeSet::new();
        let mut branches = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = format!("branches[{i}]");
            let branch = self.nested(&key, item, "a branch object")?;
            let slug = branch.required_slug("slug")?;
            if !seen.insert(slug.clone()) {
                return Err(branch.error("slug", format!("duplicate branch slug '{slug}'")));
            }
            let ratio = match branch.object.get("ratio") {
                Some(value) => match value.as_f64() {
                    Some(r) if r.is_finite() && r >= 0.0 => r,
                    _ => return Err(branch.expected("ratio", "a non-negative number", value)),
                },
                None => {
                    return Err(branch.expected("ratio", "a non-negative number", &Value::Null))
                }
            };
            branches.push(Branch { slug, ratio });
        }
        Ok(branches)
    }
}

fn join_path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn parse_at(
    value: &Value,
    file: &str,
    prefix: &str,
) -> Result<ExperimenterExperiment, ExperimenterError> {
    let Value::Object(object) = value else {
        return Err(ExperimenterError::Invalid {
            file: file.to_string(),
            path: prefix.to_string(),
            message: format!("expected an experiment object, found {}", describe(value)),
        });
    };
    let r = Reader {
        file,
        prefix: prefix.to_string(),
        object,
    };
    let randomization_unit = match r.get("bucketConfig") {
        None => None,
        Some(bucket) => r
            .nested("bucketConfig", bucket, "an object or null")?
            .optional_string("randomizationUnit")?,
    };
    Ok(ExperimenterExperiment {
        slug: r.required_slug("slug")?,
        app_name: r.string_or("appName", "firefox_desktop")?,
        app_id: r.string_or("appId", "firefox-desktop")?,
        branches: r.branches()?,
        start_date: r.optional_date("startDate")?,
        end_date: r.optional_date("endDate")?,
        proposed_enrollment: r.optional_days("proposedEnrollment")?,
        enrollment_end_date: r.optional_date("enrollmentEndDate")?,
        reference_branch: r.optional_string("referenceBranch")?,
        is_rollout: r.flag("isRollout")?,
        is_enrollment_paused: r.flag("isEnrollmentPaused")?,
        randomization_unit,
        outcomes: r.slug_list("outcomes")?,
        segments: r.slug_list("segments")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    const CORPUS: &str = "/work/shared/corpus/experiments";

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn minimal() -> Value {
        json!({
            "slug": "my-exp",
            "branches": [{"slug": "control", "ratio": 1}, {"slug": "treatment", "ratio": 1}],
            "startDate": "2024-01-01",
            "endDate": null
        })
    }

    fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    fn error_text(value: Value) -> String {
        parse_experiment(&value, "experiments.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn fenix_fixture_parses() {
        let path = Path::new(CORPUS).join("jetstream-test-fenix-experiment.json");
        let experiments = load_experiments(&path).unwrap();
        assert_eq!(experiments.len(), 1);
        let e = &experiments[0];
        assert_eq!(e.slug, "fenix-bookmark-list-icon");
        assert_eq!(e.app_name, "fenix");
        assert_eq!(e.app_id, "org.mozilla.fenix");
        assert_eq!(
            e.branches,
            vec![
                Branch {
                    slug: "control".into(),
                    ratio: 1.0
                },
                Branch {
                    slug: "treatment".into(),
                    ratio: 1.0
                },
            ]
        );
        assert_eq!(e.start_date, Some(date("2021-02-09")));
        assert_eq!(e.end_date, Some(date("2021-03-11")));
        assert_eq!(e.proposed_enrollment, Some(7));
        assert_eq!(e.enrollment_end_date, None);
        assert_eq!(e.reference_branch.as_deref(), Some("control"));
        assert!(!e.is_rollout);
        assert!(e.is_enrollment_paused);
        assert_eq!(e.randomization_unit.as_deref(), Some("nimbus_id"));
        assert_eq!(e.outcomes, vec!["default-browser".to_string()]);
        assert_eq!(e.segments, vec!["regular_users_v3".to_string()]);
        assert_eq!(e.status(date("2021-03-11")), ExperimentStatus::Live);
        assert_eq!(e.status(date("2021-03-12")), ExperimentStatus::Complete);
    }

    #[test]
    fn nimbus_list_fixture_skips_the_invalid_entry() {
        let path = Path::new(CORPUS).join("jetstream-test-nimbus-experimenter.json");
        let experiments = load_experiments(&path).unwrap();
        let slugs: Vec<_> = experiments.iter().map(|e| e.slug.as_str()).collect();
        assert_eq!(
            slugs,
            [
                "bug-1629098-rapid-please-reject-me-beta-86",
                "bug-1629000-rapid-testing-rapido-intake-1-release-79"
            ]
        );
        let first = &experiments[0];
        // No appName/appId in these v6 recipes: the defaults apply.
        assert_eq!(first.app_name, "firefox_desktop");
        assert_eq!(first.app_id, "firefox-desktop");
        assert_eq!(first.enrollment_end_date, Some(date("2020-08-05")));
        assert_eq!(first.proposed_enrollment, Some(7));
        assert_eq!(first.randomization_unit.as_deref(), Some("userId"));
        assert_eq!(first.end_date, None);
        assert_eq!(first.status(date("2030-01-01")), ExperimentStatus::Live);
        assert!(first.outcomes.is_empty() && first.segments.is_empty());
        assert_eq!(experiments[1].proposed_enrollment, Some(14));
    }

    #[test]
    fn every_corpus_fixture_parses() {
        for entry in std::fs::read_dir(CORPUS).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                let experiments =
                    load_experiments(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!experiments.is_empty(), "{}", path.display());
            }
        }
        let rollout = load_experiments(
            &Path::new(CORPUS)
                .join("experimenter-v6recipe-desktop-137-fxLabsOptIn-descriptionLinks.json"),
        )
        .unwrap();
        assert!(rollout[0].is_rollout);
    }

    #[test]
    fn malformed_json_names_file_line_and_column() {
        let (_dir, path) = write_temp(
            "broken.json",
            "{\n  \"slug\": \"x\",\n  \"branches\": [,]\n}\n",
        );
        let error = load_experiments(&path).unwrap_err();
        match &error {
            ExperimenterError::Syntax { line, column, .. } => {
                assert_eq!(*line, 3);
                assert_eq!(*column, 16);
            }
            other => panic!("unexpected error {other:?}"),
        }
        let text = error.to_string();
        assert!(text.contains("broken.json:3:16: invalid JSON"), "{text}");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let error = load_experiments(Path::new("/nonexistent/experiments.json")).unwrap_err();
        assert!(matches!(error, ExperimenterError::Io { .. }));
        assert!(error.to_string().contains("/nonexistent/experiments.json"));
    }

    #[test]
    fn wrong_types_name_the_path() {
        let mut v = minimal();
        v["startDate"] = json!(20240101);
        assert_eq!(
            error_text(v),
            "experiments.json: `startDate`: expected a date \"YYYY-MM-DD\" or null, found 20240101"
        );

        let mut v = minimal();
        v["endDate"] = json!("2024/02/01");
        assert_eq!(
            error_text(v),
            "experiments.json: `endDate`: expected a date \"YYYY-MM-DD\" or null, found \"2024/02/01\""
        );

        let mut v = minimal();
        v["branches"][1]["slug"] = json!(3);
        assert_eq!(
            error_text(v),
            "experiments.json: `branches[1].slug`: expected a non-empty string, found 3"
        );

        let mut v = minimal();
        v["branches"][0]["ratio"] = json!("1");
        assert!(error_text(v).contains("`branches[0].ratio`: expected a non-negative number"));

        let mut v = minimal();
        v["proposedEnrollment"] = json!("7");
        assert!(error_text(v).contains("`proposedEnrollment`: expected a non-negative integer"));

        let mut v = minimal();
        v["isRollout"] = json!("yes");
        assert!(error_text(v).contains("`isRollout`: expected a boolean or null, found \"yes\""));

        let mut v = minimal();
        v["bucketConfig"] = json!({"randomizationUnit": 5});
        assert!(
            error_text(v).contains("`bucketConfig.randomizationUnit`: expected a string or null")
        );

        let mut v = minimal();
        v["segments"] = json!([{"slug": "a"}, {"name": "b"}]);
        assert!(
            error_text(v).contains("`segments[1].slug`: expected a non-empty string, found null")
        );

        let mut v = minimal();
        v["outcomes"] = json!("abc");
        assert!(error_text(v).contains("`outcomes`: expected an array"));
    }

    #[test]
    fn required_fields() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("slug");
        assert_eq!(
            error_text(v),
            "experiments.json: `slug`: expected a non-empty string, found null"
        );

        let mut v = minimal();
        v["slug"] = json!("");
        assert!(error_text(v).contains("`slug`: expected a non-empty string, found \"\""));

        let mut v = minimal();
        v["branches"] = json!([]);
        assert!(error_text(v).contains("`branches`: expected at least one branch"));

        let mut v = minimal();
        v.as_object_mut().unwrap().remove("branches");
        assert!(error_text(v)
            .contains("`branches`: expected a non-empty array of branches, found null"));

        let mut v = minimal();
        v["branches"][1]["slug"] = json!("control");
        assert_eq!(
            error_text(v),
            "experiments.json: `branches[1].slug`: duplicate branch slug 'control'"
        );
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let mut v = minimal();
        v["someFutureField"] = json!({"anything": [1, 2]});
        v["appName"] = json!(null);
        let e = parse_experiment(&v, "x.json").unwrap();
        assert_eq!(e.app_name, "firefox_desktop");
        assert_eq!(e.app_id, "firefox-desktop");
        assert!(!e.is_rollout && !e.is_enrollment_paused);
        assert_eq!(e.randomization_unit, None);
        assert_eq!(e.proposed_enrollment, None);
        assert!(e.outcomes.is_empty() && e.segments.is_empty());
    }

    #[test]
    fn list_entries_are_named_by_index_and_skipped() {
        let mut bad = minimal();
        bad["branches"][0]["slug"] = json!(null);
        let text = serde_json::to_string(&json!([minimal(), bad])).unwrap();
        let (_dir, path) = write_temp("list.json", &text);
        let experiments = load_experiments(&path).unwrap();
        assert_eq!(experiments.len(), 1);

        let text = serde_json::to_string(&json!([bad.clone(), bad])).unwrap();
        let (_dir, path) = write_temp("all-bad.json", &text);
        let error = load_experiments(&path).unwrap_err().to_string();
        assert!(
            error.contains("none of the 2 experiments could be parsed"),
            "{error}"
        );
        assert!(
            error.contains("`[0].branches[0].slug`: expected a non-empty string"),
            "{error}"
        );

        let (_dir, path) = write_temp("empty.json", "[]");
        assert!(load_experiments(&path).unwrap().is_empty());

        let (_dir, path) = write_temp("one.json", &serde_json::to_string(&bad_single()).unwrap());
        let error = load_experiments(&path).unwrap_err().to_string();
        assert!(
            error.ends_with(
                "one.json: `startDate`: expected a date \"YYYY-MM-DD\" or null, found true"
            ),
            "{error}"
        );

        let (_dir, path) = write_temp("scalar.json", "42");
        let error = load_experiments(&path).unwrap_err().to_string();
        assert!(
            error.contains("expected an experiment object or an array"),
            "{error}"
        );
    }

    fn bad_single() -> Value {
        let mut v = minimal();
        v["startDate"] = json!(true);
        v
    }

    #[test]
    fn status_from_end_date() {
        let mut e = parse_experiment(&minimal(), "x.json").unwrap();
        assert_eq!(e.status(date("2099-01-01")), ExperimentStatus::Live);
        e.end_date = Some(date("2024-02-01"));
        assert_eq!(e.status(date("2024-01-31")), ExperimentStatus::Live);
        assert_eq!(e.status(date("2024-02-01")), ExperimentStatus::Live);
        assert_eq!(e.status(date("2024-02-02")), ExperimentStatus::Complete);
    }
}
