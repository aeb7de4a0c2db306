//! `/healthz` (the process is up), `/readyz` (every service is SERVING, so
//! chat can be served) and `/health` (the whole picture, for people and
//! dashboards).
//!
//! The `/health` checks run concurrently, each with a short deadline, and
//! the report is reused for `health_cache` (1 s) so polling it is cheap;
//! concurrent callers share one round of checks.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use sheetmesh_proto::v1::{AgentStatus, GetStatusRequest, ListSheetsRequest, ListSheetsResponse, StatsRequest, StatsResponse};
use tokio::sync::Mutex;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::{
    clients::{Call, Service},
    error::Error,
    json::to_json,
    state::AppState,
};

/// The last `/health` report and when it was made.
#[derive(Debug, Default)]
pub struct HealthCache {
    last: Mutex<Option<(Instant, StatusCode, Value)>>,
}

/// The outcome of one service's gRPC health check.
#[derive(Debug, Clone)]
pub struct Check {
    /// `SERVING`, `NOT_SERVING`, `UNKNOWN` or `UNREACHABLE`.
    pub status: String,
    /// Round trip of the check.
    pub latency: Duration,
    /// Why it is unreachable, if it is.
    pub error: Option<String>,
}

impl Check {
    fn serving(&self) -> bool {
        self.status == "SERVING"
    }

    fn to_json(&self) -> Value {
        json!({ "status": self.status, "latencyMs": round_ms(self.latency), "error": self.error })
    }
}

/// `grpc.health.v1.Health/Check` of `service`, bounded by `within`.
pub async fn check(state: &AppState, service: Service, within: Duration) -> Check {
    let started = Instant::now();
    let call = Call::detached("health-check", within);
    let request = call.request(HealthCheckRequest { service: service.grpc_name().to_owned() });
    let outcome = tokio::time::timeout(within, state.clients.health(service).check(request)).await;
    let latency = started.elapsed();
    let (status, error) = match outcome {
        Ok(Ok(response)) => match ServingStatus::try_from(response.into_inner().status) {
            Ok(status) => (status.as_str_name().to_owned(), None),
            Err(_) => ("UNKNOWN".to_owned(), None),
        },
        Ok(Err(status)) => ("UNREACHABLE".to_owned(), Some(Error::Grpc { service, status }.to_string())),
        Err(_) => ("UNREACHABLE".to_owned(), Some(format!("no answer within {} ms", within.as_millis()))),
    };
    Check { status, latency, error }
}

/// Liveness: the process answers.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 when all three services are SERVING and the gateway is
/// not shutting down; 503 with `Retry-After` otherwise.
pub async fn ready(State(state): State<AppState>) -> Response {
    let within = state.config.health_deadline;
    let (agent, sheets, cache) =
        tokio::join!(check(&state, Service::Agent, within), check(&state, Service::Sheets, within), check(&state, Service::Cache, within));
    let draining = state.draining.load(Ordering::Relaxed);
    let ready = !draining && agent.serving() && sheets.serving() && cache.serving();
    let body = json!({
        "status": if ready { "ready" } else if draining { "draining" } else { "not ready" },
        "services": { "agent": agent.status, "sheets-sync": sheets.status, "cache": cache.status },
    });
    with_status(if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}

/// Everything: 200 for `ok` or `degraded`, 503 for `down`.
pub async fn report(State(state): State<AppState>) -> Response {
    let mut last = state.health.last.lock().await;
    if let Some((at, status, body)) = last.as_ref()
        && at.elapsed() < state.config.health_cache
    {
        return with_status(*status, body.clone());
    }
    let (status, body) = build(&state).await;
    *last = Some((Instant::now(), status, body.clone()));
    with_status(status, body)
}

fn with_status(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn build(state: &AppState) -> (StatusCode, Value) {
    let within = state.config.health_deadline;
    let call = Call::detached("health", within);
    let (mut cache_client, mut sheets_client, mut agent_client) = (state.clients.cache.clone(), state.clients.sheets.clone(), state.clients.agent.clone());
    let (agent, sheets, cache, stats, sheet_list, agent_status) = tokio::join!(
        check(state, Service::Agent, within),
        check(state, Service::Sheets, within),
        check(state, Service::Cache, within),
        call.run(Service::Cache, cache_client.stats(call.request(StatsRequest {}))),
        call.run(Service::Sheets, sheets_client.list_sheets(call.request(ListSheetsRequest::default()))),
        call.run(Service::Agent, agent_client.get_status(call.request(GetStatusRequest {}))),
    );
    let redis = redis_report(&stats);
    let redis_down = stats.as_ref().is_ok_and(|stats| !stats.backend_up);
    let sheets_report = sheets_report(&sheet_list);
    let sheet_errors = sheet_list.as_ref().is_ok_and(|list| list.sheets.iter().any(|sheet| !sheet.last_error.is_empty()));
    let (llm, index) = agent_report(&agent_status);

    let all_serving = agent.serving() && sheets.serving() && cache.serving();
    // Chat needs the agent; everything else only degrades answers.
    let overall = if !agent.serving() {
        "down"
    } else if all_serving && !redis_down && !sheet_errors && stats.is_ok() && sheet_list.is_ok() && agent_status.is_ok() {
        "ok"
    } else {
        "degraded"
    };
    let body = json!({
        "status": overall,
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started.elapsed().as_secs(),
        "services": { "agent": agent.to_json(), "sheets-sync": sheets.to_json(), "cache": cache.to_json() },
        "redis": redis,
        "llm": llm,
        "index": index,
        "sheets": sheets_report,
    });
    (if overall == "down" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }, body)
}

fn redis_report(stats: &Result<StatsResponse, Error>) -> Value {
    match stats {
        Ok(stats) if stats.backend == "redis" => {
            json!({ "status": if stats.backend_up { "up" } else { "down" }, "backend": "redis", "rttUs": stats.backend_rtt_us, "hitRatio": stats.hit_ratio })
        }
        Ok(stats) => json!({ "status": "not used", "backend": stats.backend, "rttUs": 0, "hitRatio": stats.hit_ratio }),
        Err(error) => json!({ "status": "unknown", "error": error.to_string() }),
    }
}

fn sheets_report(list: &Result<ListSheetsResponse, Error>) -> Value {
    match list {
        Ok(list) => {
            let sheets = to_json(list)["sheets"].take();
            let last_sync = list.sheets.iter().filter_map(|sheet| sheet.synced_at.as_ref()).max_by_key(|at| (at.seconds, at.nanos));
            let errors: Vec<Value> = list
                .sheets
                .iter()
                .filter(|sheet| !sheet.last_error.is_empty())
                .map(|sheet| json!({ "spreadsheet": sheet.spreadsheet, "sheet": sheet.name, "error": sheet.last_error }))
                .collect();
            json!({
                "count": list.sheets.len(),
                "lastSync": last_sync.map(|at| serde_json::to_value(at).unwrap_or(Value::Null)),
                "lastError": errors.first().map(|error| error["error"].clone()),
                "errors": errors,
                "sheets": sheets,
            })
        }
        Err(error) => json!({ "count": null, "lastSync": null, "lastError": error.to_string(), "errors": [], "sheets": [] }),
    }
}

fn agent_report(status: &Result<AgentStatus, Error>) -> (Value, Value) {
    match status {
        Ok(status) => {
            let status_json = to_json(status);
            (
                json!({ "mode": status.llm_mode, "embeddingModel": (!status.embedding_model.is_empty()).then_some(&status.embedding_model) }),
                json!({
                    "ready": status.ready,
                    "rows": status.indexed_rows,
                    "sheets": status.indexed_sheets,
                    "embeddedSheets": status.embedded_sheets,
                    "lastUpdate": status_json["lastIndexUpdate"],
                }),
            )
        }
        Err(error) => (
            json!({ "mode": "unknown", "embeddingModel": null, "error": error.to_string() }),
            json!({ "ready": false, "rows": 0, "sheets": 0, "embeddedSheets": 0, "lastUpdate": null }),
        ),
    }
}

fn round_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e5).round() / 100.0
}
