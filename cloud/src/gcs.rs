//! Cloud Storage as the results sink: the JSON exports go to `gs://BUCKET[/PREFIX]/statistics/...`
//! where Experimenter reads them.
//!
//! A Cloud Storage object is replaced atomically by a single upload, so readers see the old
//! export or the new one, as the local-directory sink guarantees with a rename.

use crate::auth::{CredentialsError, GoogleCredentials};
use crate::bridge::Bridge;
use jetstream_coordinator::export::{ResultsSink, SinkError};
use std::sync::Arc;

/// Where exports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsLocation {
    pub bucket: String,
    /// Object-name prefix without a trailing `/` (empty for the bucket's root).
    pub prefix: String,
}

impl GcsLocation {
    /// Parses `gs://bucket` or `gs://bucket/some/prefix`.
    pub fn parse(url: &str) -> Result<GcsLocation, String> {
        let rest = url
            .strip_prefix("gs://")
            .ok_or_else(|| format!("'{url}' is not a gs:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_bucket_name(bucket) {
            return Err(format!(
                "'{bucket}' is not a bucket name (3-63 lowercase letters, digits, '-', '_' and '.')"
            ));
        }
        Ok(GcsLocation {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    fn object(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }
}

fn is_bucket_name(name: &str) -> bool {
    (3..=222).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Why the sink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GcsError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("cannot set up the Cloud Storage client: {0}")]
    Client(String),
}

/// Writes exports to a bucket.
pub struct GcsSink {
    bridge: Bridge,
    client: Arc<google_cloud_storage::client::Storage>,
    location: GcsLocation,
}

impl GcsSink {
    /// A sink writing under `location`; `endpoint` points at an emulator.
    pub fn open(
        location: GcsLocation,
        endpoint: Option<String>,
        credentials: &GoogleCredentials,
    ) -> Result<GcsSink, GcsError> {
        let bridge = Bridge::new("gcs", 1).map_err(|e| GcsError::Client(e.to_string()))?;
        // Google's credentials start their token refresh on the runtime they are built in.
        let credentials = credentials.clone();
        let credentials = bridge
            .run(async move { credentials.build() })
            .ok_or_else(|| GcsError::Client("runtime stopped".into()))??;
        let client = bridge
            .run(async move {
                let mut builder =
                    google_cloud_storage::client::Storage::builder().with_credentials(credentials);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
                }
                builder.build().await
            })
            .ok_or_else(|| GcsError::Client("runtime stopped".into()))?
            .map_err(|e| GcsError::Client(e.to_string()))?;
        Ok(GcsSink {
            bridge,
            client: Arc::new(client),
            location,
        })
    }

    /// `gs://bucket/object` for a path, for messages.
    pub fn url(&self, path: &str) -> String {
        format!(
            "gs://{}/{}",
            self.location.bucket,
            self.location.object(path)
        )
    }
}

impl ResultsSink for GcsSink {
    fn write(&self, path: &str, bytes: &[u8]) -> Result<(), SinkError> {
        let client = self.client.clone();
        let bucket = format!("projects/_/buckets/{}", self.location.bucket);
        let object = self.location.object(path);
        let payload = bytes::Bytes::copy_from_slice(bytes);
        let content_type = if path.ends_with(".json") {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let result = self
            .bridge
            .run(async move {
                // Buffered: the checksums go up front, which every server (and emulator) takes.
                client
                    .write_object(bucket, object, payload)
                    .set_content_type(content_type)
                    .send_buffered()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|| Err("Cloud Storage client stopped".into()));
        result.map_err(|reason| SinkError {
            path: self.url(path),
            source: std::io::Error::other(reason),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_urls_parse_with_and_without_a_prefix() {
        assert_eq!(
            GcsLocation::parse("gs://mozanalysis").unwrap(),
            GcsLocation {
                bucket: "mozanalysis".into(),
                prefix: String::new()
            }
        );
        let with_prefix = GcsLocation::parse("gs://my-bucket/runs/2024/").unwrap();
        assert_eq!(with_prefix.prefix, "runs/2024");
        assert_eq!(
            with_prefix.object("statistics/x.json"),
            "runs/2024/statistics/x.json"
        );
        assert!(GcsLocation::parse("s3://b").is_err());
        assert!(GcsLocation::parse("gs://Bad_Bucket").is_err());
        assert!(GcsLocation::parse("gs://").is_err());
    }
}
