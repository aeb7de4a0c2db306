//! The `sheetmesh` binary as an operator uses it: configuration errors,
//! `health-probe` exit codes, SIGTERM.

use std::{
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use sheetmesh_common::{
    grpc::probe::{ProbeOutcome, probe},
    testing::{RedisServer, free_port},
};

const BIN: &str = env!("CARGO_BIN_EXE_sheetmesh");

fn sheetmesh(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).envs(env.iter().copied());
    command
}

/// A `sheetmesh` child process, killed on drop.
struct ChildProcess {
    child: Child,
    addr: String,
}

impl ChildProcess {
    /// Sends SIGTERM, as a container runtime does on stop.
    fn terminate(&self) {
        assert!(Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap().success());
    }

    /// The exit code, failing the test if the process outlives `limit`.
    async fn exit_code_within(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit.code();
            }
            assert!(started.elapsed() < limit, "still running {limit:?} after SIGTERM");
            // std offers no awaitable exit: poll it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_cache(redis_url: Option<&str>) -> ChildProcess {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut env = vec![("GRPC_ADDR", addr.as_str()), ("REDIS_TIMEOUT", "300ms"), ("LOG_LEVEL", "warn")];
    if let Some(url) = redis_url {
        env.push(("REDIS_URL", url));
    }
    let child = sheetmesh(&["cache"], &env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let process = ChildProcess { child, addr };
    // The process gives no readiness signal but its health endpoint: poll it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(probe(&process.addr, "", Duration::from_millis(500)).await, ProbeOutcome::Serving | ProbeOutcome::NotServing(_)) {
        assert!(Instant::now() < deadline, "sheetmesh cache did not start on {}", process.addr);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    process
}

fn probe_exit(addr: &str, extra: &[&str]) -> Output {
    let mut args = vec!["health-probe", "--addr", addr, "--timeout", "1s"];
    args.extend_from_slice(extra);
    sheetmesh(&args, &[]).output().unwrap()
}

#[test]
fn a_bad_variable_stops_start_up_with_exit_2_and_one_line_naming_it() {
    let output = sheetmesh(&["cache"], &[("MAX_CONCURRENT", "lots")]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("MAX_CONCURRENT") && stderr.contains("whole number"), "{stderr}");

    let output = sheetmesh(&["cache"], &[("REDIS_URL", "http://:hunter2@redis")]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("REDIS_URL") && !stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn help_lists_every_environment_variable() {
    let output = sheetmesh(&["--help"], &[]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for var in [
        "API_KEY",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "GOOGLE_SHEETS_CREDENTIALS_PATH",
        "GOOGLE_SHEETS_SPREADSHEET_ID",
        "GOOGLE_SHEETS_SHEET_NAMES",
        "SHEETS_WEBHOOK_SECRET",
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_PASSWORD",
        "REDIS_DB",
        "WORKERS",
        "MAX_CONCURRENT",
        "KEEP_ALIVE",
        "TIMEOUT",
        "BACKLOG",
        "LOG_LEVEL",
        "PORT",
        "HOST",
        "GRPC_ADDR",
        "AGENT_URL",
        "SHEETS_SYNC_URL",
        "CACHE_URL",
        "SHEETS_DIR",
        "DATA_DIR",
        "SYNC_INTERVAL",
        "ALLOWED_HOSTS",
        "CORS_ORIGINS",
        "LOG_FORMAT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "GOOGLE_SHEETS_API_URL",
        "GOOGLE_DRIVE_API_URL",
        "OPENAI_EMBEDDING_MODEL",
        "RATE_LIMIT",
        "MAX_BODY_BYTES",
        "HSTS_MAX_AGE",
        "GOOGLE_DRIVE_WEBHOOK_URL",
        "SYNC_DEBOUNCE",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    let output = sheetmesh(&["health-probe", "--help"], &[]).output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8(output.stdout).unwrap().contains("--service"));
}

#[tokio::test]
async fn health_probe_exit_codes_follow_grpc_health_probe() {
    let mut redis = RedisServer::start().await;
    let cache = start_cache(Some(&redis.url())).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe_exit(&cache.addr, &[]).status.code() != Some(0) {
        assert!(Instant::now() < deadline, "cache never became SERVING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(probe_exit(&cache.addr, &["--service", "sheetmesh.v1.CacheService"]).status.code(), Some(0));
    // Unknown service: the RPC fails (NOT_FOUND).
    assert_eq!(probe_exit(&cache.addr, &["--service", "no.Such"]).status.code(), Some(3));
    // Nobody listening: connection failure.
    assert_eq!(probe_exit(&format!("127.0.0.1:{}", free_port()), &[]).status.code(), Some(2));
    // Bad arguments.
    assert_eq!(sheetmesh(&["health-probe"], &[]).output().unwrap().status.code(), Some(1));

    // Redis gone: the server answers, NOT_SERVING.
    redis.stop().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = probe_exit(&cache.addr, &[]);
        if output.status.code() == Some(4) {
            assert!(String::from_utf8_lossy(&output.stderr).contains("NOT_SERVING"));
            break;
        }
        assert!(Instant::now() < deadline, "cache never reported NOT_SERVING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sigterm_exits_0_within_a_few_seconds() {
    let mut cache = start_cache(None).await;
    cache.terminate();
    assert_eq!(cache.exit_code_within(Duration::from_secs(5)).await, Some(0));
}

/// Answers every connection with `status_line` and closes it.
async fn http_server(status_line: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = sheetmesh_common::testing::loopback_listener().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(format!("{status_line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await;
        }
    });
    format!("http://{addr}/healthz")
}

#[tokio::test]
async fn the_http_probe_passes_on_2xx_and_fails_otherwise() {
    let healthy = http_server("HTTP/1.1 200 OK").await;
    let unhealthy = http_server("HTTP/1.1 503 Service Unavailable").await;
    let run =
        |url: String| async move { tokio::task::spawn_blocking(move || sheetmesh(&["health-probe", "--http", &url], &[]).output().unwrap()).await.unwrap() };
    assert_eq!(run(healthy).await.status.code(), Some(0));
    let output = run(unhealthy).await;
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("HTTP 503"));
    assert_eq!(run(format!("http://127.0.0.1:{}/healthz", free_port())).await.status.code(), Some(2));
    assert_eq!(sheetmesh(&["health-probe", "--addr", "x:1", "--http", "http://x/"], &[]).output().unwrap().status.code(), Some(1));
}

#[tokio::test]
async fn up_runs_every_service_and_sigterm_stops_them_all_with_exit_0() {
    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(sheets.path().join("items.csv"), "sku,price\nA-1,3\n").unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let urls: Vec<String> = ports.iter().map(|port| format!("http://127.0.0.1:{port}")).collect();
    let (sheets_dir, data_dir) = (sheets.path().to_string_lossy().into_owned(), data.path().to_string_lossy().into_owned());
    let env = [
        ("AGENT_URL", urls[0].as_str()),
        ("SHEETS_SYNC_URL", urls[1].as_str()),
        ("CACHE_URL", urls[2].as_str()),
        ("SHEETS_DIR", sheets_dir.as_str()),
        ("DATA_DIR", data_dir.as_str()),
        ("LOG_LEVEL", "warn"),
    ];
    let mut up = ChildProcess { child: sheetmesh(&["up"], &env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(), addr: String::new() };
    for port in ports {
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while probe(&addr, "", Duration::from_millis(500)).await != ProbeOutcome::Serving {
            assert!(Instant::now() < deadline, "{addr} never became SERVING under `sheetmesh up`");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    up.terminate();
    assert_eq!(up.exit_code_within(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_20_chats_in_flight_completes_them_all_then_exits_0() {
    use sheetmesh_agent::testing::{Behaviour, OpenAiStandIn};

    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut csv = String::from("sku,price\n");
    for i in 0..30 {
        csv.push_str(&format!("SKU-{i:04},{i}.5\n"));
    }
    std::fs::write(sheets.path().join("items.csv"), csv).unwrap();
    let llm = OpenAiStandIn::start().await;
    // Every answer takes a while, so all 20 are still in flight at SIGTERM.
    llm.script(std::iter::repeat_n(Behaviour::Delay(Duration::from_millis(1500)), 20));
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let urls: Vec<String> = ports[..3].iter().map(|port| format!("http://127.0.0.1:{port}")).collect();
    let (sheets_dir, data_dir, gateway_port, base_url) =
        (sheets.path().to_string_lossy().into_owned(), data.path().to_string_lossy().into_owned(), ports[3].to_string(), llm.base_url());
    let env = [
        ("AGENT_URL", urls[0].as_str()),
        ("SHEETS_SYNC_URL", urls[1].as_str()),
        ("CACHE_URL", urls[2].as_str()),
        ("PORT", gateway_port.as_str()),
        ("SHEETS_DIR", sheets_dir.as_str()),
        ("DATA_DIR", data_dir.as_str()),
        ("API_KEY", "test-key"),
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("RATE_LIMIT", "0"),
        ("LOG_LEVEL", "warn"),
    ];
    let mut up = ChildProcess { child: sheetmesh(&["up"], &env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(), addr: String::new() };
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    sheetmesh_common::install_crypto_provider();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The process has no readiness signal but its /readyz: poll it.
        let ready = http.get(format!("{gateway}/readyz")).send().await.is_ok_and(|response| response.status().is_success());
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the mesh never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let chats: Vec<_> = (0..20)
        .map(|i| {
            // Distinct questions: each one is its own LLM call, none coalesced.
            let request = http
                .post(format!("{gateway}/v1/chat"))
                .header("X-API-Key", "test-key")
                .json(&serde_json::json!({"message": format!("What does SKU-{i:04} cost?")}));
            tokio::spawn(async move { request.send().await })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(20), llm.wait_for_chat_calls(20)).await.expect("the 20 chats never reached the LLM");
    up.terminate();

    for chat in chats {
        let response = chat.await.unwrap().expect("an in-flight chat was dropped at shutdown");
        assert_eq!(response.status(), 200, "an in-flight chat failed at shutdown");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(!body["answer"].as_str().unwrap_or_default().is_empty());
    }
    assert_eq!(up.exit_code_within(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test]
async fn json_log_lines_carry_the_trace_id_and_the_request_id() {
    use std::io::{BufRead, BufReader};

    use sheetmesh_proto::v1::{GetRequest, cache_service_client::CacheServiceClient};

    let addr = format!("127.0.0.1:{}", free_port());
    let env = [("GRPC_ADDR", addr.as_str()), ("LOG_FORMAT", "json"), ("LOG_LEVEL", "debug")];
    let mut cache = ChildProcess { child: sheetmesh(&["cache"], &env).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap(), addr: addr.clone() };
    let stdout = cache.child.stdout.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe(&addr, "", Duration::from_millis(500)).await != ProbeOutcome::Serving {
        assert!(Instant::now() < deadline, "cache did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut client = CacheServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let mut request = tonic::Request::new(GetRequest { key: "k".to_owned() });
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01").parse().unwrap());
    request.metadata_mut().insert("x-request-id", "req-42".parse().unwrap());
    client.get(request).await.unwrap();

    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.recv().await {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if entry["fields"]["message"] == "grpc call handled" && entry["span"]["otel.name"] == "sheetmesh.v1.CacheService/Get" {
                return entry;
            }
        }
        panic!("the process's output ended");
    })
    .await
    .expect("no JSON log line for the call");
    assert_eq!(found["span"]["request_id"], "req-42", "{found}");
    assert_eq!(found["span"]["trace_id"], trace_id, "{found}");
}
