//! Google credentials, from the standard sources, shared by the BigQuery, Cloud Storage and
//! Pub/Sub clients.
//!
//! `Default` is Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
//! ADC file, or the metadata server (GKE workload identity). `KeyFile` reads a service-account
//! or authorized-user JSON key. `Anonymous` sends no credentials, for emulators. Tokens and
//! keys never appear in errors or logs: errors name the source and the key file's path only.

use std::path::{Path, PathBuf};
use std::sync::Once;

/// Where credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoogleCredentials {
    /// Application Default Credentials.
    Default,
    /// A JSON key file (service account or authorized user).
    KeyFile(PathBuf),
    /// None: for local emulators, which accept any request.
    Anonymous,
}

/// The OAuth scope every backend here needs (BigQuery, Storage and Pub/Sub all accept it).
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Credentials could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the credentials key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("cannot set up Google credentials ({source_name}): {reason}")]
    Build { source_name: String, reason: String },
}

/// Installs rustls' ring provider as the process default (once). The Google clients are built
/// without their aws-lc default, so something must choose a provider before the first TLS
/// connection.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means another part of the process installed one first; that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The builder of one credentials source (anonymous credentials need none).
enum Source {
    Adc(google_cloud_auth::credentials::Builder),
    ServiceAccount(google_cloud_auth::credentials::service_account::Builder),
    User(google_cloud_auth::credentials::user_account::Builder),
}

impl GoogleCredentials {
    /// Where the credentials come from, for errors: never the key's contents.
    fn source_name(&self) -> String {
        match self {
            GoogleCredentials::KeyFile(path) => format!("key file {}", path.display()),
            _ => "application default credentials".to_string(),
        }
    }

    /// The builder for these credentials, or `None` for anonymous access.
    fn source(&self) -> Result<Option<Source>, CredentialsError> {
        use google_cloud_auth::credentials::{service_account, user_account};
        install_crypto_provider();
        Ok(match self {
            GoogleCredentials::Anonymous => None,
            GoogleCredentials::Default => Some(Source::Adc(
                google_cloud_auth::credentials::Builder::default()
                    .with_scopes([CLOUD_PLATFORM_SCOPE]),
            )),
            GoogleCredentials::KeyFile(path) => {
                let (kind, json) = read_key(path)?;
                match kind.as_str() {
                    "service_account" => Some(Source::ServiceAccount(
                        service_account::Builder::new(json).with_access_specifier(
                            service_account::AccessSpecifier::from_scopes([CLOUD_PLATFORM_SCOPE]),
                        ),
                    )),
                    "authorized_user" => Some(Source::User(
                        user_account::Builder::new(json).with_scopes([CLOUD_PLATFORM_SCOPE]),
                    )),
                    other => {
                        return Err(CredentialsError::KeyFile {
                            path: path.clone(),
                            reason: format!(
                            "`type` is '{other}'; expected 'service_account' or 'authorized_user'"
                        ),
                        })
                    }
                }
            }
        })
    }

    /// Credentials for the Google clients (Storage, Pub/Sub). Call it inside a Tokio runtime:
    /// the credentials refresh their tokens on it.
    pub fn build(&self) -> Result<google_cloud_auth::credentials::Credentials, CredentialsError> {
        let failed = |e: &dyn std::fmt::Display| build_error(&self.source_name(), e);
        match self.source()? {
            None => Ok(google_cloud_auth::credentials::anonymous::Builder::new().build()),
            Some(Source::Adc(b)) => b.build().map_err(|e| failed(&e)),
            Some(Source::ServiceAccount(b)) => b.build().map_err(|e| failed(&e)),
            Some(Source::User(b)) => b.build().map_err(|e| failed(&e)),
        }
    }

    /// Credentials that hand out bearer tokens (for the BigQuery REST client), or `None` for
    /// anonymous access. Call it inside a Tokio runtime, as [`GoogleCredentials::build`].
    pub fn token_source(
        &self,
    ) -> Result<Option<google_cloud_auth::credentials::AccessTokenCredentials>, CredentialsError>
    {
        let failed = |e: &dyn std::fmt::Display| build_error(&self.source_name(), e);
        match self.source()? {
            None => Ok(None),
            Some(Source::Adc(b)) => b
                .build_access_token_credentials()
                .map(Some)
                .map_err(|e| failed(&e)),
            Some(Source::ServiceAccount(b)) => b
                .build_access_token_credentials()
                .map(Some)
                .map_err(|e| failed(&e)),
            Some(Source::User(b)) => b
                .build_access_token_credentials()
                .map(Some)
                .map_err(|e| failed(&e)),
        }
    }
}

fn build_error(source: &str, error: &dyn std::fmt::Display) -> CredentialsError {
    CredentialsError::Build {
        source_name: source.to_string(),
        reason: error.to_string(),
    }
}

/// Reads a JSON key file and its `type`. The file's contents never reach an error message.
fn read_key(path: &Path) -> Result<(String, serde_json::Value), CredentialsError> {
    let fail = |reason: String| CredentialsError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        fail(format!(
            "not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let kind = json
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| fail("no string `type` field; expected a Google JSON key".into()))?
        .to_string();
    Ok((kind, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_errors_name_the_file_but_never_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, r#"{"private_key": "SECRET-KEY-MATERIAL", "type": 7"#).unwrap();
        let e = GoogleCredentials::KeyFile(path.clone())
            .build()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("key.json"), "{e}");
        assert!(!e.contains("SECRET-KEY-MATERIAL"), "{e}");
        std::fs::write(
            &path,
            r#"{"private_key": "SECRET-KEY-MATERIAL", "type": "robot"}"#,
        )
        .unwrap();
        let e = GoogleCredentials::KeyFile(path)
            .build()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'robot'"), "{e}");
        assert!(!e.contains("SECRET-KEY-MATERIAL"), "{e}");
    }

    #[test]
    fn anonymous_credentials_need_no_setup() {
        assert!(GoogleCredentials::Anonymous.build().is_ok());
        assert!(GoogleCredentials::Anonymous
            .token_source()
            .unwrap()
            .is_none());
    }
}
