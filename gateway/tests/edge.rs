//! Every edge protection, each both ways, on a real gateway whose services
//! are down (the protections must not depend on them).

mod support;

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use support::{KEY, OTHER_KEY, config_without_services, spawn_gateway};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// A request body the test feeds piece by piece, to keep a request in flight.
fn slow_body() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, reqwest::Body) {
    let (tx, rx) = mpsc::channel(4);
    (tx, reqwest::Body::wrap_stream(ReceiverStream::new(rx)))
}

#[tokio::test]
async fn an_api_key_in_either_header_is_accepted_and_any_configured_key_works() {
    let gateway = spawn_gateway(config_without_services()).await;
    for (name, value) in [("x-api-key", KEY.to_owned()), ("x-api-key", OTHER_KEY.to_owned()), ("authorization", format!("Bearer {KEY}"))] {
        let response = gateway.http.get(gateway.url("/v1/models")).header(name, value).send().await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["object"], "list");
    }
}

#[tokio::test]
async fn a_missing_or_wrong_api_key_is_401_with_www_authenticate_and_the_key_is_not_echoed() {
    let gateway = spawn_gateway(config_without_services()).await;
    for key in [None, Some("wrong-key-123"), Some("test-key-alph")] {
        let mut request = gateway.http.get(gateway.url("/v1/sheets"));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{key:?}");
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        let body = response.text().await.unwrap();
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["code"], 16);
        assert!(key.is_none_or(|key| !body.contains(key)));
    }
}

#[tokio::test]
async fn hosts_outside_allowed_hosts_are_400_and_listed_ones_pass() {
    let mut config = config_without_services();
    config.allowed_hosts = Some(vec!["gateway.test".to_owned(), "*.example.org".to_owned()]);
    let gateway = spawn_gateway(config).await;
    let status = |host: &'static str| {
        let request = gateway.http.get(gateway.url("/healthz")).header("host", host);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("gateway.test").await, 200);
    assert_eq!(status("api.example.org:8080").await, 200);
    assert_eq!(status("evil.test").await, 400);
    assert_eq!(status("example.org").await, 400);
}

#[tokio::test]
async fn a_cors_preflight_from_an_allowed_origin_is_answered_and_others_get_no_grant() {
    let mut config = config_without_services();
    config.cors_origins = vec!["https://app.example.com".to_owned()];
    let gateway = spawn_gateway(config).await;
    let preflight = |origin: &'static str| {
        gateway
            .http
            .request(reqwest::Method::OPTIONS, gateway.url("/v1/chat"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-api-key")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    let allowed_headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed_headers.contains("x-api-key"), "{allowed_headers}");
    assert!(allowed.headers().get("access-control-allow-credentials").is_none());

    let refused = preflight("https://evil.example.net").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_no_server_header() {
    let mut config = config_without_services();
    config.hsts_max_age = Some(Duration::from_secs(86_400));
    let gateway = spawn_gateway(config).await;
    for path in ["/", "/healthz", "/v1/sheets", "/nowhere"] {
        let response = gateway.http.get(gateway.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(headers["strict-transport-security"], "max-age=86400; includeSubDomains", "{path}");
        assert!(headers.get("server").is_none(), "{path}");
    }
    let without_hsts = spawn_gateway(config_without_services()).await;
    let response = without_hsts.http.get(without_hsts.url("/healthz")).send().await.unwrap();
    assert!(response.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_declared_or_streamed_and_a_small_one_is_read() {
    let mut config = config_without_services();
    config.body_limit = 4096;
    let gateway = spawn_gateway(config).await;
    let big = json!({ "message": "x".repeat(5000) });
    let declared = gateway.post("/v1/chat", &big).send().await.unwrap();
    assert_eq!(declared.status(), 413);
    assert_eq!(declared.json::<Value>().await.unwrap()["code"], 8);

    let (tx, body) = slow_body();
    tx.send(Ok(Bytes::from(big.to_string()))).await.unwrap();
    drop(tx);
    let streamed = gateway.http.post(gateway.url("/v1/chat")).header("x-api-key", KEY).body(body).send().await.unwrap();
    assert_eq!(streamed.status(), 413);

    // Within the limit the body is read and checked (no question → 400).
    let small = gateway.post("/v1/chat", &json!({ "message": " " })).send().await.unwrap();
    assert_eq!(small.status(), 400);
}

#[tokio::test]
async fn malformed_json_a_wrong_type_and_a_missing_field_are_400_naming_the_field() {
    let gateway = spawn_gateway(config_without_services()).await;
    let send =
        |body: &'static str| gateway.http.post(gateway.url("/v1/chat")).header("x-api-key", KEY).header("content-type", "application/json").body(body).send();

    let malformed: Value = send("{\"message\": ").await.unwrap().json().await.unwrap();
    assert_eq!(malformed["code"], 3);
    assert!(malformed["message"].as_str().unwrap().contains("malformed JSON"), "{malformed}");

    let response = send(r#"{"message": "hi", "sheets": ["a", 7]}"#).await.unwrap();
    assert_eq!(response.status(), 400);
    let wrong_type: Value = response.json().await.unwrap();
    assert_eq!(wrong_type["details"][0]["fieldViolations"][0]["field"], "sheets[1]", "{wrong_type}");

    let missing: Value = send(r#"{"conversationId": "c1"}"#).await.unwrap().json().await.unwrap();
    assert_eq!(missing["details"][0]["fieldViolations"][0]["field"], "message", "{missing}");
    assert!(missing["message"].as_str().unwrap().contains("`message`"));

    let search = gateway.post("/v1/search", &json!({ "limit": 3 })).send().await.unwrap();
    assert_eq!(search.status(), 400);
    assert_eq!(search.json::<Value>().await.unwrap()["details"][0]["fieldViolations"][0]["field"], "query");
}

#[tokio::test]
async fn a_service_that_is_down_is_503_with_retry_after_at_once() {
    let gateway = spawn_gateway(config_without_services()).await;
    let started = std::time::Instant::now();
    for (path, body) in [("/v1/chat", Some(json!({ "message": "hi" }))), ("/v1/sheets", None), ("/v1/conversations/c1", None)] {
        let request = match &body {
            Some(body) => gateway.post(path, body),
            None => gateway.get(path),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(response.headers()["retry-after"], "1");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], 14);
        assert!(error["message"].as_str().unwrap().contains("unavailable"), "{error}");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn requests_over_max_concurrent_are_shed_with_503_and_retry_after() {
    let mut config = config_without_services();
    config.max_concurrent = 1;
    let gateway = spawn_gateway(config).await;
    let (tx, body) = slow_body();
    tx.send(Ok(Bytes::from_static(b"{\"query\": "))).await.unwrap();
    let holder = tokio::spawn(gateway.http.post(gateway.url("/v1/search")).header("x-api-key", KEY).body(body).send());

    // The holder takes the only slot; a probe is shed as soon as it has.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let shed = loop {
        let response = gateway.get("/v1/models").send().await.unwrap();
        if response.status() == 503 {
            break response;
        }
        assert!(tokio::time::Instant::now() < deadline, "never shed");
        tokio::task::yield_now().await;
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    assert!(shed.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("concurrency limit"));
    // The liveness probe is never shed.
    assert_eq!(gateway.http.get(gateway.url("/healthz")).send().await.unwrap().status(), 200);

    tx.send(Ok(Bytes::from_static(b"}"))).await.unwrap();
    drop(tx);
    assert_eq!(holder.await.unwrap().unwrap().status(), 400, "the holder completes normally");
    assert_eq!(gateway.get("/v1/models").send().await.unwrap().status(), 200, "the slot is free again");
}

#[tokio::test]
async fn a_request_slower_than_timeout_is_504_and_a_quick_one_is_answered() {
    let mut config = config_without_services();
    config.request_timeout = Duration::from_millis(300);
    let gateway = spawn_gateway(config).await;
    let (tx, body) = slow_body();
    tx.send(Ok(Bytes::from_static(b"{\"query\": "))).await.unwrap();
    let response = gateway.http.post(gateway.url("/v1/search")).header("x-api-key", KEY).body(body).send().await.unwrap();
    assert_eq!(response.status(), 504);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], 4);
    drop(tx);
    assert_eq!(gateway.get("/v1/models").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_key_over_its_rate_limit_is_429_with_retry_after_while_other_keys_pass() {
    let mut config = config_without_services();
    config.rate_limit_per_minute = 2;
    let gateway = spawn_gateway(config).await;
    for _ in 0..2 {
        assert_eq!(gateway.get("/v1/models").send().await.unwrap().status(), 200);
    }
    let limited = gateway.get("/v1/models").send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let other = gateway.http.get(gateway.url("/v1/models")).header("authorization", format!("Bearer {OTHER_KEY}")).send().await.unwrap();
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn a_request_id_is_echoed_when_sane_and_generated_otherwise() {
    let gateway = spawn_gateway(config_without_services()).await;
    let given = gateway.http.get(gateway.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let generated = gateway.http.get(gateway.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let forged = gateway.http.get(gateway.url("/healthz")).header("x-request-id", "a b\"c").send().await.unwrap();
    assert_ne!(forged.headers()["x-request-id"], "a b\"c");
    // Refusals carry one too.
    let refused = gateway.http.get(gateway.url("/v1/models")).send().await.unwrap();
    assert!(refused.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn responses_are_gzip_compressed_when_asked_and_plain_otherwise() {
    let gateway = spawn_gateway(config_without_services()).await;
    let compressed = gateway.http.get(gateway.url("/openapi.json")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(compressed.headers()["content-encoding"], "gzip");
    let plain = gateway.http.get(gateway.url("/openapi.json")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.json::<Value>().await.unwrap()["openapi"], "3.1.0");
}

#[tokio::test]
async fn unknown_routes_are_a_json_404() {
    let gateway = spawn_gateway(config_without_services()).await;
    let response = gateway.http.get(gateway.url("/v2/nothing")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], 5);
}

#[tokio::test]
async fn the_listener_applies_keepalive_to_accepted_connections() {
    let listener = sheetmesh_gateway::bind("127.0.0.1:0".parse().unwrap(), 16, Duration::from_secs(7)).unwrap();
    let addr = listener.local_addr().unwrap();
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    let socket = socket2::SockRef::from(&accepted);
    assert!(socket.keepalive().unwrap());
    assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_request_then_stops_accepting() {
    let mut gateway = spawn_gateway(config_without_services()).await;
    let (tx, body) = slow_body();
    tx.send(Ok(Bytes::from_static(b"{\"query\": "))).await.unwrap();
    let in_flight = tokio::spawn(gateway.http.post(gateway.url("/v1/search")).header("x-api-key", KEY).body(body).send());
    // Wait until the request is being handled: it shows in the in-flight gauge.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = gateway.http.get(gateway.url("/metrics")).send().await.unwrap().text().await.unwrap();
        if metrics.lines().any(|line| line.starts_with("sheetmesh_gateway_http_requests_in_flight 2")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the request never arrived");
        tokio::task::yield_now().await;
    }
    gateway.shutdown();
    tx.send(Ok(Bytes::from_static(b"}"))).await.unwrap();
    drop(tx);
    assert_eq!(in_flight.await.unwrap().unwrap().status(), 400, "the in-flight request was answered");
    let finished = tokio::time::timeout(Duration::from_secs(6), &mut gateway.task).await.expect("shutdown is bounded");
    assert!(finished.unwrap().is_ok());
    assert!(reqwest::Client::new().get(gateway.url("/healthz")).send().await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary_without_inline_code_or_third_parties() {
    let gateway = spawn_gateway(config_without_services()).await;
    let page = gateway.http.get(gateway.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    // The CSP allows only 'self' scripts and styles: no inline code, no CDN.
    assert!(html.contains(r#"<script src="/assets/app.js" defer></script>"#));
    assert!(!html.contains("<style") && !html.contains(" style=") && !html.contains(" onclick="));
    assert!(html.contains(r#"name="viewport""#), "readable on a phone");
    for asset in ["/assets/app.js", "/assets/app.css"] {
        let response = gateway.http.get(gateway.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("http://") && !text.contains("https://"), "{asset} reaches a third party");
    }
    let script = gateway.http.get(gateway.url("/assets/app.js")).send().await.unwrap().text().await.unwrap();
    assert!(script.contains("localStorage") && script.contains("/v1/chat/stream") && script.contains("/v1/sheets"));
}

#[tokio::test]
async fn health_with_every_service_down_is_503_down_and_readyz_is_503_while_healthz_is_200() {
    let gateway = spawn_gateway(config_without_services()).await;
    let health = gateway.http.get(gateway.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let report: Value = health.json().await.unwrap();
    assert_eq!(report["status"], "down");
    assert_eq!(report["services"]["agent"]["status"], "UNREACHABLE");
    assert_eq!(report["redis"]["status"], "unknown");
    assert!(report["version"].is_string() && report["uptimeSeconds"].is_u64());
    assert_eq!(gateway.http.get(gateway.url("/readyz")).send().await.unwrap().status(), 503);
    assert_eq!(gateway.http.get(gateway.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_webhook_is_404_without_a_secret_and_401_or_202_with_one() {
    let off = spawn_gateway(config_without_services()).await;
    let response = off.http.post(off.url("/v1/webhooks/sheets")).header("x-goog-channel-token", "anything").send().await.unwrap();
    assert_eq!(response.status(), 404);

    let on = spawn_gateway(support::with_webhook(config_without_services())).await;
    let drive = |token: &'static str| {
        on.http.post(on.url("/v1/webhooks/sheets")).header("x-goog-channel-token", token).header("x-goog-resource-state", "update").send()
    };
    assert_eq!(drive("wrong").await.unwrap().status(), 401);
    // Accepted at once even though sheets-sync is down: the sync runs behind it.
    let started = std::time::Instant::now();
    assert_eq!(drive(support::WEBHOOK_SECRET).await.unwrap().status(), 202);
    assert!(started.elapsed() < Duration::from_secs(1));
    let unsigned = on.http.post(on.url("/v1/webhooks/sheets")).body(r#"{"spreadsheetId":"x"}"#).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
}
