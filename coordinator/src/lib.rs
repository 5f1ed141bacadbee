//! The control plane of a Jetstream fleet: resolves experiments and configs, decides what is
//! due, plans tasks, and aggregates results into tables and exports.

pub mod aggregator;
pub mod config;
pub mod experimenter;
pub mod export;
pub mod plan;
pub mod progress;
pub mod run;
pub mod service;
pub mod timelimits;
pub mod validate_config;
pub mod validation;

pub use aggregator::AggregatorService;
pub use run::{Coordinator, DateOutcome, RunError, RunOptions};
pub use service::CoordinatorService;
