//! The contract between the roles of a Jetstream fleet.
//!
//! Everything that crosses a process boundary (the coordinator's tasks, the workers' results, the
//! statistics rows the aggregator writes) is defined here, serde-serialisable and versioned by
//! [`WIRE_VERSION`], so that a coordinator, its workers and its aggregator built from different
//! commits either agree on the shape of a message or refuse it loudly. The crate also holds the
//! seams shared by every role (the queue and warehouse traits) but no implementation that needs a
//! heavy dependency: DuckDB, RabbitMQ and BigQuery live behind these traits in other crates.

pub mod catalog;
pub mod fleet;
pub mod metrics;
pub mod naming;
pub mod period;
pub mod queue;
pub mod spec;
pub mod statistic;
pub mod task;
pub mod testing;
pub mod warehouse;

pub use period::{AnalysisBasis, AnalysisPeriod, AnalysisWindow};
pub use statistic::{Comparison, StatisticRow};
pub use task::{
    AnalysisError, Envelope, TaskId, TaskKey, TaskKind, TaskOutcome, TaskResult, WireTask,
};

/// Version of every message on the wire. Bumped whenever a field changes meaning or is removed;
/// a role refuses messages of another version instead of misreading them.
pub const WIRE_VERSION: u32 = 2;
