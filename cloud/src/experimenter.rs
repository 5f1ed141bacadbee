//! Experiment definitions from Experimenter's API (v8), as Jetstream reads them.
//!
//! One slug fetches `<base><slug>/`; otherwise the whole list. Requests carry the user agent
//! `jetstream`, time out, and are retried (upstream: 3 tries, sleeping `min(10^i, 180)` s) on
//! transport failures and 5xx/429 answers. Entries of the list that do not parse are logged
//! and skipped, so one bad experiment does not stop the rest of the batch.

use crate::bridge::Bridge;
use jetstream_coordinator::experimenter::{
    parse_experiments, ExperimenterError, ExperimenterExperiment,
};
use std::time::Duration;

/// Experimenter's production endpoint for experiment definitions.
pub const DEFAULT_EXPERIMENTS_URL: &str =
    "https://experimenter.services.mozilla.com/api/v8/experiments/";

/// How requests are made.
#[derive(Debug, Clone)]
pub struct ExperimenterConfig {
    /// The list endpoint, ending in `/`.
    pub url: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per request (at least 1).
    pub attempts: u32,
    /// The pause after failed attempt `i` (0-based) is `min(backoff_base^i, backoff_cap)`
    /// seconds scaled by `backoff_unit`; upstream's is 10^i seconds capped at 180.
    pub backoff_unit: Duration,
    pub backoff_base: u32,
    pub backoff_cap: Duration,
}

impl ExperimenterConfig {
    /// Upstream's behaviour against `url`.
    pub fn new(url: &str) -> ExperimenterConfig {
        let mut url = url.to_string();
        if !url.ends_with('/') {
            url.push('/');
        }
        ExperimenterConfig {
            url,
            timeout: Duration::from_secs(60),
            attempts: 3,
            backoff_unit: Duration::from_secs(1),
            backoff_base: 10,
            backoff_cap: Duration::from_secs(180),
        }
    }

    fn pause(&self, failed_attempt: u32) -> Duration {
        let factor = self.backoff_base.saturating_pow(failed_attempt);
        (self.backoff_unit.saturating_mul(factor)).min(self.backoff_cap)
    }
}

/// Why definitions could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {reason} (after {attempts} attempt(s))")]
    Http {
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("{url}: experiment '{slug}' not found (404)")]
    NotFound { url: String, slug: String },
    #[error(transparent)]
    Payload(#[from] ExperimenterError),
    #[error("invalid Experimenter URL '{0}': expected http:// or https://")]
    InvalidUrl(String),
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
}

/// A client of Experimenter's experiments API.
pub struct ExperimenterClient {
    bridge: Bridge,
    http: reqwest::Client,
    config: ExperimenterConfig,
}

/// A slug safe to append to the URL (Experimenter slugs are lowercase words and dashes).
fn is_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

enum Outcome {
    Body(String),
    NotFound,
}

impl ExperimenterClient {
    pub fn new(config: ExperimenterConfig) -> Result<ExperimenterClient, FetchError> {
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return Err(FetchError::InvalidUrl(config.url));
        }
        crate::auth::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent("jetstream")
            .timeout(config.timeout)
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        let bridge =
            Bridge::new("experimenter", 1).map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(ExperimenterClient {
            bridge,
            http,
            config,
        })
    }

    /// Every experiment (the list endpoint).
    pub fn all(&self) -> Result<Vec<ExperimenterExperiment>, FetchError> {
        let url = self.config.url.clone();
        match self.get(&url)? {
            Outcome::Body(text) => Ok(parse_experiments(&text, &url)?),
            Outcome::NotFound => Err(FetchError::Http {
                url,
                reason: "404 Not Found".into(),
                attempts: 1,
            }),
        }
    }

    /// One experiment by slug.
    pub fn one(&self, slug: &str) -> Result<ExperimenterExperiment, FetchError> {
        if !is_slug(slug) {
            return Err(FetchError::NotFound {
                url: self.config.url.clone(),
                slug: slug.to_string(),
            });
        }
        let url = format!("{}{slug}/", self.config.url);
        match self.get(&url)? {
            Outcome::Body(text) => {
                let mut experiments = parse_experiments(&text, &url)?;
                match experiments.len() {
                    1 => Ok(experiments.remove(0)),
                    n => Err(FetchError::Http {
                        url,
                        reason: format!("expected one experiment object, got {n}"),
                        attempts: 1,
                    }),
                }
            }
            Outcome::NotFound => Err(FetchError::NotFound {
                url,
                slug: slug.to_string(),
            }),
        }
    }

    /// What a run needs, as upstream fetches it: the one experiment when exactly one slug is
    /// named, the whole list otherwise.
    pub fn for_slugs(&self, slugs: &[String]) -> Result<Vec<ExperimenterExperiment>, FetchError> {
        match slugs {
            [one] => self.one(one).map(|e| vec![e]),
            _ => self.all(),
        }
    }

    fn get(&self, url: &str) -> Result<Outcome, FetchError> {
        let http = self.http.clone();
        let config = self.config.clone();
        let url = url.to_string();
        self.bridge
            .run(async move {
                let mut last = String::new();
                for attempt in 0..config.attempts.max(1) {
                    if attempt > 0 {
                        let pause = config.pause(attempt - 1);
                        tracing::warn!(%url, attempt, reason = %last, ?pause, "retrying Experimenter");
                        tokio::time::sleep(pause).await;
                    }
                    match http.get(&url).send().await {
                        Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => {
                            return Ok(Outcome::NotFound)
                        }
                        Ok(response) if response.status().is_success() => {
                            match response.text().await {
                                Ok(text) => return Ok(Outcome::Body(text)),
                                Err(e) => last = format!("reading the response: {}", plain(&e)),
                            }
                        }
                        Ok(response)
                            if response.status().is_server_error()
                                || response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
                        {
                            last = format!("HTTP {}", response.status());
                        }
                        Ok(response) => {
                            return Err(FetchError::Http {
                                url,
                                reason: format!("HTTP {}", response.status()),
                                attempts: attempt + 1,
                            })
                        }
                        Err(e) => last = plain(&e),
                    }
                }
                Err(FetchError::Http {
                    url,
                    reason: last,
                    attempts: config.attempts.max(1),
                })
            })
            .unwrap_or_else(|| Err(FetchError::Client("runtime stopped".into())))
    }
}

/// A request error without the URL reqwest appends (the caller names it once).
fn plain(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() || error.is_body() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_upstream() {
        let config = ExperimenterConfig::new("https://e.example/api/v8/experiments");
        assert_eq!(config.url, "https://e.example/api/v8/experiments/");
        assert_eq!(config.pause(0), Duration::from_secs(1));
        assert_eq!(config.pause(1), Duration::from_secs(10));
        assert_eq!(config.pause(2), Duration::from_secs(100));
        assert_eq!(config.pause(3), Duration::from_secs(180));
    }

    #[test]
    fn only_http_urls_and_plain_slugs_are_accepted() {
        assert!(matches!(
            ExperimenterClient::new(ExperimenterConfig::new("file:///x")),
            Err(FetchError::InvalidUrl(_))
        ));
        assert!(is_slug("my-experiment-1"));
        assert!(!is_slug("../admin"));
        assert!(!is_slug("a/b"));
    }
}
