//! `sheetmesh.v1.AgentService`: converts and calls [`Agent`].

use std::{pin::Pin, sync::Arc};

use futures::{Stream, StreamExt};
use sheetmesh_proto::v1::{
    AgentStatus, ChatEvent, ChatRequest, ChatResponse, Conversation, DeleteConversationRequest, DeleteConversationResponse, GetConversationRequest,
    GetStatusRequest, SearchRequest, SearchResponse, agent_service_server::AgentService,
};
use tonic::{Request, Response, Status};

use crate::answer::Agent;

/// The tonic service over an [`Agent`].
#[derive(Debug)]
pub struct AgentGrpc {
    agent: Arc<Agent>,
}

impl AgentGrpc {
    /// Serves `agent`.
    pub fn new(agent: Arc<Agent>) -> Self {
        Self { agent }
    }

    fn ready(&self) -> Result<(), Status> {
        if self.agent.is_ready() { Ok(()) } else { Err(Status::unavailable("the agent is still loading the sheets; try again in a moment")) }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, Status>> + Send>>;

#[tonic::async_trait]
impl AgentService for AgentGrpc {
    async fn chat(&self, request: Request<ChatRequest>) -> Result<Response<ChatResponse>, Status> {
        self.ready()?;
        Ok(Response::new(self.agent.chat(request.into_inner().into()).await?))
    }

    type ChatStreamStream = EventStream;

    async fn chat_stream(&self, request: Request<ChatRequest>) -> Result<Response<Self::ChatStreamStream>, Status> {
        self.ready()?;
        // Dropping this stream (the client went away) drops the agent's
        // stream, which stops the upstream LLM request.
        let events = self.agent.chat_stream(request.into_inner().into()).map(|event| event.map_err(Status::from));
        Ok(Response::new(Box::pin(events)))
    }

    async fn search(&self, request: Request<SearchRequest>) -> Result<Response<SearchResponse>, Status> {
        self.ready()?;
        // The agent ranks on a blocking thread; only a query embedding (with
        // embeddings configured) is awaited here.
        let response = self.agent.search(request.get_ref()).await?;
        Ok(Response::new(response))
    }

    async fn get_conversation(&self, request: Request<GetConversationRequest>) -> Result<Response<Conversation>, Status> {
        Ok(Response::new(self.agent.get_conversation(&request.get_ref().id).await?))
    }

    async fn delete_conversation(&self, request: Request<DeleteConversationRequest>) -> Result<Response<DeleteConversationResponse>, Status> {
        self.agent.delete_conversation(&request.get_ref().id).await?;
        Ok(Response::new(DeleteConversationResponse {}))
    }

    async fn get_status(&self, _request: Request<GetStatusRequest>) -> Result<Response<AgentStatus>, Status> {
        Ok(Response::new(self.agent.status()))
    }
}
