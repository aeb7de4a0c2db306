//! Third-party clients, unmodified, against the real system: the official
//! `openai` Python SDK, and schemathesis fuzzing every documented operation
//! of `/openapi.json`. Both come from PyPI into a virtualenv made by
//! `tests/tools/setup.sh` (once; reused afterwards).

mod support;

use std::{path::PathBuf, process::Stdio};

use serde_json::Value;
use support::{KEY, spawn_stack};
use tokio::process::Command;

/// The virtualenv with `openai` and `schemathesis`, made on first use.
async fn venv() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/setup.sh");
    let output = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().await.expect("run tests/tools/setup.sh");
    assert!(output.status.success(), "tests/tools/setup.sh failed");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[tokio::test]
async fn the_official_openai_python_sdk_works_unmodified() {
    let venv = venv().await;
    let stack = spawn_stack(|_| {}).await;
    let output = Command::new(venv.join("bin/python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/openai_sdk.py"))
        .env("SHEETMESH_BASE_URL", stack.gateway.url("/v1"))
        .env("SHEETMESH_API_KEY", KEY)
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "openai SDK script failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["models"], serde_json::json!(["sheetmesh"]));
    assert!(seen["plain"].as_str().unwrap().contains("Kettle"), "{seen}");
    assert!(seen["streamed"].as_str().unwrap().contains("Kettle"), "{seen}");
    assert!(seen["plain_citations"].as_u64().unwrap() >= 1, "{seen}");
    assert!(seen["streamed_citations"].as_u64().unwrap() >= 1, "{seen}");
    assert_eq!(seen["finish_reason"], "stop");
    assert_eq!(seen["bad_key"], "401");
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_response_breaking_the_document() {
    let venv = venv().await;
    let stack = spawn_stack(|config| config.rate_limit_per_minute = 0).await;
    let output = Command::new(venv.join("bin/schemathesis"))
        .args(["run", &stack.gateway.url("/openapi.json"), "--header", &format!("X-API-Key: {KEY}")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        // One worker: hypothesis parses lambdas with `ast`, which CPython 3.11
        // does not support from several threads at once.
        .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--seed", "1", "--workers", "1", "--no-color"])
        // The page and metrics are not JSON APIs; schemathesis cannot fuzz them meaningfully.
        .args(["--exclude-path", "/", "--exclude-path", "/metrics"])
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    let report = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found problems:\n{report}");
}
