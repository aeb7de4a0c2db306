//! Test harness shared by the root integration tests.

pub mod mesh;
// Only the tests that run `sheetmesh` processes use it.
#[allow(dead_code)]
pub mod process;
