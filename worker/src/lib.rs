//! The data plane of a Jetstream fleet: runs a task's warehouse queries and computes its
//! statistics. Workers are stateless: everything a task needs travels in the task.

pub mod client_file;
pub mod executor;
pub mod runner;
pub mod sql;
pub mod stats;
pub mod synthetic;
pub mod warehouse;

pub use executor::TaskExecutor;
pub use runner::run_worker;
pub use warehouse::DuckDbWarehouse;
