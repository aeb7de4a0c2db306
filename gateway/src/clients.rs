//! The tonic clients of the three services, and how each call is bounded.
//!
//! Every call carries the request's remaining deadline (sent as
//! `grpc-timeout`, and enforced here too so that a service that never
//! answers cannot hang a request) and its `x-request-id`.

use std::{future::Future, time::Duration};

use axum::{extract::FromRequestParts, http::request::Parts};
use sheetmesh_common::grpc::{GrpcChannel, channel};
use sheetmesh_proto::{
    service_names,
    v1::{agent_service_client::AgentServiceClient, cache_service_client::CacheServiceClient, sheets_service_client::SheetsServiceClient},
};
use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic_health::pb::health_client::HealthClient;

use crate::{config::GatewayConfig, edge::request_id::RequestId, error::Error};

/// One of the services behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `sheetmesh.v1.AgentService` (`AGENT_URL`).
    Agent,
    /// `sheetmesh.v1.SheetsService` (`SHEETS_SYNC_URL`).
    Sheets,
    /// `sheetmesh.v1.CacheService` (`CACHE_URL`).
    Cache,
}

impl Service {
    /// Every service, in report order.
    pub const ALL: [Service; 3] = [Service::Agent, Service::Sheets, Service::Cache];

    /// The component's name: `agent`, `sheets-sync`, `cache`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Sheets => "sheets-sync",
            Self::Cache => "cache",
        }
    }

    /// The gRPC service name health is checked for.
    pub fn grpc_name(self) -> &'static str {
        match self {
            Self::Agent => service_names::AGENT,
            Self::Sheets => service_names::SHEETS,
            Self::Cache => service_names::CACHE,
        }
    }
}

/// Lazily connecting, load-balanced clients; cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    /// AgentService.
    pub agent: AgentServiceClient<GrpcChannel>,
    /// SheetsService.
    pub sheets: SheetsServiceClient<GrpcChannel>,
    /// CacheService.
    pub cache: CacheServiceClient<GrpcChannel>,
    agent_channel: GrpcChannel,
    sheets_channel: GrpcChannel,
    cache_channel: GrpcChannel,
}

impl Clients {
    /// Channels to the URLs in `config`. Must run inside a Tokio runtime.
    pub fn new(config: &GatewayConfig) -> Result<Self, Error> {
        let dial = |var: &str, urls: &str| channel(var, urls, &config.client).map_err(|error| Error::Internal(error.to_string()));
        let agent_channel = dial("AGENT_URL", &config.agent_url)?;
        let sheets_channel = dial("SHEETS_SYNC_URL", &config.sheets_url)?;
        let cache_channel = dial("CACHE_URL", &config.cache_url)?;
        Ok(Self {
            agent: AgentServiceClient::new(agent_channel.clone()),
            sheets: SheetsServiceClient::new(sheets_channel.clone()),
            cache: CacheServiceClient::new(cache_channel.clone()),
            agent_channel,
            sheets_channel,
            cache_channel,
        })
    }

    /// A `grpc.health.v1.Health` client on `service`'s channel.
    pub fn health(&self, service: Service) -> HealthClient<GrpcChannel> {
        HealthClient::new(match service {
            Service::Agent => self.agent_channel.clone(),
            Service::Sheets => self.sheets_channel.clone(),
            Service::Cache => self.cache_channel.clone(),
        })
    }
}

/// When the current HTTP request must be answered by (set by the timeout
/// layer from `TIMEOUT`).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// What every gRPC call made for one HTTP request carries: its id and its
/// deadline. Extracted in handlers.
#[derive(Debug, Clone)]
pub struct Call {
    /// The request's `x-request-id`.
    pub request_id: String,
    /// The request's deadline.
    pub deadline: Instant,
}

impl Call {
    /// A call for background work (webhook notify, health checks): no
    /// caller, its own deadline.
    pub fn detached(request_id: impl Into<String>, within: Duration) -> Self {
        Self { request_id: request_id.into(), deadline: Instant::now() + within }
    }

    /// `message` as a tonic request carrying the deadline and request id.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.remaining());
        if let Ok(value) = MetadataValue::try_from(self.request_id.as_str()) {
            request.metadata_mut().insert("x-request-id", value);
        }
        request
    }

    /// `message` as a tonic request for a server stream: the request id, but
    /// no `grpc-timeout` — `TIMEOUT` bounds opening the stream (see
    /// [`Call::run`]), not how long the answer may keep flowing.
    pub fn stream_request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = MetadataValue::try_from(self.request_id.as_str()) {
            request.metadata_mut().insert("x-request-id", value);
        }
        request
    }

    /// Runs one call to `service`, bounded by the deadline: a service that
    /// does not answer in time is a 504, never a hang.
    pub async fn run<T>(&self, service: Service, call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>) -> Result<T, Error> {
        match tokio::time::timeout_at(self.deadline, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            // tonic reports its own client-side timer as CANCELLED.
            Ok(Err(status)) if status.code() == tonic::Code::Cancelled && Instant::now() >= self.deadline => Err(Error::Timeout),
            Ok(Err(status)) if broken_connection(&status) => {
                Err(Error::Grpc { service, status: tonic::Status::unavailable(format!("the connection to {} broke: {}", service.name(), status.message())) })
            }
            Ok(Err(status)) => Err(Error::Grpc { service, status }),
            Err(_) => Err(Error::Timeout),
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
    }
}

/// A call that failed because the connection died under it (the service
/// was killed mid-call): tonic reports that as UNKNOWN "transport error" or
/// CANCELLED "operation was canceled", which would read as a 500. It is the
/// service being unavailable, and retrying shortly is right, so it maps to
/// UNAVAILABLE (503 + Retry-After).
fn broken_connection(status: &tonic::Status) -> bool {
    let from_transport = std::error::Error::source(status).is_some_and(|source| source.downcast_ref::<tonic::transport::Error>().is_some());
    match status.code() {
        // We did not cancel (the deadline check above comes first): the
        // connection under the call went away.
        tonic::Code::Cancelled => true,
        tonic::Code::Unknown => from_transport || status.message() == "transport error",
        _ => false,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
        let deadline = parts.extensions.get::<Deadline>().map(|deadline| deadline.0).unwrap_or_else(|| Instant::now() + Duration::from_secs(30));
        Ok(Self { request_id, deadline })
    }
}
