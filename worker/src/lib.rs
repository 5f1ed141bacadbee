//! The data plane of a Jetstream fleet: runs a task's warehouse queries and computes its
//! statistics. Workers are stateless: everything a task needs travels in the task.

pub mod client_file;
pub mod executor;
pub mod metrics_plan;
pub mod runner;
pub mod sql;
pub mod sql_check;
pub mod sql_output;
pub mod stats;
pub mod synthetic;
pub mod synthetic_mozilla;
pub mod warehouse;

pub use executor::TaskExecutor;
pub use runner::run_worker;
pub use warehouse::DuckDbWarehouse;
