//! Production backends behind the seams the embedded default fills locally:
//!
//! | seam | embedded default | here |
//! |---|---|---|
//! | warehouse | DuckDB file | [`BigQueryWarehouse`] |
//! | results sink | local directory | [`GcsSink`] |
//! | experiment source | JSON file | [`ExperimenterClient`] |
//!
//! Each takes an endpoint override, so the tests run against local emulators, and
//! credentials from the standard Google sources ([`GoogleCredentials`]).

pub mod auth;
pub mod bigquery;
mod bridge;
pub mod experimenter;
pub mod gcs;
pub mod pubsub;

pub use auth::GoogleCredentials;
pub use bigquery::{BigQueryConfig, BigQueryWarehouse};
pub use experimenter::{ExperimenterClient, ExperimenterConfig};
pub use gcs::{GcsLocation, GcsSink};
