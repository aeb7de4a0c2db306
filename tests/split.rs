//! The split deployment, proven without containers: Redis and every
//! component as its own `sheetmesh <component>` process on its own port,
//! wired exactly as compose/docker-compose.yml wires the containers
//! (`GRPC_ADDR` per service, `CACHE_URL`/`SHEETS_SYNC_URL`/`AGENT_URL`,
//! `REDIS_URL`, `DATA_DIR` per process), with the OpenAI stand-in as the LLM.
//!
//! - every route answers through the gateway;
//! - `sheetmesh health-probe` gives the exit codes an orchestrator expects;
//! - the agent killed → chat is a quick `503` with `Retry-After` and
//!   `/health` says the agent is down; restarted → chat recovers, the gateway
//!   untouched;
//! - two agents behind one comma-separated `AGENT_URL` share the requests,
//!   and one killed is survived without a failed request once the gateway
//!   has noticed;
//! - every process stops with exit 0 on SIGTERM.
//!
//! Readiness: the gRPC services through Health/Watch; the gateway, which
//! gives no signal, by polling `/healthz` under a deadline. Run alone with
//! `scripts/split-e2e`.

#[allow(dead_code)] // Each test binary uses part of the shared harness.
mod support;

use std::{
    net::SocketAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sheetmesh_agent::testing::OpenAiStandIn;
use sheetmesh_common::testing::{RedisServer, free_port};
use support::{
    mesh::wait_serving,
    process::{Process, health_probe},
};
use tempfile::TempDir;
use tokio::time::Instant;

const API_KEY: &str = "split-e2e-key";
const WEBHOOK_SECRET: &str = "split-e2e-webhook-secret";
const PRODUCTS: &str = "products.csv";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

fn products_csv(price_of_sku_3: &str) -> String {
    let mut csv = String::from("sku,name,category,price,stock\n");
    for i in 1..=20 {
        let price = if i == 3 { price_of_sku_3.to_owned() } else { format!("{}.5", 10 + i) };
        csv.push_str(&format!("SKU-{i:04},Desk lamp {i},Office,{price},{}\n", i * 2));
    }
    csv
}

/// One agent process of the deployment: its address, its model name (the
/// observable that tells which agent answered) and its own `DATA_DIR`.
struct Agent {
    addr: SocketAddr,
    model: String,
    process: Option<Process>,
}

/// Redis, the LLM stand-in, cache, sheets-sync, one or more agents and the
/// gateway, each a separate process.
struct Deployment {
    redis: RedisServer,
    _llm: OpenAiStandIn,
    llm_url: String,
    sheets: TempDir,
    data: TempDir,
    logs: TempDir,
    cache_addr: SocketAddr,
    sheets_addr: SocketAddr,
    gateway_addr: SocketAddr,
    cache: Option<Process>,
    sheets_sync: Option<Process>,
    agents: Vec<Agent>,
    gateway: Option<Process>,
    http: reqwest::Client,
}

impl Deployment {
    /// Starts everything, `agents` agent processes behind one `AGENT_URL`,
    /// in compose's `depends_on` order, each waited for.
    async fn start(agents: usize) -> Self {
        // reqwest is built without a default TLS provider here (plain HTTP anyway).
        sheetmesh_common::install_crypto_provider();
        let redis = RedisServer::start().await;
        let llm = OpenAiStandIn::start().await;
        let (sheets, data, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(sheets.path().join(PRODUCTS), products_csv("12.5")).unwrap();
        let mut deployment = Self {
            redis,
            llm_url: llm.base_url(),
            _llm: llm,
            sheets,
            data,
            logs,
            cache_addr: loopback(),
            sheets_addr: loopback(),
            gateway_addr: loopback(),
            cache: None,
            sheets_sync: None,
            agents: (0..agents).map(|i| Agent { addr: loopback(), model: format!("gpt-split-{}", char::from(b'a' + i as u8)), process: None }).collect(),
            gateway: None,
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
        };

        let env = deployment.env("cache", Some(deployment.cache_addr));
        deployment.cache = Some(Process::start("cache", &env, deployment.logs.path()));
        deployment.wait_serving(deployment.cache_addr, "cache").await;

        let mut env = deployment.env("sheets-sync", Some(deployment.sheets_addr));
        env.extend([("SHEETS_DIR", deployment.sheets.path().display().to_string()), ("SYNC_INTERVAL", "3600s".to_owned())]);
        deployment.sheets_sync = Some(Process::start("sheets-sync", &env, deployment.logs.path()));
        deployment.wait_serving(deployment.sheets_addr, "sheets-sync").await;

        for i in 0..agents {
            deployment.start_agent(i).await;
        }

        let mut env = deployment.env("gateway", None);
        env.extend([
            ("HOST", deployment.gateway_addr.ip().to_string()),
            ("PORT", deployment.gateway_addr.port().to_string()),
            ("API_KEY", API_KEY.to_owned()),
            ("SHEETS_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ]);
        deployment.gateway = Some(Process::start("gateway", &env, deployment.logs.path()));
        // The gateway has no readiness signal but /healthz: poll it.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = deployment.http.get(deployment.url("/healthz")).send().await
                && response.status() == StatusCode::OK
            {
                break;
            }
            assert!(Instant::now() < deadline, "the gateway did not answer /healthz within 20 s\n{}", deployment.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        deployment
    }

    /// compose's `x-env` block plus the service's `GRPC_ADDR` and its own
    /// `DATA_DIR` volume.
    fn env(&self, name: &str, grpc_addr: Option<SocketAddr>) -> Vec<(&'static str, String)> {
        let data_dir = self.data.path().join(name);
        std::fs::create_dir_all(&data_dir).unwrap();
        let agent_urls: Vec<String> = self.agents.iter().map(|agent| format!("http://{}", agent.addr)).collect();
        let mut env = vec![
            ("LOG_LEVEL", "info".to_owned()),
            ("TIMEOUT", "10s".to_owned()),
            ("REDIS_URL", self.redis.url()),
            ("CACHE_URL", format!("http://{}", self.cache_addr)),
            ("SHEETS_SYNC_URL", format!("http://{}", self.sheets_addr)),
            ("AGENT_URL", agent_urls.join(",")),
            ("DATA_DIR", data_dir.display().to_string()),
        ];
        if let Some(addr) = grpc_addr {
            env.push(("GRPC_ADDR", addr.to_string()));
        }
        env
    }

    /// Starts agent `i` (again, after a kill: same port, same `DATA_DIR`)
    /// and waits until it is SERVING, which it is once it has indexed.
    async fn start_agent(&mut self, i: usize) {
        let name = format!("agent-{}", char::from(b'a' + i as u8));
        let mut env = self.env(&name, Some(self.agents[i].addr));
        env.extend([("OPENAI_API_KEY", "sk-split-e2e".to_owned()), ("OPENAI_BASE_URL", self.llm_url.clone()), ("OPENAI_MODEL", self.agents[i].model.clone())]);
        assert!(self.agents[i].process.is_none(), "{name} is already running");
        self.agents[i].process = Some(Process::start_named(&name, "agent", &env, self.logs.path()));
        self.wait_serving(self.agents[i].addr, &name).await;
    }

    /// SIGKILL to agent `i`, waited for.
    async fn kill_agent(&mut self, i: usize) {
        self.agents[i].process.take().expect("agent running").kill().await;
    }

    async fn wait_serving(&self, addr: SocketAddr, name: &str) {
        let within = Duration::from_secs(30);
        if tokio::time::timeout(within + Duration::from_secs(1), wait_serving(addr, within)).await.is_err() {
            panic!("{name} on {addr} did not become SERVING\n{}", self.logs());
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway_addr)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path)).header("x-api-key", API_KEY)
    }

    fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.http.post(self.url(path)).header("x-api-key", API_KEY).json(body)
    }

    /// Status and JSON body of a request that must get an answer.
    async fn json(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap_or_else(|error| panic!("no HTTP answer: {error}\n{}", self.logs()));
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A fresh (not cached) chat answer: its status and body.
    async fn chat(&self, question: &str) -> (StatusCode, Value) {
        self.json(self.post("/v1/chat", &json!({ "message": question, "bypassCache": true }))).await
    }

    /// `n` fresh chats at once; their statuses and bodies (`Null` when the
    /// request got no HTTP answer at all).
    async fn burst(&self, n: usize, round: &str) -> Vec<(Option<StatusCode>, Value)> {
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..n {
            let request = self.post("/v1/chat", &json!({ "message": format!("{round}: what does SKU-{:04} cost?", 1 + i % 20), "bypassCache": true }));
            requests.spawn(async move {
                match request.send().await {
                    Ok(response) => (Some(response.status()), response.json().await.unwrap_or(Value::Null)),
                    Err(error) => (None, Value::String(error.to_string())),
                }
            });
        }
        requests.join_all().await
    }

    /// The last lines of every process's log.
    fn logs(&self) -> String {
        let processes = [&self.cache, &self.sheets_sync, &self.gateway].into_iter().chain(self.agents.iter().map(|agent| &agent.process));
        processes.flatten().map(Process::log_tail).collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM to every process still running, the gateway first (as
    /// `docker compose down` stops dependents first): each must exit 0.
    async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.terminate().await;
        }
        for agent in &mut self.agents {
            if let Some(process) = agent.process.take() {
                process.terminate().await;
            }
        }
        for process in [self.sheets_sync.take(), self.cache.take()].into_iter().flatten() {
            process.terminate().await;
        }
    }
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_through_the_gateway_and_health_probe_speaks_orchestrator() {
    let mut deployment = Deployment::start(1).await;
    let d = &deployment;
    let model = d.agents[0].model.clone();

    // Open routes.
    let (status, live) = d.json(d.http.get(d.url("/healthz"))).await;
    assert_eq!((status, live["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, ready) = d.json(d.http.get(d.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["services"], json!({ "agent": "SERVING", "sheets-sync": "SERVING", "cache": "SERVING" }));
    let (status, health) = d.json(d.http.get(d.url("/health"))).await;
    assert_eq!((status, health["status"].as_str()), (StatusCode::OK, Some("ok")), "{health:#}");
    assert_eq!(health["redis"]["status"], "up", "{health:#}");
    assert_eq!(health["llm"]["mode"], format!("openai:{model}"), "{health:#}");
    assert_eq!(health["index"]["rows"], 20, "{health:#}");
    let (status, spec) = d.json(d.http.get(d.url("/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().is_some_and(|version| version.starts_with('3')), "{spec}");
    assert!(spec["paths"]["/v1/chat"].is_object());
    let page = d.http.get(d.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("<html"));

    // The API key is required on /v1.
    let (status, _) = d.json(d.http.post(d.url("/v1/chat")).json(&json!({ "message": "hi" }))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Chat, through gateway → agent → cache and sheets-sync and the LLM.
    let (status, answer) = d.json(d.post("/v1/chat", &json!({ "message": "What does SKU-0003 cost?" }))).await;
    assert_eq!(status, StatusCode::OK, "{answer}\n{}", d.logs());
    assert_eq!((answer["model"].as_str(), answer["degraded"].as_bool(), answer["cached"].as_bool()), (Some(model.as_str()), Some(false), Some(false)));
    let top = &answer["citations"][0];
    assert_eq!((top["spreadsheet"].as_str(), top["sheet"].as_str(), top["row"].as_i64()), (Some(PRODUCTS), Some("products"), Some(4)), "{answer:#}");
    assert!(answer["answer"].as_str().unwrap().contains("SKU-0003"), "{answer:#}");
    // Asked again: the answer cache (the cache service on Redis) answers.
    let (status, again) = d.json(d.post("/v1/chat", &json!({ "message": "What does SKU-0003 cost?" }))).await;
    assert_eq!((status, again["cached"].as_bool()), (StatusCode::OK, Some(true)), "{again}");

    // Conversations: kept by the agent on Redis.
    let id = answer["conversationId"].as_str().unwrap().to_owned();
    let (status, conversation) = d.json(d.get(&format!("/v1/conversations/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "{conversation}");
    assert_eq!(conversation["turns"].as_array().map(Vec::len), Some(2), "{conversation:#}");
    let (status, _) = d.json(d.http.delete(d.url(&format!("/v1/conversations/{id}"))).header("x-api-key", API_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, missing) = d.json(d.get(&format!("/v1/conversations/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");

    // OpenAI-compatible.
    let (status, models) = d.json(d.get("/v1/models")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(models["data"][0]["id"], "sheetmesh");
    let completion = json!({ "model": "sheetmesh", "messages": [{ "role": "user", "content": "What does SKU-0007 cost?" }] });
    let (status, completion) = d.json(d.http.post(d.url("/v1/chat/completions")).bearer_auth(API_KEY).json(&completion)).await;
    assert_eq!(status, StatusCode::OK, "{completion}");
    assert!(completion["choices"][0]["message"]["content"].as_str().is_some_and(|text| text.contains("SKU-0007")), "{completion:#}");

    // Search, sheets and rows, sync.
    let (status, hits) = d.json(d.post("/v1/search", &json!({ "query": "SKU-0005", "limit": 3 }))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hits["hits"][0]["values"].to_string().contains("SKU-0005"), "{hits:#}");
    let (status, sheets) = d.json(d.get("/v1/sheets")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((sheets["sheets"][0]["name"].as_str(), sheets["sheets"][0]["rowCount"].as_str()), (Some("products"), Some("20")), "{sheets:#}");
    let (status, rows) = d.json(d.get("/v1/sheets/products/rows?pageSize=5")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows["rows"].as_array().map(Vec::len), Some(5), "{rows:#}");
    assert_eq!(rows["rows"][2]["cells"][0], "SKU-0003");
    let (status, synced) = d.json(d.post("/v1/sync", &json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{synced}");

    // The signed webhook: 202 at once, and the sync it asks for happens.
    std::fs::write(d.sheets.path().join(PRODUCTS), products_csv("99.5")).unwrap();
    let body = json!({ "spreadsheetId": PRODUCTS, "sheet": "products", "changeType": "EDIT", "ts": now_ms() }).to_string();
    let signature = sheetmesh_gateway::routes::webhook::signature(WEBHOOK_SECRET, body.as_bytes());
    let forged = d.http.post(d.url("/v1/webhooks/sheets")).header("x-signature-256", "sha256=00").body(body.clone()).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let signed = d.http.post(d.url("/v1/webhooks/sheets")).header("x-signature-256", signature).body(body).send().await.unwrap();
    assert_eq!(signed.status(), StatusCode::ACCEPTED);
    // The sync runs behind the 202 and has no signal the caller can see: poll the rows.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, rows) = d.json(d.get("/v1/sheets/products/rows?pageSize=3")).await;
        if rows["rows"][2]["cells"][3] == json!(99.5) {
            break;
        }
        assert!(Instant::now() < deadline, "the webhook's sync never happened: {rows:#}\n{}", d.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Metrics saw all of it.
    let metrics = d.http.get(d.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("sheetmesh_gateway_http_requests_total{"), "{metrics}");
    assert!(metrics.contains("sheetmesh_gateway_chat_answers_total{"), "{metrics}");

    // health-probe, as the compose health checks run it.
    for (name, addr) in [("cache", d.cache_addr), ("sheets-sync", d.sheets_addr), ("agent", d.agents[0].addr)] {
        let (code, stderr) = health_probe(&["--addr", &addr.to_string()]).await;
        assert_eq!(code, Some(0), "health-probe of {name}: {stderr}");
    }
    let (code, stderr) = health_probe(&["--http", &d.url("/healthz")]).await;
    assert_eq!(code, Some(0), "health-probe of the gateway: {stderr}");
    let (code, _) = health_probe(&["--addr", &loopback().to_string(), "--timeout", "1s"]).await;
    assert_eq!(code, Some(2), "nobody listening: connection failure");
    let (code, _) = health_probe(&["--http", &format!("http://{}/healthz", loopback())]).await;
    assert_eq!(code, Some(2), "no gateway listening: connection failure");

    // Redis gone: the cache still answers, NOT_SERVING (exit 4). Its health
    // follows its own Redis checks, which signal nothing outside: poll.
    deployment.redis.stop().await;
    let d = &deployment;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, stderr) = health_probe(&["--addr", &d.cache_addr.to_string()]).await;
        if code == Some(4) {
            assert!(stderr.contains("NOT_SERVING"), "{stderr}");
            break;
        }
        assert!(Instant::now() < deadline, "the cache never reported NOT_SERVING without Redis (last exit {code:?}: {stderr})\n{}", d.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    deployment.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_is_a_quick_503_and_a_restarted_one_serves_again_through_the_same_gateway() {
    let mut deployment = Deployment::start(1).await;
    let (status, answer) = deployment.chat("What does SKU-0003 cost?").await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    deployment.kill_agent(0).await;
    let d = &deployment;
    let started = Instant::now();
    let response = d.post("/v1/chat", &json!({ "message": "What does SKU-0004 cost?" })).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", response.text().await.unwrap());
    assert!(elapsed < Duration::from_secs(3), "503 after {elapsed:?}: the gateway should fail fast, not wait for TIMEOUT");
    assert_eq!(response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned()), Some("1".to_owned()));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], 14, "UNAVAILABLE: {error}");
    assert!(error["message"].as_str().unwrap().contains("agent"), "{error}");

    // /health is reused for a second; poll until the report post-dates the kill.
    let deadline = Instant::now() + Duration::from_secs(5);
    let health = loop {
        let (status, health) = d.json(d.http.get(d.url("/health"))).await;
        if health["services"]["agent"]["status"] == "UNREACHABLE" {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health:#}");
            break health;
        }
        assert!(Instant::now() < deadline, "/health never showed the agent down: {health:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["status"], "down", "{health:#}");
    assert_eq!(health["services"]["cache"]["status"], "SERVING", "{health:#}");
    assert_eq!(health["services"]["sheets-sync"]["status"], "SERVING", "{health:#}");
    let (status, ready) = d.json(d.http.get(d.url("/readyz"))).await;
    assert_eq!((status, ready["services"]["agent"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("UNREACHABLE")), "{ready}");
    // Routes that do not need the agent still work.
    let (status, _) = d.json(d.get("/v1/sheets")).await;
    assert_eq!(status, StatusCode::OK);

    // Restarted on the same port: the gateway reconnects by itself.
    deployment.start_agent(0).await;
    let d = &deployment;
    let (status, answer) = d.chat("What does SKU-0004 cost?").await;
    assert_eq!(status, StatusCode::OK, "chat did not recover after the agent restarted: {answer}\n{}", d.logs());
    assert_eq!(answer["degraded"], false, "{answer}");
    let (status, ready) = d.json(d.http.get(d.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK, "{ready}");

    deployment.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_behind_one_agent_url_share_the_load_and_losing_one_fails_no_request() {
    let mut deployment = Deployment::start(2).await;
    let (model_a, model_b) = (deployment.agents[0].model.clone(), deployment.agents[1].model.clone());

    // Which agent answered shows in `model` (each runs with its own
    // OPENAI_MODEL); bypassCache keeps the shared answer cache out of it.
    let answers = deployment.burst(24, "round 1").await;
    let mut answered_by = (0, 0);
    for (status, answer) in &answers {
        assert_eq!(*status, Some(StatusCode::OK), "{answer}");
        assert_eq!(answer["degraded"], false, "{answer}");
        match answer["model"].as_str() {
            Some(model) if model == model_a => answered_by.0 += 1,
            Some(model) if model == model_b => answered_by.1 += 1,
            _ => panic!("answered by neither agent: {answer}"),
        }
    }
    assert!(answered_by.0 > 0 && answered_by.1 > 0, "one agent took every request: {answered_by:?} ({model_a}, {model_b})");

    deployment.kill_agent(1).await;
    let d = &deployment;
    // Until the gateway notices, a request may still be sent to the dead
    // agent. Noticing means: 10 requests in a row answered, within 10 s and
    // 200 requests.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut in_a_row, mut failed, mut sent) = (0, 0, 0);
    while in_a_row < 10 {
        let (status, answer) = d.chat("Which lamp is SKU-0009?").await;
        sent += 1;
        if status == StatusCode::OK {
            in_a_row += 1;
        } else {
            (in_a_row, failed) = (0, failed + 1);
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "after {failed} failed: {answer}");
        }
        assert!(sent < 200 && Instant::now() < deadline, "the gateway keeps sending requests to the killed agent: {failed} of {sent} failed\n{}", d.logs());
    }
    eprintln!("the gateway noticed the killed agent after {failed} failed request(s)");
    let answers = d.burst(40, "round 2").await;
    let failures: Vec<_> = answers.iter().filter(|(status, _)| *status != Some(StatusCode::OK)).collect();
    assert!(failures.is_empty(), "{} of 40 requests failed after the gateway noticed: {failures:?}", failures.len());
    assert!(answers.iter().all(|(_, answer)| answer["model"] == model_a.as_str()), "only the live agent can answer");

    deployment.stop().await;
}
