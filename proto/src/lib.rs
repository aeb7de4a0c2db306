//! The sheetmesh contracts: every message and service of
//! `proto/sheetmesh/v1/*.proto`, compiled for prost and tonic.
//!
//! Layout:
//! - `sheetmesh/v1/*.proto` — the contracts (the only copy; never duplicate
//!   them in a service).
//! - `build.rs` — compiles them with protox (no system `protoc`), generating
//!   messages, clients, servers and proto3-JSON serde impls (pbjson).
//! - [`v1`] — the generated code; [`FILE_DESCRIPTOR_SET`] — the encoded
//!   descriptors, for gRPC reflection.
//!
//! Well-known types (`Timestamp`, `Value`) are [`pbjson_types`], re-exported
//! here so that users need no direct dependency.

pub use pbjson_types;

/// Generated code for package `sheetmesh.v1`.
#[allow(clippy::all, missing_docs, missing_debug_implementations)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/sheetmesh.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/sheetmesh.v1.serde.rs"));
}

/// Encoded `FileDescriptorSet` of every sheetmesh proto (and its imports), for
/// `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sheetmesh_descriptor.bin"));

/// Fully qualified gRPC service names, as used by health checks.
pub mod service_names {
    /// `sheetmesh.v1.CacheService`.
    pub const CACHE: &str = "sheetmesh.v1.CacheService";
    /// `sheetmesh.v1.SheetsService`.
    pub const SHEETS: &str = "sheetmesh.v1.SheetsService";
    /// `sheetmesh.v1.AgentService`.
    pub const AGENT: &str = "sheetmesh.v1.AgentService";
}
