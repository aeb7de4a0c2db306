//! `POST /v1/search`: ranked rows without the LLM.

use axum::extract::State;
use sheetmesh_proto::v1::SearchRequest;

use crate::{
    clients::{Call, Service},
    error::Error,
    json::{ProtoJson, ProtoResponse},
    state::AppState,
};

/// Ranked rows for a query.
pub async fn search(State(state): State<AppState>, call: Call, ProtoJson(request): ProtoJson<SearchRequest>) -> Result<ProtoResponse, Error> {
    if request.query.trim().is_empty() {
        return Err(Error::field("query", "is required: the text to search for"));
    }
    let hits = call.run(Service::Agent, state.clients.agent.clone().search(call.request(request))).await?;
    Ok(ProtoResponse::new(&hits))
}
