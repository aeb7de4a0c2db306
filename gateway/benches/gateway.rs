//! `scripts/bench gateway`: `wrk` at 100 connections against a cached
//! `POST /v1/chat` through the release `sheetmesh up` binary (gateway →
//! agent → cache → a real Redis), then against two servers in this process
//! returning the very same body bytes:
//! - the **floor**: an axum handler that makes one plain tonic unary call
//!   (`grpc.health.v1.Health/Check` on an in-process tonic-health server,
//!   over loopback like the mesh's hops) before answering — what a single
//!   HTTP → gRPC hop costs here with no work, no tracing and no middleware;
//!   the mesh makes two such hops plus two Redis round trips per request;
//! - the **ceiling**: a bare axum handler, the most HTTP this machine serves.
//!
//! Prints req/s, p50 and p99 of each, the ratios to the ceiling, and the
//! peak RSS (`VmHWM`) of the whole `sheetmesh` process.
//!
//! The binary is built first (`cargo build --release --bin sheetmesh`, a
//! no-op when fresh); `SHEETMESH_BIN` points at another one instead. The
//! LLM is the OpenAI stand-in, called once to warm the answer cache; every
//! measured request is a cache hit.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, http::header, routing::post};
use sheetmesh_agent::testing::OpenAiStandIn;
use sheetmesh_common::testing::{RedisServer, free_port};
use sheetmesh_sheets_sync::config::{SAMPLE_WORKBOOK, SAMPLE_WORKBOOK_NAME};
use tokio::process::{Child, Command};

const API_KEY: &str = "bench-key";
const BODY: &str = r#"{"message":"What does SKU-0042 cost?"}"#;
const CONNECTIONS: u32 = 100;
const THREADS: u32 = 2;
const SECONDS: u32 = 10;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Variables of this process handed on to `sheetmesh up` (its environment
/// is otherwise cleared, so a stray `GOOGLE_*` or `OPENAI_*` cannot change
/// what is measured).
const PASS_THROUGH: &[&str] = &["LOG_LEVEL", "LOG_FORMAT", "WORKERS", "MAX_CONCURRENT", "KEEP_ALIVE", "BACKLOG"];
/// The aims of issue 5.
const AIM_RATIO: f64 = 0.25;
const AIM_P99: Duration = Duration::from_millis(5);
const AIM_RSS_MB: f64 = 128.0;

/// One wrk run, from the `done` hook of the generated Lua script.
struct Run {
    requests_per_sec: f64,
    p50: Duration,
    p99: Duration,
    requests: u64,
    /// Non-2xx/3xx responses plus socket errors: must be zero.
    errors: u64,
}

/// wrk's request (method, body, headers) and a `done` hook printing one
/// exact, parseable line instead of wrk's rounded human summary.
fn wrk_script() -> String {
    format!(
        r#"wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{API_KEY}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout))
end
"#
    )
}

async fn wrk(url: &str, script: &Path) -> Run {
    let output = Command::new("wrk")
        .args(["-t", &THREADS.to_string(), "-c", &CONNECTIONS.to_string(), "-d", &format!("{SECONDS}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .await
        .expect("run wrk (scripts/bench installs it: apt-get install wrk)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed against {url}:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().find_map(|line| line.strip_prefix("BENCH ")).unwrap_or_else(|| panic!("wrk printed no result line:\n{stdout}"));
    let n: Vec<u64> = line.split_whitespace().map(|field| field.parse().expect("a number from wrk")).collect();
    let [requests, duration_us, p50_us, p99_us, errors] = n[..] else { panic!("unexpected wrk result line: {line}") };
    Run {
        requests_per_sec: requests as f64 / (duration_us as f64 / 1e6),
        p50: Duration::from_micros(p50_us),
        p99: Duration::from_micros(p99_us),
        requests,
        errors,
    }
}

/// The release `sheetmesh` binary, built now unless `SHEETMESH_BIN` names one.
fn sheetmesh_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SHEETMESH_BIN") {
        return PathBuf::from(path);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--release", "--locked", "--bin", "sheetmesh"]).current_dir(workspace);
    // What `cargo bench` sets for this package: build scripts that declare
    // `rerun-if-env-changed` on these (ring, for one) would otherwise see new
    // values and rebuild, and the next plain `cargo build` rebuild back.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || ["CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&name.as_ref())
        {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build --release --bin sheetmesh failed");
    // This bench runs from <target>/release/deps/; the binary is one level up.
    let exe = std::env::current_exe().expect("the bench's own path");
    exe.parent().and_then(Path::parent).expect("<target>/release").join("sheetmesh")
}

/// `VmHWM` (peak resident set) of `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kib / 1024.0
}

/// Polls `/readyz` (the readiness signal: every service SERVING, the sample
/// indexed) until 200, failing if the child exits or time runs out.
async fn wait_ready(http: &reqwest::Client, base: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        if let Some(status) = child.try_wait().expect("poll sheetmesh") {
            panic!("sheetmesh up exited ({status}) before it was ready:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "sheetmesh up was not ready within {READY_TIMEOUT:?}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One chat request; returns the body and whether it was a cache hit.
async fn chat(http: &reqwest::Client, url: &str) -> (Bytes, bool) {
    let response = http.post(url).header("x-api-key", API_KEY).header(header::CONTENT_TYPE, "application/json").body(BODY).send().await.expect("POST /v1/chat");
    assert_eq!(response.status(), 200, "POST /v1/chat answered {}", response.status());
    let body = response.bytes().await.expect("read the chat response");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON chat response");
    (body, json["cached"] == true)
}

/// The floor: an axum server answering `POST /v1/chat` with `body` after one
/// tonic unary call to a tonic-health server in this process, over loopback.
async fn one_hop_server(body: Bytes) -> SocketAddr {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let (_reporter, health) = tonic_health::server::health_reporter();
    let grpc_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    tokio::spawn(async move { tonic::transport::Server::builder().add_service(health).serve(grpc_addr).await.expect("the health server") });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}")).expect("a URL").tcp_nodelay(true).connect_lazy();
    let client = HealthClient::new(channel);
    let handler = move || {
        let (mut client, body) = (client.clone(), body.clone());
        async move {
            client.check(HealthCheckRequest { service: String::new() }).await.expect("Health/Check on the floor's gRPC server");
            ([(header::CONTENT_TYPE, "application/json")], body)
        }
    };
    serve_on_loopback(Router::new().route("/v1/chat", post(handler))).await
}

/// A bare axum server answering `POST /v1/chat` with `body` and nothing else.
async fn bare_server(body: Bytes) -> SocketAddr {
    serve_on_loopback(Router::new().route("/v1/chat", post(move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], body.clone()))))).await
}

/// Serves `app` in this process on a free loopback port.
async fn serve_on_loopback(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("an in-process bench server") });
    addr
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets the aim" } else { "MISSES the aim" }
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (one TLS stack in the build).
    sheetmesh_common::install_crypto_provider();
    let binary = sheetmesh_binary();
    let redis = RedisServer::start().await;
    let openai = OpenAiStandIn::start().await;
    let work = tempfile::tempdir().expect("a temp dir");
    let sheets_dir = work.path().join("sheets");
    std::fs::create_dir_all(&sheets_dir).unwrap();
    std::fs::write(sheets_dir.join(SAMPLE_WORKBOOK_NAME), SAMPLE_WORKBOOK).unwrap();
    let log_path = work.path().join("sheetmesh.log");
    let log = std::fs::File::create(&log_path).unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let grpc_url = || format!("http://127.0.0.1:{}", free_port());
    let mut child = Command::new(&binary)
        .arg("up")
        .current_dir(work.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Tunables to experiment with pass through; nothing else does.
        .envs(PASS_THROUGH.iter().filter_map(|name| Some((*name, std::env::var_os(name)?))))
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("API_KEY", API_KEY)
        .env("RATE_LIMIT", "0")
        .env("REDIS_URL", redis.url())
        .env("SHEETS_DIR", &sheets_dir)
        .env("DATA_DIR", work.path().join("data"))
        .env("AGENT_URL", grpc_url())
        .env("SHEETS_SYNC_URL", grpc_url())
        .env("CACHE_URL", grpc_url())
        .env("OPENAI_BASE_URL", openai.base_url())
        .env("OPENAI_API_KEY", "sk-bench")
        .env("OPENAI_MODEL", "gpt-bench")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
    let pid = child.id().expect("sheetmesh's pid");

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    wait_ready(&http, &base, &mut child, &log_path).await;
    let chat_url = format!("{base}/v1/chat");
    let (_, first_cached) = chat(&http, &chat_url).await;
    let (body, cached) = chat(&http, &chat_url).await;
    assert!(!first_cached && cached, "the second identical question was not answered from the cache (first cached: {first_cached}, second: {cached})");

    let script = work.path().join("post.lua");
    std::fs::write(&script, wrk_script()).unwrap();
    println!("wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s, POST /v1/chat {BODY}, a {}-byte cached answer", body.len());
    let mesh = wrk(&chat_url, &script).await;
    let rss = peak_rss_mib(pid);
    // Graceful stop: SIGTERM, as a supervisor would; kill_on_drop covers a hang.
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let exited = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;

    let floor_addr = one_hop_server(body.clone()).await;
    let floor = wrk(&format!("http://{floor_addr}/v1/chat"), &script).await;
    let bare_addr = bare_server(body).await;
    let bare = wrk(&format!("http://{bare_addr}/v1/chat"), &script).await;

    let ratio = mesh.requests_per_sec / bare.requests_per_sec;
    println!();
    println!("{:<44} {:>11} {:>10} {:>10} {:>10} {:>7} {:>9}", "", "req/s", "p50", "p99", "requests", "errors", "/ceiling");
    for (name, run) in
        [("sheetmesh up (gateway→agent→cache→Redis)", &mesh), ("floor: axum + one bare tonic hop", &floor), ("bare axum, same body (ceiling)", &bare)]
    {
        println!(
            "{name:<44} {:>11.0} {:>10} {:>10} {:>10} {:>7} {:>8.1}%",
            run.requests_per_sec,
            ms(run.p50),
            ms(run.p99),
            run.requests,
            run.errors,
            run.requests_per_sec / bare.requests_per_sec * 100.0
        );
    }
    println!();
    println!("throughput ratio      {:>6.1} %   (aim ≥ {:.0} %: {})", ratio * 100.0, AIM_RATIO * 100.0, verdict(ratio >= AIM_RATIO));
    println!(
        "mesh / one-hop floor  {:>6.1} %   (the mesh makes two gRPC hops and two Redis round trips)",
        mesh.requests_per_sec / floor.requests_per_sec * 100.0
    );
    println!("p99 through the mesh  {:>8}   (aim ≤ {}: {})", ms(mesh.p99), ms(AIM_P99), verdict(mesh.p99 <= AIM_P99));
    println!("peak RSS of sheetmesh {rss:>6.1} MiB (aim ≤ {AIM_RSS_MB:.0} MB: {})", verdict(rss <= AIM_RSS_MB));
    match exited {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => println!("note: sheetmesh exited with {status} after SIGTERM"),
        Ok(Err(error)) => println!("note: could not wait for sheetmesh: {error}"),
        Err(_) => println!("note: sheetmesh did not exit within 20 s of SIGTERM"),
    }
    assert_eq!(mesh.errors, 0, "{} requests through sheetmesh failed (non-2xx or socket errors)", mesh.errors);
    assert_eq!(floor.errors, 0, "{} requests to the floor server failed", floor.errors);
    assert_eq!(bare.errors, 0, "{} requests to the bare server failed", bare.errors);
}
