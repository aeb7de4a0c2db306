//! Test harness shared by the root integration tests.

pub mod mesh;
