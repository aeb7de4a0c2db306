//! Every route through the real system: Redis, cache, sheets-sync on local
//! files, the agent with the OpenAI stand-in, and the gateway — and every
//! real response checked against `/openapi.json`.

mod support;

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};
use sheetmesh_agent::testing::Behaviour;
use support::{KEY, WEBHOOK_SECRET, schema, spawn_stack};

/// Checks `body` against the documented response of `method path status`.
fn conforms(spec: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let schema = schema::response_schema(spec, path, method, &status.to_string());
    let violations = schema::violations(spec, schema, body);
    assert!(violations.is_empty(), "{method} {path} {status} breaks the document: {violations:#?}\n{body:#}");
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// SSE frames of a whole response body: (event name, data).
async fn sse_frames(response: reqwest::Response) -> Vec<(String, String)> {
    let text = response.text().await.unwrap();
    text.split("\n\n")
        .filter(|frame| frame.lines().any(|line| line.starts_with("data:")))
        .map(|frame| {
            let event = frame.lines().find_map(|line| line.strip_prefix("event: ")).unwrap_or("message").to_owned();
            let data = frame.lines().filter_map(|line| line.strip_prefix("data: ")).collect::<Vec<_>>().join("\n");
            (event, data)
        })
        .collect()
}

#[tokio::test]
async fn chat_search_sheets_conversations_and_sync_answer_as_documented() {
    let stack = spawn_stack(|_| {}).await;
    let gateway = &stack.gateway;
    let spec: Value = gateway.http.get(gateway.url("/openapi.json")).send().await.unwrap().json().await.unwrap();

    let (status, answer) = json_of(gateway.post("/v1/chat", &json!({ "message": "What does the Kettle cost?" })).send().await.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    conforms(&spec, "/v1/chat", "post", status, &answer);
    assert_eq!(answer["model"], "gpt-test");
    assert_eq!(answer["cached"], false);
    assert!(!answer["citations"].as_array().unwrap().is_empty(), "{answer}");
    let conversation_id = answer["conversationId"].as_str().unwrap().to_owned();

    let (status, conversation) = json_of(gateway.get(&format!("/v1/conversations/{conversation_id}")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    conforms(&spec, "/v1/conversations/{id}", "get", status, &conversation);
    assert_eq!(conversation["turns"].as_array().unwrap().len(), 2);
    let (status, deleted) =
        json_of(gateway.http.delete(gateway.url(&format!("/v1/conversations/{conversation_id}"))).header("x-api-key", KEY).send().await.unwrap()).await;
    assert_eq!(status, 200);
    conforms(&spec, "/v1/conversations/{id}", "delete", status, &deleted);
    let (status, missing) = json_of(gateway.get(&format!("/v1/conversations/{conversation_id}")).send().await.unwrap()).await;
    assert_eq!((status, missing["code"].as_i64()), (404, Some(5)));
    conforms(&spec, "/v1/conversations/{id}", "get", status, &missing);

    let (status, hits) = json_of(gateway.post("/v1/search", &json!({ "query": "Toaster", "limit": 2 })).send().await.unwrap()).await;
    assert_eq!(status, 200);
    conforms(&spec, "/v1/search", "post", status, &hits);
    assert_eq!(hits["hits"][0]["sheet"], "prices");

    let (status, sheets) = json_of(gateway.get("/v1/sheets").send().await.unwrap()).await;
    assert_eq!(status, 200);
    conforms(&spec, "/v1/sheets", "get", status, &sheets);
    assert_eq!(sheets["sheets"][0]["rowCount"], "3");

    let (status, rows) = json_of(gateway.get("/v1/sheets/prices/rows?pageSize=2").send().await.unwrap()).await;
    assert_eq!(status, 200);
    conforms(&spec, "/v1/sheets/{sheet}/rows", "get", status, &rows);
    assert_eq!(rows["rows"].as_array().unwrap().len(), 2);
    assert_eq!(rows["rows"][0]["cells"][0], "Kettle");
    let (status, bad_query) = json_of(gateway.get("/v1/sheets/prices/rows?pageSize=lots").send().await.unwrap()).await;
    assert_eq!(status, 400);
    conforms(&spec, "/v1/sheets/{sheet}/rows", "get", status, &bad_query);
    let (status, unknown) = json_of(gateway.get("/v1/sheets/nope/rows").send().await.unwrap()).await;
    assert_eq!(status, 404, "{unknown}");

    let (status, synced) = json_of(gateway.post("/v1/sync", &json!({})).send().await.unwrap()).await;
    assert_eq!(status, 200, "{synced}");
    conforms(&spec, "/v1/sync", "post", status, &synced);

    let (status, models) = json_of(gateway.get("/v1/models").send().await.unwrap()).await;
    conforms(&spec, "/v1/models", "get", status, &models);

    let (status, health) = json_of(gateway.http.get(gateway.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{health:#}");
    conforms(&spec, "/health", "get", status, &health);
    let (status, ready) = json_of(gateway.http.get(gateway.url("/readyz")).send().await.unwrap()).await;
    conforms(&spec, "/readyz", "get", status, &ready);
    let (status, live) = json_of(gateway.http.get(gateway.url("/healthz")).send().await.unwrap()).await;
    conforms(&spec, "/healthz", "get", status, &live);
    let (status, refused) = json_of(gateway.http.get(gateway.url("/v1/sheets")).send().await.unwrap()).await;
    conforms(&spec, "/v1/sheets", "get", status, &refused);
}

#[tokio::test]
async fn a_repeated_question_is_served_from_the_cache() {
    let stack = spawn_stack(|_| {}).await;
    let ask = || stack.gateway.post("/v1/chat", &json!({ "message": "Which product is Red?" })).send();
    let first: Value = ask().await.unwrap().json().await.unwrap();
    let second: Value = ask().await.unwrap().json().await.unwrap();
    assert_eq!(first["cached"], false);
    assert_eq!(second["cached"], true, "{second}");
    assert_eq!(first["answer"], second["answer"]);
    let metrics = stack.gateway.http.get(stack.gateway.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sheetmesh_gateway_chat_answers_total{cached=\"true\",degraded=\"false\"} 1"), "{metrics}");
    assert!(metrics.contains("sheetmesh_gateway_llm_calls_total 1"), "{metrics}");
    assert!(metrics.contains("sheetmesh_gateway_http_requests_total{route=\"/v1/chat\",method=\"POST\",status=\"200\"} 2"), "{metrics}");
    assert!(metrics.contains("sheetmesh_gateway_cache_hit_ratio"), "{metrics}");
}

#[tokio::test]
async fn the_chat_stream_sends_deltas_citations_and_done_events() {
    let stack = spawn_stack(|_| {}).await;
    let response = stack.gateway.post("/v1/chat/stream", &json!({ "message": "What does the Toaster cost?" })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let frames = sse_frames(response).await;
    let names: Vec<&str> = frames.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.first() == Some(&"delta"), "{names:?}");
    assert!(names.contains(&"citations"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"));
    let text: String = frames
        .iter()
        .filter(|(name, _)| name == "delta")
        .map(|(_, data)| serde_json::from_str::<Value>(data).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    let done: Value = serde_json::from_str(&frames.last().unwrap().1).unwrap();
    assert_eq!(done["answer"], text);
}

#[tokio::test]
async fn keep_alive_comments_flow_while_the_answer_is_slow() {
    let stack = spawn_stack(|_| {}).await;
    stack.openai.script([Behaviour::Delay(Duration::from_millis(1500))]);
    // The shortest keep-alive a test can wait for: the production 15 s is
    // the same code path with another interval.
    let mut state = sheetmesh_gateway::server::state(stack.gateway_config().clone()).unwrap();
    state.sse_keep_alive = Duration::from_millis(200);
    let gateway = support::spawn_with_state(state).await;
    let response = gateway.post("/v1/chat/stream", &json!({ "message": "What does the Kettle cost?", "bypassCache": true })).send().await.unwrap();
    let body = response.text().await.unwrap();
    let first_data = body.find("data:").unwrap();
    assert!(body[..first_data].contains(":keep-alive") || body[..first_data].contains(": keep-alive"), "{body}");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_stream() {
    let stack = spawn_stack(|_| {}).await;
    stack.openai.script([Behaviour::EndlessStream]);
    let response = stack.gateway.post("/v1/chat/stream", &json!({ "message": "Tell me everything", "bypassCache": true })).send().await.unwrap();
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(body);
    tokio::time::timeout(Duration::from_secs(10), stack.openai.wait_for_closed_streams(1)).await.expect("the LLM stream was closed");
}

#[tokio::test]
async fn an_open_stream_holds_its_concurrency_slot_until_it_ends() {
    let stack = spawn_stack(|config| config.max_concurrent = 1).await;
    stack.openai.script([Behaviour::EndlessStream]);
    let response = stack.gateway.post("/v1/chat/stream", &json!({ "message": "Tell me everything", "bypassCache": true })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    assert!(!body.next().await.unwrap().unwrap().is_empty(), "the stream is flowing");

    // The response head went out long ago; the stream still counts.
    let shed = stack.gateway.get("/v1/models").send().await.unwrap();
    assert_eq!(shed.status(), 503, "MAX_CONCURRENT=1 with a stream open must shed");
    assert_eq!(shed.headers()["retry-after"], "1");

    // The client goes away: the slot is released once the gateway notices.
    drop(body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = stack.gateway.get("/v1/models").send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(tokio::time::Instant::now() < deadline, "the slot was never released after the client left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn openai_completions_answer_plain_and_streamed_with_citations() {
    let stack = spawn_stack(|_| {}).await;
    let gateway = &stack.gateway;
    let spec: Value = gateway.http.get(gateway.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let request =
        json!({ "model": "anything", "messages": [{ "role": "system", "content": "be brief" }, { "role": "user", "content": "What does the Kettle cost?" }] });
    let response = gateway.http.post(gateway.url("/v1/chat/completions")).bearer_auth(KEY).json(&request).send().await.unwrap();
    let (status, completion) = json_of(response).await;
    assert_eq!(status, 200, "{completion}");
    conforms(&spec, "/v1/chat/completions", "post", status, &completion);
    assert!(completion["choices"][0]["message"]["content"].as_str().unwrap().contains("Kettle"), "{completion}");
    assert!(!completion["citations"].as_array().unwrap().is_empty());

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let response = gateway.http.post(gateway.url("/v1/chat/completions")).bearer_auth(KEY).json(&streamed).send().await.unwrap();
    let frames = sse_frames(response).await;
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|(name, data)| {
            assert_eq!(name, "message", "OpenAI chunks are unnamed events");
            serde_json::from_str(data).unwrap()
        })
        .collect();
    assert!(chunks.iter().all(|chunk| chunk["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(!last["citations"].as_array().unwrap().is_empty(), "{last}");
    let text: String = chunks.iter().filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(text.contains("Kettle"), "{text}");
}

async fn wait_for_price(stack: &support::Stack, product: &str, price: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Value =
            stack.gateway.get(&format!("/v1/sheets/prices/rows?filterColumn=Product&filterValue={product}")).send().await.unwrap().json().await.unwrap();
        if rows["rows"][0]["cells"][1] == json!(price.parse::<f64>().unwrap()) || rows["rows"][0]["cells"][1] == json!(price) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{product} never became {price}: {rows}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_signed_webhook_syncs_the_sheet_and_a_bad_signature_syncs_nothing() {
    let stack = spawn_stack(|_| {}).await;
    let gateway = &stack.gateway;
    std::fs::write(stack.sheet_path("prices.csv"), support::PRICES_CSV.replace("Kettle,25", "Kettle,31")).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let body = json!({ "spreadsheetId": "prices.csv", "sheet": "prices", "changeType": "EDIT", "ts": now }).to_string();

    let forged = gateway
        .http
        .post(gateway.url("/v1/webhooks/sheets"))
        .header("x-signature-256", sheetmesh_gateway::routes::webhook::signature("wrong", body.as_bytes()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let rows: Value = gateway.get("/v1/sheets/prices/rows").send().await.unwrap().json().await.unwrap();
    assert_eq!(rows["rows"][0]["cells"][1], json!(25.0), "nothing synced after a bad signature");

    let signed = gateway
        .http
        .post(gateway.url("/v1/webhooks/sheets"))
        .header("x-signature-256", sheetmesh_gateway::routes::webhook::signature(WEBHOOK_SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 202);
    wait_for_price(&stack, "Kettle", "31").await;
    // The next answer is computed from the new version, not the cache.
    let answer: Value = gateway.post("/v1/chat", &json!({ "message": "What does the Kettle cost?" })).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["cached"], false);
}

#[tokio::test]
async fn a_drive_push_with_the_channel_token_syncs_and_a_wrong_token_is_401() {
    let stack = spawn_stack(|_| {}).await;
    let gateway = &stack.gateway;
    std::fs::write(stack.sheet_path("prices.csv"), support::PRICES_CSV.replace("Toaster,40", "Toaster,44")).unwrap();
    let push = |token: &str| {
        gateway
            .http
            .post(gateway.url("/v1/webhooks/sheets"))
            .header("x-goog-channel-token", token)
            .header("x-goog-resource-state", "update")
            .header("x-goog-resource-uri", "https://www.googleapis.com/drive/v3/files/prices.csv?alt=json")
            .send()
    };
    assert_eq!(push("not-the-secret").await.unwrap().status(), 401);
    let accepted = push(WEBHOOK_SECRET).await.unwrap();
    assert_eq!(accepted.status(), 202);
    wait_for_price(&stack, "Toaster", "44").await;
}

#[tokio::test]
async fn health_reports_redis_down_while_it_is_and_up_again_after() {
    let mut stack = spawn_stack(|_| {}).await;
    let health = |stack: &support::Stack| {
        let request = stack.gateway.http.get(stack.gateway.url("/health")).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    let report = health(&stack).await;
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(report["redis"]["status"], "up");
    assert_eq!(report["services"]["agent"]["status"], "SERVING");
    assert_eq!(report["llm"]["mode"], "openai:gpt-test");
    assert_eq!(report["llm"]["embeddingModel"], Value::Null, "no OPENAI_EMBEDDING_MODEL: semantic search is off");
    assert_eq!((report["index"]["sheets"].as_u64(), report["index"]["embeddedSheets"].as_u64()), (Some(1), Some(0)));
    assert_eq!(report["sheets"]["count"], 1);

    stack.cache.redis.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report = health(&stack).await;
        if report["redis"]["status"] == "down" {
            assert_eq!(report["status"], "degraded", "{report:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "redis never reported down: {report:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Chat still answers without Redis.
    let answer = stack.gateway.post("/v1/chat", &json!({ "message": "What does the Desk Lamp cost?" })).send().await.unwrap();
    assert_eq!(answer.status(), 200);

    stack.cache.redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report = health(&stack).await;
        if report["redis"]["status"] == "up" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "redis never recovered: {report:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
