//! A git-tracked config directory as it was at a point in time.
//!
//! Jetstream pins the metric-hub configs an analysis uses to the time the experiment's
//! enrollments table was first written, so that later edits to the configs do not silently
//! change an analysis that is already under way (upstream: metric-config-parser's
//! `ConfigCollection.as_of`). This module finds the commit in force at that time, writes that
//! commit's copy of the directory into a temporary directory and hands it to a loader.
//!
//! Rules (upstream's):
//! - The history is HEAD's first-parent chain, newest first, with committer times.
//! - The commit used is the newest one committed at or before the timestamp; when the timestamp
//!   precedes every commit, the oldest one.
//! - When the loader fails on that commit, newer commits are tried oldest first until one loads;
//!   when none does, the first failure is reported. Newer commits that leave the directory as
//!   it was are skipped: they would hand the loader the very same files.
//! - A directory that did not exist yet at a commit is handed over empty.
//!
//! `git` is run as a program. Nothing here touches the user's work tree, index or HEAD: a
//! commit's files are read into a private index file (`read-tree`) and written out with
//! `checkout-index --prefix` into a temporary directory that is removed once the loader returns.
//! Whether a plain (untracked) directory is pinned at all is the caller's decision:
//! [`GitDir::discover`] says whether there is a git work tree to pin against.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// The program run for every git operation.
const GIT_PROGRAM: &str = "git";

/// Settings that keep git's output parseable whatever the user's configuration says.
const GIT_SETTINGS: [&str; 8] = [
    "-c",
    "core.quotepath=off",
    "-c",
    "log.showSignature=false",
    "-c",
    "log.follow=false",
    "-c",
    "color.ui=false",
];

/// Inherited variables that would point git at another repository or index than the one asked
/// for (set, for instance, when running inside a git hook).
const REDIRECTING_GIT_VARIABLES: [&str; 6] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
];

/// A commit of a config repository: what an analysis's configs were pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Commit {
    /// Full hexadecimal object name.
    pub sha: String,
    /// Committer time: when the commit was made on the branch, as far as git knows.
    pub committed: DateTime<Utc>,
}

/// A directory inside a git work tree, so that it can be read as of an earlier commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitDir {
    /// The directory as the caller named it, for messages.
    dir: PathBuf,
    /// The work tree's top-level directory.
    root: PathBuf,
    /// `dir` relative to `root`; empty when `dir` is the root.
    sub_path: PathBuf,
}

/// Why a directory's history could not be read or loaded.
///
/// Every message names the directory; git failures also name the command and git's stderr,
/// loader failures the commit and the loader's message.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The `git` program is not there to run.
    #[error("{}: cannot run `{command}`: git is not installed or not on the PATH", dir.display())]
    GitNotFound { dir: PathBuf, command: String },
    /// Git could not be started for another reason.
    #[error("{}: cannot run `{command}`: {source}", dir.display())]
    GitSpawn {
        dir: PathBuf,
        command: String,
        source: io::Error,
    },
    /// Git ran and failed.
    #[error("{}: `{command}` failed ({status}): {stderr}", dir.display())]
    GitFailed {
        dir: PathBuf,
        command: String,
        status: String,
        stderr: String,
    },
    /// Git's output was not in the shape asked for.
    #[error("{}: unexpected output from `{command}`: {detail}", dir.display())]
    UnexpectedOutput {
        dir: PathBuf,
        command: String,
        detail: String,
    },
    /// The directory to look up does not exist or is a file.
    #[error("{}: not a directory", dir.display())]
    NotADirectory { dir: PathBuf },
    /// The repository has no commit to pin to.
    #[error("{}: the git repository at {} has no commits yet", dir.display(), root.display())]
    NoCommits { dir: PathBuf, root: PathBuf },
    /// A commit-ish given to pin to names no commit.
    #[error("{}: `{rev}` does not name a commit of the git repository at {}", dir.display(), root.display())]
    UnknownRevision {
        dir: PathBuf,
        root: PathBuf,
        rev: String,
    },
    /// No temporary directory could be made to write a commit's files into.
    #[error("{}: cannot write the files of commit {sha} to a temporary directory: {source}", dir.display())]
    TempDir {
        dir: PathBuf,
        sha: String,
        source: io::Error,
    },
    /// The loader failed on the pinned commit (and on every newer one tried).
    #[error(
        "{}: cannot load the directory as of commit {sha}: {message}{}",
        dir.display(),
        newer_attempts_note(*newer_commits_tried)
    )]
    Load {
        dir: PathBuf,
        /// The commit the timestamp (or the explicit pin) selected.
        sha: String,
        /// The loader's message for that commit.
        message: String,
        /// How many newer commits were tried after it, all failing.
        newer_commits_tried: usize,
    },
}

/// Says in a [`HistoryError::Load`] message that newer commits failed too.
fn newer_attempts_note(newer_commits_tried: usize) -> String {
    match newer_commits_tried {
        0 => String::new(),
        1 => " (the 1 newer commit that changes it failed too)".to_owned(),
        n => format!(" (all {n} newer commits that change it failed too)"),
    }
}

impl GitDir {
    /// Finds the git work tree `dir` belongs to; `None` when `dir` is not inside one (a plain
    /// directory, or a bare repository), so the caller can load it as is.
    pub fn discover(dir: &Path) -> Result<Option<GitDir>, HistoryError> {
        if !dir.is_dir() {
            return Err(HistoryError::NotADirectory {
                dir: dir.to_path_buf(),
            });
        }
        if !is_inside_work_tree(dir)? {
            return Ok(None);
        }
        let located = GitCommand::new(dir, dir)
            .args(["rev-parse", "--show-toplevel", "--show-prefix"])
            .run()?;
        let (root, sub_path) =
            parse_location(&located).ok_or_else(|| HistoryError::UnexpectedOutput {
                dir: dir.to_path_buf(),
                command: "git rev-parse --show-toplevel --show-prefix".to_owned(),
                detail: format!("{:?}", String::from_utf8_lossy(&located)),
            })?;
        Ok(Some(GitDir {
            dir: dir.to_path_buf(),
            root,
            sub_path,
        }))
    }

    /// The work tree's top-level directory (where relative paths in git's terms start).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory relative to [`GitDir::root`]; empty for the root itself.
    pub fn sub_path(&self) -> &Path {
        &self.sub_path
    }

    /// HEAD's first-parent history, newest first: the commits a timestamp is pinned among.
    pub fn commits(&self) -> Result<Vec<Commit>, HistoryError> {
        let head = self.head_sha()?;
        let command = self
            .git()
            .args(["rev-list", "--first-parent", "--timestamp"])
            .arg(&head)
            .arg("--");
        let listed = command.run()?;
        parse_timestamped_commits(&listed).map_err(|detail| command.unexpected_output(detail))
    }

    /// The commit checked out now: what an unpinned load reads.
    pub fn head(&self) -> Result<Commit, HistoryError> {
        let head = self.head_sha()?;
        self.commit_by_sha(&head)
    }

    /// Loads the directory as it was at `as_of` (rules in the module documentation); returns
    /// the loader's value and the commit whose files it loaded.
    ///
    /// The loader gets a temporary directory laid out like this one (sub-directories kept) that
    /// is removed when it returns, so it must read everything it needs before returning.
    pub fn load_as_of<T, E: fmt::Display>(
        &self,
        as_of: DateTime<Utc>,
        mut load: impl FnMut(&Path) -> Result<T, E>,
    ) -> Result<(T, Commit), HistoryError> {
        let commits = self.commits()?;
        let chosen_index = commit_index_as_of(&commits, as_of).ok_or_else(|| self.no_commits())?;
        let (newer, rest) = commits.split_at(chosen_index);
        let Some(chosen) = rest.first() else {
            return Err(self.no_commits());
        };
        tracing::debug!(
            dir = %self.dir.display(),
            %as_of,
            sha = %chosen.sha,
            committed = %chosen.committed,
            "configs pinned to commit"
        );
        match self.try_load(chosen, &mut load)? {
            Ok(value) => Ok((value, chosen.clone())),
            Err(message) => self.load_newer(newer, chosen, message, &mut load),
        }
    }

    /// Loads the directory as of an explicit commit-ish (sha, tag, branch), for analyses pinned
    /// by commit rather than by time. No newer commit is tried when the loader fails.
    pub fn load_at<T, E: fmt::Display>(
        &self,
        rev: &str,
        mut load: impl FnMut(&Path) -> Result<T, E>,
    ) -> Result<(T, Commit), HistoryError> {
        let commit = self.resolve(rev)?;
        tracing::debug!(dir = %self.dir.display(), rev, sha = %commit.sha, "configs pinned to commit");
        match self.try_load(&commit, &mut load)? {
            Ok(value) => Ok((value, commit)),
            Err(message) => Err(self.load_error(&commit, message, 0)),
        }
    }

    /// For every file under the directory at HEAD (keyed by its path relative to the
    /// directory), the last commit that touched it: upstream records its time as a config's
    /// `last_modified` and its sha as an outcome's `commit_hash`. One `git log` for all files.
    pub fn last_commits(&self) -> Result<BTreeMap<PathBuf, Commit>, HistoryError> {
        self.last_commits_at("HEAD")
    }

    /// [`GitDir::last_commits`] as of another commit-ish, e.g. the commit a load was pinned to.
    pub fn last_commits_at(&self, rev: &str) -> Result<BTreeMap<PathBuf, Commit>, HistoryError> {
        let tip = self.resolve(rev)?;
        let files = self.files_at(&tip.sha)?;
        if files.is_empty() {
            return Ok(BTreeMap::new());
        }
        let command = self
            .git()
            .args(["log", "-z", "--no-renames", "--no-color", "--name-only"])
            .arg("--format=%x00%H %ct")
            .arg(&tip.sha)
            .arg("--")
            .args(self.pathspec());
        let log = command.run()?;
        let history =
            parse_log_with_names(&log).map_err(|detail| command.unexpected_output(detail))?;
        Ok(self.relative_keys(first_commit_per_file(history, &files)))
    }

    /// The last commit at HEAD that touched one file (path relative to the directory); `None`
    /// when no commit did. Prefer [`GitDir::last_commits`] for many files.
    pub fn last_commit(&self, relative_file: &Path) -> Result<Option<Commit>, HistoryError> {
        let head = self.head_sha()?;
        let command = self
            .git()
            .args(["rev-list", "--max-count=1", "--timestamp"])
            .arg(&head)
            .arg("--")
            .arg(self.sub_path.join(relative_file));
        let listed = command.run()?;
        let commits = parse_timestamped_commits(&listed)
            .map_err(|detail| command.unexpected_output(detail))?;
        Ok(commits.into_iter().next())
    }

    /// Tries the commits newer than `chosen` (given newest first) that change the directory,
    /// oldest first, after the loader failed on `chosen` with `first_failure`.
    fn load_newer<T, E: fmt::Display>(
        &self,
        newer: &[Commit],
        chosen: &Commit,
        first_failure: String,
        load: &mut impl FnMut(&Path) -> Result<T, E>,
    ) -> Result<(T, Commit), HistoryError> {
        tracing::debug!(
            dir = %self.dir.display(),
            sha = %chosen.sha,
            error = %first_failure,
            "configs failed to load at the pinned commit; trying newer commits"
        );
        let changing = self.commits_changing_directory()?;
        let mut tried = 0;
        for commit in newer.iter().rev().filter(|c| changing.contains(&c.sha)) {
            tried += 1;
            match self.try_load(commit, load)? {
                Ok(value) => {
                    tracing::info!(
                        dir = %self.dir.display(),
                        pinned = %chosen.sha,
                        used = %commit.sha,
                        committed = %commit.committed,
                        "configs loaded from a commit newer than the pinned one"
                    );
                    return Ok((value, commit.clone()));
                }
                Err(message) => {
                    tracing::debug!(sha = %commit.sha, error = %message, "newer commit failed too")
                }
            }
        }
        Err(self.load_error(chosen, first_failure, tried))
    }

    /// Runs the loader on `commit`'s files. The outer error is git's or the file system's, the
    /// inner one the loader's message.
    fn try_load<T, E: fmt::Display>(
        &self,
        commit: &Commit,
        load: &mut impl FnMut(&Path) -> Result<T, E>,
    ) -> Result<Result<T, String>, HistoryError> {
        let checkout = self.materialise(&commit.sha)?;
        let loaded = load(checkout.path()).map_err(|error| error.to_string());
        checkout.remove();
        Ok(loaded)
    }

    /// Writes the directory's files at `sha` into a fresh temporary directory.
    fn materialise(&self, sha: &str) -> Result<Checkout, HistoryError> {
        let temp_error = |source| HistoryError::TempDir {
            dir: self.dir.clone(),
            sha: sha.to_owned(),
            source,
        };
        let temp = tempfile::Builder::new()
            .prefix("jetstream-configs-")
            .tempdir()
            .map_err(temp_error)?;
        let files = temp.path().join("checkout").join(self.checkout_name());
        std::fs::create_dir_all(&files).map_err(temp_error)?;
        match self.directory_tree(sha)? {
            Some(tree) => self.write_tree(&tree, &temp.path().join("index"), &files)?,
            None => tracing::debug!(
                dir = %self.dir.display(),
                sha,
                "directory absent at this commit; the loader gets an empty directory"
            ),
        }
        Ok(Checkout { temp, files })
    }

    /// Writes `tree` into `destination` through a private index file, leaving the user's
    /// index and work tree alone.
    fn write_tree(&self, tree: &str, index: &Path, destination: &Path) -> Result<(), HistoryError> {
        self.git()
            .index_file(index)
            .args(["read-tree", tree])
            .run()?;
        let mut prefix = OsString::from("--prefix=");
        prefix.push(destination.as_os_str());
        prefix.push("/");
        self.git()
            .index_file(index)
            .args(["checkout-index", "--all", "--force"])
            .arg(prefix)
            .run()?;
        Ok(())
    }

    /// The tree object of the directory at `sha`; `None` when it did not exist (or was a file).
    fn directory_tree(&self, sha: &str) -> Result<Option<String>, HistoryError> {
        if self.sub_path.as_os_str().is_empty() {
            return Ok(Some(sha.to_owned()));
        }
        let command = self
            .git()
            .args(["ls-tree", "-z", "--full-tree", sha, "--"])
            .arg(&self.sub_path);
        let listing = command.run()?;
        for entry in listing.split(|byte| *byte == 0).filter(|e| !e.is_empty()) {
            let tree_entry =
                parse_tree_entry(entry).ok_or_else(|| command.unexpected_output(lossy(entry)))?;
            if tree_entry.kind == "tree" && tree_entry.path == self.sub_path {
                return Ok(Some(tree_entry.object));
            }
        }
        Ok(None)
    }

    /// Commits of the first-parent history whose copy of the directory differs from their
    /// parent's: the only newer commits worth loading after a failure.
    fn commits_changing_directory(&self) -> Result<HashSet<String>, HistoryError> {
        let head = self.head_sha()?;
        let listed = self
            .git()
            .args(["rev-list", "--first-parent"])
            .arg(&head)
            .arg("--")
            .args(self.pathspec())
            .run()?;
        Ok(String::from_utf8_lossy(&listed)
            .lines()
            .map(|line| line.trim().to_owned())
            .filter(|sha| !sha.is_empty())
            .collect())
    }

    /// Files under the directory at `sha`, relative to the work tree's root.
    fn files_at(&self, sha: &str) -> Result<BTreeSet<PathBuf>, HistoryError> {
        let listing = self
            .git()
            .args([
                "ls-tree",
                "-r",
                "-z",
                "--full-tree",
                "--name-only",
                sha,
                "--",
            ])
            .args(self.pathspec())
            .run()?;
        Ok(listing
            .split(|byte| *byte == 0)
            .filter(|name| !name.is_empty())
            .map(path_from_git)
            .collect())
    }

    /// Re-keys root-relative paths relative to the directory.
    fn relative_keys(&self, by_root_path: BTreeMap<PathBuf, Commit>) -> BTreeMap<PathBuf, Commit> {
        by_root_path
            .into_iter()
            .filter_map(|(path, commit)| {
                let relative = path.strip_prefix(&self.sub_path).ok()?.to_path_buf();
                Some((relative, commit))
            })
            .collect()
    }

    /// The commit `rev` names, with its committer time.
    fn resolve(&self, rev: &str) -> Result<Commit, HistoryError> {
        match self.verify_commit(rev)? {
            Some(sha) => self.commit_by_sha(&sha),
            None if self.verify_commit("HEAD")?.is_none() => Err(self.no_commits()),
            None => Err(HistoryError::UnknownRevision {
                dir: self.dir.clone(),
                root: self.root.clone(),
                rev: rev.to_owned(),
            }),
        }
    }

    /// The sha of HEAD's commit; [`HistoryError::NoCommits`] in an empty repository.
    fn head_sha(&self) -> Result<String, HistoryError> {
        self.verify_commit("HEAD")?.ok_or_else(|| self.no_commits())
    }

    /// The full sha `rev` names, `None` when it names no commit.
    fn verify_commit(&self, rev: &str) -> Result<Option<String>, HistoryError> {
        let command = self
            .git()
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("{rev}^{{commit}}"));
        let output = command.output()?;
        if !output.success {
            // `--quiet` makes "no such commit" a silent exit.
            if output.stderr.is_empty() {
                return Ok(None);
            }
            return Err(command.failed(&output));
        }
        let sha = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !is_object_name(&sha) {
            return Err(command.unexpected_output(format!("{sha:?} is not a commit sha")));
        }
        Ok(Some(sha))
    }

    /// The commit with full sha `sha`, with its committer time.
    fn commit_by_sha(&self, sha: &str) -> Result<Commit, HistoryError> {
        let command = self
            .git()
            .args(["rev-list", "--no-walk", "--timestamp", sha, "--"]);
        let listed = command.run()?;
        parse_timestamped_commits(&listed)
            .map_err(|detail| command.unexpected_output(detail))?
            .into_iter()
            .next()
            .ok_or_else(|| command.unexpected_output("no commit listed".to_owned()))
    }

    /// Pathspec arguments restricting a command to the directory (none for the root).
    fn pathspec(&self) -> Option<&Path> {
        (!self.sub_path.as_os_str().is_empty()).then_some(self.sub_path.as_path())
    }

    /// The name the loader's temporary directory gets: the directory's own, for readable paths.
    fn checkout_name(&self) -> OsString {
        self.sub_path
            .file_name()
            .or_else(|| self.root.file_name())
            .map_or_else(|| OsString::from("configs"), OsStr::to_os_string)
    }

    fn git(&self) -> GitCommand<'_> {
        GitCommand::new(&self.root, &self.dir)
    }

    fn no_commits(&self) -> HistoryError {
        HistoryError::NoCommits {
            dir: self.dir.clone(),
            root: self.root.clone(),
        }
    }

    fn load_error(
        &self,
        commit: &Commit,
        message: String,
        newer_commits_tried: usize,
    ) -> HistoryError {
        HistoryError::Load {
            dir: self.dir.clone(),
            sha: commit.sha.clone(),
            message,
            newer_commits_tried,
        }
    }
}

/// A commit's files written out for a loader; removed by [`Checkout::remove`] or on drop.
struct Checkout {
    temp: TempDir,
    files: PathBuf,
}

impl Checkout {
    fn path(&self) -> &Path {
        &self.files
    }

    /// Deletes the files, logging (rather than failing on) what could not be deleted.
    fn remove(self) {
        let location = self.temp.path().to_path_buf();
        if let Err(error) = self.temp.close() {
            tracing::warn!(dir = %location.display(), %error, "cannot remove a temporary directory");
        }
    }
}

/// Whether `dir` is inside a git work tree; "not a repository" is an answer, other git failures
/// (such as git refusing a repository owned by someone else) are errors.
fn is_inside_work_tree(dir: &Path) -> Result<bool, HistoryError> {
    let command = GitCommand::new(dir, dir).args(["rev-parse", "--is-inside-work-tree"]);
    let output = command.output()?;
    if output.success {
        return Ok(output.stdout.trim_ascii() == b"true");
    }
    if output.stderr.contains("not a git repository") {
        return Ok(false);
    }
    Err(command.failed(&output))
}

/// Index of the commit in force at `as_of` in `commits` (newest first): the first committed at
/// or before it, else the oldest. `None` only when there are no commits.
fn commit_index_as_of(commits: &[Commit], as_of: DateTime<Utc>) -> Option<usize> {
    commits
        .iter()
        .position(|commit| commit.committed <= as_of)
        .or_else(|| commits.len().checked_sub(1))
}

/// For each of `files`, the first commit of `history` (newest first) that lists it.
fn first_commit_per_file(
    history: Vec<(Commit, Vec<PathBuf>)>,
    files: &BTreeSet<PathBuf>,
) -> BTreeMap<PathBuf, Commit> {
    let mut found = BTreeMap::new();
    for (commit, names) in history {
        for name in names {
            if files.contains(&name) && !found.contains_key(&name) {
                found.insert(name, commit.clone());
            }
        }
        if found.len() == files.len() {
            break;
        }
    }
    found
}

/// Splits `git rev-parse --show-toplevel --show-prefix` output into the root and the
/// directory relative to it (git writes the prefix with a trailing slash, or empty).
fn parse_location(output: &[u8]) -> Option<(PathBuf, PathBuf)> {
    let text = output.strip_suffix(b"\n")?;
    let split = text.iter().rposition(|byte| *byte == b'\n')?;
    let (root, prefix) = (&text[..split], &text[split + 1..]);
    if root.is_empty() {
        return None;
    }
    let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
    Some((path_from_git(root), path_from_git(prefix)))
}

/// Parses `git rev-list --timestamp` lines (`<committer time> <sha>`).
fn parse_timestamped_commits(output: &[u8]) -> Result<Vec<Commit>, String> {
    String::from_utf8_lossy(output)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (time, sha) = line
                .trim()
                .split_once(' ')
                .ok_or_else(|| format!("expected `<time> <sha>`, got {line:?}"))?;
            parse_commit(sha, time).ok_or_else(|| format!("expected `<time> <sha>`, got {line:?}"))
        })
        .collect()
}

/// Parses `git log -z --name-only --format=%x00%H %ct` output into commits (newest first) and
/// the root-relative paths each touched.
///
/// Split at NULs, an empty piece announces a commit header; the first name after a header
/// carries the newline git puts between the header and the names.
fn parse_log_with_names(output: &[u8]) -> Result<Vec<(Commit, Vec<PathBuf>)>, String> {
    let mut history: Vec<(Commit, Vec<PathBuf>)> = Vec::new();
    let mut header_next = false;
    let mut first_name_next = false;
    for piece in output.split(|byte| *byte == 0) {
        if piece.is_empty() {
            header_next = true;
        } else if header_next {
            history.push((parse_log_header(piece)?, Vec::new()));
            header_next = false;
            first_name_next = true;
        } else {
            let name = if first_name_next {
                piece.strip_prefix(b"\n").unwrap_or(piece)
            } else {
                piece
            };
            first_name_next = false;
            let (_, names) = history
                .last_mut()
                .ok_or_else(|| format!("file name {:?} before any commit", lossy(name)))?;
            names.push(path_from_git(name));
        }
    }
    Ok(history)
}

/// Parses a `%H %ct` header of [`parse_log_with_names`].
fn parse_log_header(piece: &[u8]) -> Result<Commit, String> {
    let text = lossy(piece);
    text.trim()
        .split_once(' ')
        .and_then(|(sha, time)| parse_commit(sha, time))
        .ok_or_else(|| format!("expected `<sha> <time>`, got {text:?}"))
}

fn parse_commit(sha: &str, unix_time: &str) -> Option<Commit> {
    let seconds = unix_time.trim().parse::<i64>().ok()?;
    let committed = DateTime::from_timestamp(seconds, 0)?;
    let sha = sha.trim();
    is_object_name(sha).then(|| Commit {
        sha: sha.to_owned(),
        committed,
    })
}

/// Whether `text` is a full object name (SHA-1 or SHA-256, lowercase hex).
fn is_object_name(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One `git ls-tree` entry: `<mode> <type> <object>\t<path>`.
struct TreeEntry {
    kind: String,
    object: String,
    path: PathBuf,
}

fn parse_tree_entry(entry: &[u8]) -> Option<TreeEntry> {
    let tab = entry.iter().position(|byte| *byte == b'\t')?;
    let meta = lossy(&entry[..tab]);
    let mut fields = meta.split_ascii_whitespace();
    let (_mode, kind, object) = (fields.next()?, fields.next()?, fields.next()?);
    Some(TreeEntry {
        kind: kind.to_owned(),
        object: object.to_owned(),
        path: path_from_git(&entry[tab + 1..]),
    })
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A path as git printed it (raw bytes with `core.quotepath=off`).
#[cfg(unix)]
fn path_from_git(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(OsStr::from_bytes(bytes))
}

/// A path as git printed it (UTF-8 on platforms without byte paths).
#[cfg(not(unix))]
fn path_from_git(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// One git invocation in `cwd`, with the settings and environment that make it predictable.
struct GitCommand<'a> {
    program: &'a OsStr,
    cwd: &'a Path,
    /// The directory errors name (the caller's, which may be below `cwd`).
    context: &'a Path,
    args: Vec<OsString>,
    index_file: Option<PathBuf>,
}

/// What a finished git process reported.
struct GitOutput {
    success: bool,
    status: String,
    stdout: Vec<u8>,
    stderr: String,
}

impl<'a> GitCommand<'a> {
    fn new(cwd: &'a Path, context: &'a Path) -> Self {
        Self::with_program(OsStr::new(GIT_PROGRAM), cwd, context)
    }

    fn with_program(program: &'a OsStr, cwd: &'a Path, context: &'a Path) -> Self {
        GitCommand {
            program,
            cwd,
            context,
            args: Vec::new(),
            index_file: None,
        }
    }

    fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_os_string()));
        self
    }

    /// Makes git use `index` instead of the repository's index.
    fn index_file(mut self, index: &Path) -> Self {
        self.index_file = Some(index.to_path_buf());
        self
    }

    /// Runs git; a failing exit is returned for the caller to judge.
    fn output(&self) -> Result<GitOutput, HistoryError> {
        let mut command = Command::new(self.program);
        command
            .arg("-C")
            .arg(self.cwd)
            .args(GIT_SETTINGS)
            .args(&self.args)
            .stdin(Stdio::null())
            .env("LC_ALL", "C")
            .env("GIT_LITERAL_PATHSPECS", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0");
        for variable in REDIRECTING_GIT_VARIABLES {
            command.env_remove(variable);
        }
        if let Some(index) = &self.index_file {
            command.env("GIT_INDEX_FILE", index);
        }
        let output = command
            .output()
            .map_err(|source| self.spawn_error(source))?;
        Ok(GitOutput {
            success: output.status.success(),
            status: output.status.to_string(),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }

    /// Runs git and returns its standard output; a failing exit is an error.
    fn run(&self) -> Result<Vec<u8>, HistoryError> {
        let output = self.output()?;
        if !output.success {
            return Err(self.failed(&output));
        }
        Ok(output.stdout)
    }

    fn failed(&self, output: &GitOutput) -> HistoryError {
        HistoryError::GitFailed {
            dir: self.context.to_path_buf(),
            command: self.to_string(),
            status: output.status.clone(),
            stderr: output.stderr.clone(),
        }
    }

    fn unexpected_output(&self, detail: String) -> HistoryError {
        HistoryError::UnexpectedOutput {
            dir: self.context.to_path_buf(),
            command: self.to_string(),
            detail,
        }
    }

    fn spawn_error(&self, source: io::Error) -> HistoryError {
        let (dir, command) = (self.context.to_path_buf(), self.to_string());
        match source.kind() {
            io::ErrorKind::NotFound => HistoryError::GitNotFound { dir, command },
            _ => HistoryError::GitSpawn {
                dir,
                command,
                source,
            },
        }
    }
}

/// The command line as a user would type it (without the output-shaping settings).
impl fmt::Display for GitCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program.to_string_lossy())?;
        write!(f, " -C {}", shell_word(self.cwd.as_os_str()))?;
        for arg in &self.args {
            write!(f, " {}", shell_word(arg))?;
        }
        Ok(())
    }
}

/// An argument quoted when it would not read as one word.
fn shell_word(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '\'') {
        return format!("'{}'", text.replace('\'', r"'\''"));
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::fs;

    /// A throwaway repository whose commits get chosen committer times.
    struct TestRepo {
        temp: TempDir,
    }

    impl TestRepo {
        fn new() -> TestRepo {
            let repo = TestRepo {
                temp: tempfile::tempdir().expect("temporary directory"),
            };
            repo.git(&["init", "--quiet", "--initial-branch=main"]);
            repo
        }

        fn path(&self) -> &Path {
            self.temp.path()
        }

        /// Runs git with a neutral configuration and the given committer date.
        fn git_dated(&self, args: &[&str], date: Option<&str>) -> String {
            let mut command = Command::new("git");
            command
                .arg("-C")
                .arg(self.path())
                .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
                .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1");
            if let Some(date) = date {
                let seconds = DateTime::parse_from_rfc3339(date)
                    .expect("RFC 3339 date")
                    .timestamp();
                let raw = format!("{seconds} +0000");
                command
                    .env("GIT_AUTHOR_DATE", &raw)
                    .env("GIT_COMMITTER_DATE", &raw);
            }
            let output = command.output().expect("git runs");
            assert!(
                output.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }

        fn git(&self, args: &[&str]) -> String {
            self.git_dated(args, None)
        }

        fn write(&self, relative: &str, content: &str) {
            let path = self.path().join(relative);
            fs::create_dir_all(path.parent().expect("parent")).expect("create parent");
            fs::write(path, content).expect("write file");
        }

        fn remove(&self, relative: &str) {
            fs::remove_file(self.path().join(relative)).expect("remove file");
        }

        /// Commits everything at `date` (RFC 3339) and returns the sha.
        fn commit(&self, date: &str, message: &str) -> String {
            self.git(&["add", "--all"]);
            self.git_dated(
                &["commit", "--quiet", "--allow-empty", "-m", message],
                Some(date),
            );
            self.git(&["rev-parse", "HEAD"])
        }

        fn git_dir(&self, sub: &str) -> GitDir {
            GitDir::discover(&self.path().join(sub))
                .expect("discover")
                .expect("inside a work tree")
        }
    }

    fn at(date: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(date)
            .expect("RFC 3339 date")
            .with_timezone(&Utc)
    }

    /// Reads every file under `dir` into (relative path, content), as a loader would.
    fn read_all(dir: &Path) -> Result<BTreeMap<String, String>, String> {
        let mut files = BTreeMap::new();
        read_into(dir, dir, &mut files).map_err(|e| e.to_string())?;
        Ok(files)
    }

    fn read_into(base: &Path, dir: &Path, files: &mut BTreeMap<String, String>) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                read_into(base, &path, files)?;
            } else {
                let relative = path.strip_prefix(base).expect("under base");
                files.insert(relative.display().to_string(), fs::read_to_string(&path)?);
            }
        }
        Ok(())
    }

    /// A loader that wants `name` among the files and returns its content.
    fn require(name: &'static str) -> impl FnMut(&Path) -> Result<String, String> {
        move |dir| {
            read_all(dir)?
                .remove(name)
                .ok_or_else(|| format!("{name} is missing"))
        }
    }

    /// Three commits of `configs/a.toml`: v1 on Jan 10, v2 on Feb 10, v3 on Mar 10 (2024).
    fn three_versions() -> (TestRepo, [String; 3]) {
        let repo = TestRepo::new();
        repo.write("configs/a.toml", "v1");
        let first = repo.commit("2024-01-10T00:00:00Z", "v1");
        repo.write("configs/a.toml", "v2");
        let second = repo.commit("2024-02-10T00:00:00Z", "v2");
        repo.write("configs/a.toml", "v3");
        let third = repo.commit("2024-03-10T00:00:00Z", "v3");
        (repo, [first, second, third])
    }

    #[test]
    fn discover_finds_root_and_sub_path() {
        let (repo, _) = three_versions();
        let git_dir = repo.git_dir("configs");
        assert_eq!(git_dir.sub_path(), Path::new("configs"));
        assert_eq!(
            git_dir.root().canonicalize().unwrap(),
            repo.path().canonicalize().unwrap()
        );
        assert_eq!(repo.git_dir("").sub_path(), Path::new(""));
    }

    #[test]
    fn discover_returns_none_outside_a_work_tree() {
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(GitDir::discover(plain.path()).unwrap(), None);
        let (repo, _) = three_versions();
        assert_eq!(GitDir::discover(&repo.path().join(".git")).unwrap(), None);
    }

    #[test]
    fn discover_rejects_a_missing_directory() {
        let plain = tempfile::tempdir().unwrap();
        let missing = plain.path().join("nope");
        let error = GitDir::discover(&missing).unwrap_err();
        assert!(
            matches!(error, HistoryError::NotADirectory { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("nope"), "{error}");
    }

    #[test]
    fn commits_are_newest_first_with_committer_times() {
        let (repo, [first, second, third]) = three_versions();
        let commits = repo.git_dir("configs").commits().unwrap();
        let shas: Vec<_> = commits.iter().map(|c| c.sha.as_str()).collect();
        assert_eq!(shas, [&third, &second, &first]);
        assert_eq!(commits[0].committed, at("2024-03-10T00:00:00Z"));
        let head = repo.git_dir("configs").head().unwrap();
        assert_eq!(head, commits[0]);
    }

    #[test]
    fn loads_the_newest_commit_at_or_before_the_timestamp() {
        let (repo, [_, second, _]) = three_versions();
        let git_dir = repo.git_dir("configs");
        let (content, commit) = git_dir
            .load_as_of(at("2024-02-20T12:00:00Z"), require("a.toml"))
            .unwrap();
        assert_eq!(content, "v2");
        assert_eq!(commit.sha, second);
        assert_eq!(commit.committed, at("2024-02-10T00:00:00Z"));
    }

    #[test]
    fn a_commit_at_exactly_the_timestamp_is_included() {
        let (repo, [_, second, _]) = three_versions();
        let (content, commit) = repo
            .git_dir("configs")
            .load_as_of(at("2024-02-10T00:00:00Z"), require("a.toml"))
            .unwrap();
        assert_eq!((content.as_str(), commit.sha), ("v2", second));
    }

    #[test]
    fn a_timestamp_before_the_first_commit_uses_the_oldest() {
        let (repo, [first, _, _]) = three_versions();
        let (content, commit) = repo
            .git_dir("configs")
            .load_as_of(at("2020-01-01T00:00:00Z"), require("a.toml"))
            .unwrap();
        assert_eq!((content.as_str(), commit.sha), ("v1", first));
    }

    #[test]
    fn a_timestamp_after_the_last_commit_uses_head() {
        let (repo, [_, _, third]) = three_versions();
        let (content, commit) = repo
            .git_dir("configs")
            .load_as_of(at("2030-01-01T00:00:00Z"), require("a.toml"))
            .unwrap();
        assert_eq!((content.as_str(), commit.sha), ("v3", third));
    }

    #[test]
    fn falls_back_to_newer_commits_when_the_loader_fails() {
        let repo = TestRepo::new();
        repo.write("configs/a.toml", "broken");
        repo.commit("2024-01-10T00:00:00Z", "broken");
        repo.write("other/unrelated.txt", "x");
        repo.commit("2024-01-20T00:00:00Z", "unrelated");
        repo.write("configs/a.toml", "still broken");
        repo.commit("2024-02-10T00:00:00Z", "still broken");
        repo.write("configs/a.toml", "good");
        let fixed = repo.commit("2024-03-10T00:00:00Z", "fixed");
        repo.write("configs/a.toml", "good, later");
        repo.commit("2024-04-10T00:00:00Z", "later");

        let seen = RefCell::new(Vec::new());
        let loader = |dir: &Path| {
            let content = read_all(dir)?.remove("a.toml").unwrap_or_default();
            seen.borrow_mut().push(content.clone());
            if content.starts_with("good") {
                Ok(content)
            } else {
                Err(format!("cannot parse {content:?}"))
            }
        };
        let (content, commit) = repo
            .git_dir("configs")
            .load_as_of(at("2024-01-15T00:00:00Z"), loader)
            .unwrap();
        assert_eq!((content.as_str(), commit.sha), ("good", fixed));
        // The unrelated commit leaves configs/ as it was, so it is not loaded again.
        assert_eq!(*seen.borrow(), ["broken", "still broken", "good"]);
    }

    #[test]
    fn when_every_commit_fails_the_error_names_the_pinned_commit() {
        let (repo, [first, _, _]) = three_versions();
        let error = repo
            .git_dir("configs")
            .load_as_of(at("2024-01-15T00:00:00Z"), |_: &Path| {
                Err::<(), _>("no metrics defined")
            })
            .unwrap_err();
        match &error {
            HistoryError::Load {
                sha,
                message,
                newer_commits_tried,
                ..
            } => {
                assert_eq!(sha, &first);
                assert_eq!(message, "no metrics defined");
                assert_eq!(*newer_commits_tried, 2);
            }
            other => panic!("unexpected error {other:?}"),
        }
        let text = error.to_string();
        assert!(
            text.contains(&first) && text.contains("no metrics defined"),
            "{text}"
        );
        assert!(text.contains("configs"), "{text}");
    }

    #[test]
    fn the_sub_directory_layout_is_preserved() {
        let repo = TestRepo::new();
        repo.write("metric hub/jetstream/a.toml", "a");
        repo.write(
            "metric hub/jetstream/defaults/firefox desktop.toml",
            "defaults",
        );
        repo.write("metric hub/jetstream/outcomes/fenix/o.toml", "outcome");
        repo.write("metric hub/opmon/x.toml", "not ours");
        repo.write("README.md", "not ours");
        repo.commit("2024-01-10T00:00:00Z", "layout");

        let git_dir = repo.git_dir("metric hub/jetstream");
        let (files, _) = git_dir
            .load_as_of(at("2024-06-01T00:00:00Z"), |dir: &Path| {
                assert_eq!(dir.file_name(), Some(OsStr::new("jetstream")));
                read_all(dir)
            })
            .unwrap();
        let expected: BTreeMap<String, String> = [
            ("a.toml", "a"),
            ("defaults/firefox desktop.toml", "defaults"),
            ("outcomes/fenix/o.toml", "outcome"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(files, expected);
    }

    #[test]
    fn a_directory_missing_at_the_pinned_commit_is_empty_then_newer_commits_are_tried() {
        let repo = TestRepo::new();
        repo.write("README.md", "before the configs");
        repo.commit("2024-01-10T00:00:00Z", "readme");
        repo.write("configs/a.toml", "v1");
        let added = repo.commit("2024-02-10T00:00:00Z", "configs");

        let git_dir = repo.git_dir("configs");
        let sizes = RefCell::new(Vec::new());
        let (content, commit) = git_dir
            .load_as_of(at("2024-01-15T00:00:00Z"), |dir: &Path| {
                sizes.borrow_mut().push(read_all(dir)?.len());
                require("a.toml")(dir)
            })
            .unwrap();
        assert_eq!((content.as_str(), commit.sha), ("v1", added));
        assert_eq!(*sizes.borrow(), [0, 1]);
    }

    #[test]
    fn merges_are_followed_along_the_first_parent() {
        let repo = TestRepo::new();
        repo.write("configs/a.toml", "v1");
        repo.commit("2024-01-10T00:00:00Z", "v1");
        repo.git(&["checkout", "--quiet", "-b", "side"]);
        repo.write("configs/a.toml", "side");
        let side = repo.commit("2024-01-20T00:00:00Z", "side");
        repo.git(&["checkout", "--quiet", "main"]);
        repo.write("other.txt", "main");
        repo.commit("2024-01-25T00:00:00Z", "main");
        repo.git_dated(
            &["merge", "--quiet", "--no-ff", "-m", "merge", "side"],
            Some("2024-02-01T00:00:00Z"),
        );
        let merge = repo.git(&["rev-parse", "HEAD"]);

        let git_dir = repo.git_dir("configs");
        let shas: Vec<_> = git_dir
            .commits()
            .unwrap()
            .into_iter()
            .map(|c| c.sha)
            .collect();
        assert!(
            !shas.contains(&side),
            "side-branch commits are not pinned to"
        );
        let (content, commit) = git_dir
            .load_as_of(at("2024-01-21T00:00:00Z"), |dir: &Path| {
                require("a.toml")(dir).and_then(|c| match c.as_str() {
                    "side" => Ok(c),
                    _ => Err("old".to_owned()),
                })
            })
            .unwrap();
        assert_eq!((content.as_str(), commit.sha), ("side", merge));
        assert_eq!(
            git_dir.last_commits().unwrap()[Path::new("a.toml")].sha,
            side
        );
    }

    #[test]
    fn load_at_pins_by_sha_tag_or_branch() {
        let (repo, [first, second, _]) = three_versions();
        repo.git(&["tag", "pinned", &first]);
        let git_dir = repo.git_dir("configs");

        let (content, commit) = git_dir.load_at(&second, require("a.toml")).unwrap();
        assert_eq!(
            (content.as_str(), commit.sha.as_str()),
            ("v2", second.as_str())
        );
        assert_eq!(commit.committed, at("2024-02-10T00:00:00Z"));

        let (content, commit) = git_dir.load_at("pinned", require("a.toml")).unwrap();
        assert_eq!((content.as_str(), commit.sha), ("v1", first));

        let (content, _) = git_dir.load_at("main", require("a.toml")).unwrap();
        assert_eq!(content, "v3");
        let (content, _) = git_dir.load_at(&second[..10], require("a.toml")).unwrap();
        assert_eq!(content, "v2");
    }

    #[test]
    fn load_at_reports_unknown_revisions_and_loader_failures() {
        let (repo, [first, _, _]) = three_versions();
        let git_dir = repo.git_dir("configs");
        for rev in ["no-such-tag", "--help", "", "HEAD:configs"] {
            let error = git_dir.load_at(rev, require("a.toml")).unwrap_err();
            assert!(
                matches!(error, HistoryError::UnknownRevision { .. }),
                "{rev}: {error}"
            );
        }
        let error = git_dir
            .load_at(&first, |_: &Path| Err::<(), _>("bad config"))
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&first) && text.contains("bad config"),
            "{text}"
        );
        assert!(!text.contains("newer"), "{text}");
    }

    #[test]
    fn last_commits_name_the_last_commit_touching_each_file() {
        let repo = TestRepo::new();
        repo.write("configs/a.toml", "a1");
        repo.write("configs/nested dir/b c.toml", "b1");
        repo.write("configs/gone.toml", "g");
        repo.write("configs/ünïcode.toml", "u");
        let first = repo.commit("2024-01-10T00:00:00Z", "first");
        repo.write("configs/a.toml", "a2");
        repo.remove("configs/gone.toml");
        let second = repo.commit("2024-02-10T00:00:00Z", "second");
        repo.write("outside.toml", "o");
        repo.commit("2024-03-10T00:00:00Z", "outside");

        let git_dir = repo.git_dir("configs");
        let last = git_dir.last_commits().unwrap();
        let summary: Vec<(String, &str)> = last
            .iter()
            .map(|(path, commit)| (path.display().to_string(), commit.sha.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("a.toml".to_owned(), second.as_str()),
                ("nested dir/b c.toml".to_owned(), first.as_str()),
                ("ünïcode.toml".to_owned(), first.as_str()),
            ]
        );
        assert_eq!(
            last[Path::new("a.toml")].committed,
            at("2024-02-10T00:00:00Z")
        );

        let single = git_dir
            .last_commit(Path::new("nested dir/b c.toml"))
            .unwrap();
        assert_eq!(single.map(|c| c.sha), Some(first.clone()));
        assert_eq!(git_dir.last_commit(Path::new("never.toml")).unwrap(), None);

        let at_first = git_dir.last_commits_at(&first).unwrap();
        assert_eq!(at_first.len(), 4);
        assert!(at_first.values().all(|c| c.sha == first));
    }

    #[test]
    fn last_commits_at_the_root_key_by_root_relative_paths() {
        let (repo, [_, _, third]) = three_versions();
        let last = repo.git_dir("").last_commits().unwrap();
        assert_eq!(
            last.keys().collect::<Vec<_>>(),
            [Path::new("configs/a.toml")]
        );
        assert_eq!(last[Path::new("configs/a.toml")].sha, third);
    }

    #[test]
    fn loading_leaves_the_work_tree_index_and_head_alone() {
        let (repo, [first, _, _]) = three_versions();
        repo.write("configs/a.toml", "edited, unstaged");
        repo.write("configs/new.toml", "staged");
        repo.git(&["add", "configs/new.toml"]);
        repo.write("untracked.txt", "u");
        let status = repo.git(&["status", "--porcelain"]);
        let head = repo.git(&["rev-parse", "HEAD"]);
        let staged = repo.git(&["diff", "--cached", "--name-only"]);

        let git_dir = repo.git_dir("configs");
        let kept = RefCell::new(None);
        git_dir
            .load_as_of(at("2024-01-15T00:00:00Z"), |dir: &Path| {
                *kept.borrow_mut() = Some(dir.to_path_buf());
                require("a.toml")(dir)
            })
            .unwrap();
        git_dir.load_at(&first, require("a.toml")).unwrap();

        assert_eq!(repo.git(&["status", "--porcelain"]), status);
        assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
        assert_eq!(repo.git(&["diff", "--cached", "--name-only"]), staged);
        let on_disk = fs::read_to_string(repo.path().join("configs/a.toml")).unwrap();
        assert_eq!(on_disk, "edited, unstaged");
        let used = kept.borrow().clone().expect("loader ran");
        assert!(
            !used.exists(),
            "temporary directory {} left behind",
            used.display()
        );
    }

    #[test]
    fn an_empty_repository_is_a_clear_error() {
        let repo = TestRepo::new();
        repo.write("configs/a.toml", "uncommitted");
        let git_dir = repo.git_dir("configs");
        for error in [
            git_dir.commits().unwrap_err(),
            git_dir.head().unwrap_err(),
            git_dir
                .load_as_of(at("2024-01-01T00:00:00Z"), require("a.toml"))
                .unwrap_err(),
            git_dir.load_at("main", require("a.toml")).unwrap_err(),
            git_dir.last_commits().unwrap_err(),
        ] {
            assert!(matches!(error, HistoryError::NoCommits { .. }), "{error}");
            assert!(error.to_string().contains("no commits"), "{error}");
        }
    }

    #[test]
    fn a_missing_git_program_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let error =
            GitCommand::with_program(OsStr::new("no-such-git-program"), dir.path(), dir.path())
                .args(["status"])
                .run()
                .unwrap_err();
        assert!(matches!(error, HistoryError::GitNotFound { .. }), "{error}");
        assert!(error.to_string().contains("not installed"), "{error}");
    }

    #[test]
    fn git_failures_name_the_directory_command_and_stderr() {
        let (repo, _) = three_versions();
        let git_dir = repo.git_dir("configs");
        let error = git_dir
            .git()
            .args(["cat-file", "-t", "nonsense"])
            .run()
            .unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, HistoryError::GitFailed { .. }), "{text}");
        assert!(text.contains("configs"), "{text}");
        assert!(
            text.contains("git -C") && text.contains("cat-file -t nonsense"),
            "{text}"
        );
        assert!(text.contains("nonsense"), "{text}");
    }

    #[test]
    fn parsers_reject_odd_output_without_panicking() {
        assert!(parse_timestamped_commits(b"garbage").is_err());
        assert!(parse_timestamped_commits(b"12 notasha").is_err());
        assert!(parse_timestamped_commits(b"99999999999999999999 ab").is_err());
        assert_eq!(parse_timestamped_commits(b"").unwrap(), []);
        assert!(parse_log_with_names(b"orphan name\0").is_err());
        assert!(parse_log_with_names(b"\0not a header\0").is_err());
        assert_eq!(parse_log_with_names(b"").unwrap(), []);
        assert!(parse_tree_entry(b"no tab here").is_none());
        assert!(parse_location(b"").is_none());
        assert!(parse_location(b"\n\n").is_none());
        assert_eq!(
            parse_location(b"/repo\nsub dir/\n"),
            Some((PathBuf::from("/repo"), PathBuf::from("sub dir")))
        );
        assert_eq!(commit_index_as_of(&[], at("2024-01-01T00:00:00Z")), None);
    }
}
