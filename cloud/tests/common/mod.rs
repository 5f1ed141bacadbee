//! Shared test harness.

pub mod emulators;
