//! `GET` and `DELETE /v1/conversations/{id}`.

use axum::extract::{Path, State};
use sheetmesh_proto::v1::{DeleteConversationRequest, GetConversationRequest};

use crate::{
    clients::{Call, Service},
    error::Error,
    json::ProtoResponse,
    state::AppState,
};

/// A stored conversation.
pub async fn get(State(state): State<AppState>, call: Call, Path(id): Path<String>) -> Result<ProtoResponse, Error> {
    let conversation = call.run(Service::Agent, state.clients.agent.clone().get_conversation(call.request(GetConversationRequest { id }))).await?;
    Ok(ProtoResponse::new(&conversation))
}

/// Deletes a conversation for good.
pub async fn delete(State(state): State<AppState>, call: Call, Path(id): Path<String>) -> Result<ProtoResponse, Error> {
    let deleted = call.run(Service::Agent, state.clients.agent.clone().delete_conversation(call.request(DeleteConversationRequest { id }))).await?;
    Ok(ProtoResponse::new(&deleted))
}
