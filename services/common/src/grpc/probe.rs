//! `grpc_health_probe` semantics, for container health checks.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// What a health check found. [`ProbeOutcome::exit_code`] follows
/// `grpc_health_probe`: 0 serving, 2 connection failure, 3 RPC failure or
/// timeout, 4 not serving (1 is for invalid arguments, decided by the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The service is SERVING.
    Serving,
    /// The server answered with another status (NOT_SERVING, UNKNOWN, …).
    NotServing(String),
    /// No connection could be made within the timeout.
    ConnectionFailed(String),
    /// Connected, but the call failed or timed out (e.g. unknown service).
    RpcFailed(String),
}

impl ProbeOutcome {
    /// The process exit code `grpc_health_probe` uses for this outcome.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Serving => 0,
            Self::ConnectionFailed(_) => 2,
            Self::RpcFailed(_) => 3,
            Self::NotServing(_) => 4,
        }
    }

    /// A one-line report, as `grpc_health_probe` prints it.
    pub fn message(&self) -> String {
        match self {
            Self::Serving => "status: SERVING".to_owned(),
            Self::NotServing(status) => format!("service unhealthy (responded with {status:?})"),
            Self::ConnectionFailed(reason) => format!("failed to connect service: {reason}"),
            Self::RpcFailed(reason) => format!("health rpc failed: {reason}"),
        }
    }
}

/// Checks `service` (empty = the whole server) at `addr` (`HOST:PORT`).
pub async fn probe(addr: &str, service: &str, timeout: Duration) -> ProbeOutcome {
    let url = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
    let endpoint = match Endpoint::from_shared(url) {
        Ok(endpoint) => endpoint.connect_timeout(timeout).timeout(timeout),
        Err(error) => return ProbeOutcome::ConnectionFailed(format!("invalid address {addr:?}: {error}")),
    };
    let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(error)) => return ProbeOutcome::ConnectionFailed(format!("{addr}: {error}")),
        Err(_) => return ProbeOutcome::ConnectionFailed(format!("{addr}: timed out after {timeout:?}")),
    };
    let mut client = HealthClient::new(channel);
    let request = HealthCheckRequest { service: service.to_owned() };
    match tokio::time::timeout(timeout, client.check(request)).await {
        Ok(Ok(response)) => match ServingStatus::try_from(response.into_inner().status) {
            Ok(ServingStatus::Serving) => ProbeOutcome::Serving,
            Ok(other) => ProbeOutcome::NotServing(other.as_str_name().to_owned()),
            Err(_) => ProbeOutcome::NotServing("UNKNOWN".to_owned()),
        },
        Ok(Err(status)) => ProbeOutcome::RpcFailed(format!("{:?}: {}", status.code(), status.message())),
        Err(_) => ProbeOutcome::RpcFailed(format!("timed out after {timeout:?}")),
    }
}

/// Checks an HTTP endpoint (the gateway's `/healthz`) with the same exit
/// codes: 0 on a 2xx answer, 2 when no connection can be made, 3 on a
/// timeout or an answer that is not HTTP, 4 on any other status. A plain
/// HTTP/1.1 GET, so container images need no curl.
pub async fn probe_http(url: &str, timeout: Duration) -> ProbeOutcome {
    let Some(rest) = url.strip_prefix("http://") else {
        return ProbeOutcome::ConnectionFailed(format!("{url:?} is not an http:// URL"));
    };
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(authority, path)| (authority, format!("/{path}")));
    let connect = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(authority)).await;
    let mut stream = match connect {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return ProbeOutcome::ConnectionFailed(format!("{authority}: {error}")),
        Err(_) => return ProbeOutcome::ConnectionFailed(format!("{authority}: timed out after {timeout:?}")),
    };
    let exchange = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: sheetmesh-health-probe\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 512];
        let read = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..read]).into_owned())
    };
    let head = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(head)) => head,
        Ok(Err(error)) => return ProbeOutcome::RpcFailed(format!("{url}: {error}")),
        Err(_) => return ProbeOutcome::RpcFailed(format!("{url}: no answer within {timeout:?}")),
    };
    let status = head.lines().next().and_then(|line| line.split_whitespace().nth(1)).and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(code) if (200..300).contains(&code) => ProbeOutcome::Serving,
        Some(code) => ProbeOutcome::NotServing(format!("HTTP {code}")),
        None => ProbeOutcome::RpcFailed(format!("{url}: the answer is not HTTP")),
    }
}
