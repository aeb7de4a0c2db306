//! Test helpers (feature `test-util`), shared by the integration tests and
//! the benchmark.

pub mod google_standin;

pub use google_standin::GoogleStandIn;
