//! Compiles `sheetmesh/v1/*.proto` with protox (a pure-Rust protobuf
//! compiler) so that no system `protoc` is needed, then generates the prost
//! messages, the tonic clients and servers, and proto3-JSON serde impls.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &["sheetmesh/v1/common.proto", "sheetmesh/v1/cache.proto", "sheetmesh/v1/sheets.proto", "sheetmesh/v1/agent.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let descriptors = protox::compile(PROTOS, ["."])?;
    let descriptor_bytes = descriptors.encode_to_vec();
    fs::write(out_dir.join("sheetmesh_descriptor.bin"), &descriptor_bytes)?;

    tonic_prost_build::configure()
        // Well-known types come from pbjson-types so that they serialize to
        // proto3 JSON (RFC 3339 timestamps, plain JSON values).
        // (prost maps them to prost-types unless told it compiles them itself.)
        .compile_well_known_types(true)
        // Cache values stay `Bytes` end to end: no copy between the wire and Redis.
        .bytes(".sheetmesh.v1")
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(descriptors)?;

    pbjson_build::Builder::new().register_descriptors(&descriptor_bytes)?.build(&[".sheetmesh.v1"])?;
    Ok(())
}
