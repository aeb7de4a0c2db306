//! `POST /v1/chat` and `POST /v1/chat/stream`.

use std::time::Instant;

use axum::{extract::State, response::Response};
use futures::StreamExt as _;
use sheetmesh_proto::v1::{ChatRequest, ChatResponse};

use crate::{
    clients::{Call, Service},
    edge::metrics::{AnswerLabels, Metrics},
    error::Error,
    json::{ProtoJson, ProtoResponse},
    sse::{self, Step},
    state::AppState,
};

/// One answer.
pub async fn chat(State(state): State<AppState>, call: Call, ProtoJson(request): ProtoJson<ChatRequest>) -> Result<ProtoResponse, Error> {
    validate(&request)?;
    let started = Instant::now();
    let response = call.run(Service::Agent, state.clients.agent.clone().chat(call.request(request))).await?;
    record(&state.metrics, &response, started);
    Ok(ProtoResponse::new(&response))
}

/// One answer as Server-Sent Events.
pub async fn stream(State(state): State<AppState>, call: Call, ProtoJson(request): ProtoJson<ChatRequest>) -> Result<Response, Error> {
    validate(&request)?;
    let started = Instant::now();
    let upstream = call.run(Service::Agent, state.clients.agent.clone().chat_stream(call.stream_request(request))).await?;
    let metrics = state.metrics.clone();
    let steps = sse::steps(upstream).inspect(move |step| {
        if let Step::Done(response) = step {
            record(&metrics, response, started);
        }
    });
    Ok(sse::response(steps, state.sse_keep_alive))
}

/// The checks the gateway can make without the agent: a question is present.
pub fn validate(request: &ChatRequest) -> Result<(), Error> {
    if request.message.trim().is_empty() {
        return Err(Error::field("message", "is required: the question to answer"));
    }
    Ok(())
}

/// Counts an answer (cache hit, degraded, LLM latency).
pub fn record(metrics: &Metrics, response: &ChatResponse, started: Instant) {
    metrics.answers.get_or_create(&AnswerLabels { cached: response.cached, degraded: response.degraded }).inc();
    if !response.cached && !response.degraded {
        metrics.llm_calls.inc();
        metrics.llm_latency.observe(started.elapsed().as_secs_f64());
    }
}
