//! A corpus of malformed configs (`tests/data/malformed/*.toml`): each must be rejected with an
//! error that names the file and says what is wrong. A file's `# expect:` lines list substrings
//! its error must contain (location, dotted key, message, "did you mean").
//!
//! Configs resolve against the fixture repository `tests/data/metric-hub` for a desktop
//! experiment with branches `control` and `treatment`.

use jetstream_coordinator::config::{load_config, ConfigCollection};
use jetstream_coordinator::validate_config::synthetic_experiment;
use std::path::{Path, PathBuf};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_malformed_config_gets_a_precise_error() {
    let collection = ConfigCollection::load(&[data("metric-hub")]).expect("fixture loads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(data("malformed"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the malformed corpus is there");
    let today = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{} has no # expect: line",
            file.display()
        );
        let experiment = synthetic_experiment("malformed", "firefox_desktop", None);
        let result =
            load_config(file).and_then(|c| collection.resolve(&experiment, Some(&c), today));
        let error = match result {
            Ok(_) => {
                problems.push(format!("{}: accepted", file.display()));
                continue;
            }
            Err(e) => e.to_string(),
        };
        if !error.starts_with(&file.display().to_string()) {
            problems.push(format!(
                "{}: error does not start with the file: {error}",
                file.display()
            ));
        }
        for substring in &expected {
            if !error.contains(substring.as_str()) {
                problems.push(format!(
                    "{}: error lacks {substring:?}:\n    {error}",
                    file.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
