//! `AgentService.ChatStream` as Server-Sent Events.
//!
//! Events: `delta` (`{"text"}`), `citations` (`{"citations": [...]}`),
//! `done` (the whole `ChatResponse`) and `error` (the usual error body,
//! sent when the stream fails midway, after which the stream ends). The
//! caller adds a keep-alive comment every 15 s. Dropping the response body
//! (the client went away) drops the gRPC stream, which cancels the call
//! upstream.

use std::{convert::Infallible, time::Duration};

use axum::response::{
    IntoResponse, Response,
    sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, StreamExt as _, stream};
use serde_json::json;
use sheetmesh_proto::v1::{ChatEvent, ChatResponse, chat_event};

use crate::{clients::Service, error::Error, json::to_json};

/// What happened on the stream, for callers that also consume it (OpenAI
/// chunks) or count it (metrics).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Next piece of the answer.
    Delta(String),
    /// The citations JSON (`Citation[]` with defaults).
    Citations(serde_json::Value),
    /// The whole response.
    Done(Box<ChatResponse>),
    /// The stream failed; the error is final.
    Failed(serde_json::Value),
}

/// Turns the gRPC stream into steps, ending after `Done` or the first error.
/// A stream that ends without `done` is reported as an error.
pub fn steps<S>(source: S) -> impl Stream<Item = Step> + Send
where
    S: Stream<Item = Result<ChatEvent, tonic::Status>> + Send + Unpin,
{
    stream::unfold(Some(source), |state| async move {
        let mut source = state?;
        loop {
            match source.next().await {
                Some(Ok(ChatEvent { event: Some(event) })) => {
                    let step = match event {
                        chat_event::Event::Delta(text) => Step::Delta(text),
                        chat_event::Event::Citations(list) => Step::Citations(to_json(&list)["citations"].take()),
                        chat_event::Event::Done(response) => return Some((Step::Done(Box::new(response)), None)),
                    };
                    return Some((step, Some(source)));
                }
                Some(Ok(ChatEvent { event: None })) => continue,
                Some(Err(status)) => return Some((Step::Failed(Error::Grpc { service: Service::Agent, status }.parts().2), None)),
                None => {
                    let error = Error::Grpc { service: Service::Agent, status: tonic::Status::unavailable("the answer stream ended before it was done") };
                    return Some((Step::Failed(error.parts().2), None));
                }
            }
        }
    })
}

/// One step as an SSE event.
pub fn event(step: &Step) -> Event {
    let (name, data) = match step {
        Step::Delta(text) => ("delta", json!({ "text": text })),
        Step::Citations(citations) => ("citations", json!({ "citations": citations })),
        Step::Done(response) => ("done", to_json(response.as_ref())),
        Step::Failed(body) => ("error", body.clone()),
    };
    Event::default().event(name).data(data.to_string())
}

/// The SSE response for `steps`, with a keep-alive comment every `keep_alive`.
pub fn response<S>(steps: S, keep_alive: Duration) -> Response
where
    S: Stream<Item = Step> + Send + 'static,
{
    let events = steps.map(|step| Ok::<_, Infallible>(event(&step)));
    Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive")).into_response()
}

#[cfg(test)]
mod tests {
    use sheetmesh_proto::v1::{Citation, CitationList};

    use super::*;

    async fn body_of(events: Vec<Result<ChatEvent, tonic::Status>>) -> String {
        let response = response(steps(stream::iter(events)), Duration::from_secs(15));
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "text/event-stream");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn event(event: chat_event::Event) -> Result<ChatEvent, tonic::Status> {
        Ok(ChatEvent { event: Some(event) })
    }

    #[tokio::test]
    async fn deltas_citations_and_done_are_framed_as_named_events() {
        let citations = CitationList { citations: vec![Citation { sheet: "Products".into(), row: 3, ..Default::default() }] };
        let done = ChatResponse { answer: "Hello world".into(), model: "retrieval".into(), ..Default::default() };
        let body = body_of(vec![
            event(chat_event::Event::Delta("Hello".into())),
            event(chat_event::Event::Delta(" world".into())),
            event(chat_event::Event::Citations(citations)),
            event(chat_event::Event::Done(done)),
            event(chat_event::Event::Delta("never sent".into())),
        ])
        .await;
        let frames: Vec<&str> = body.split("\n\n").filter(|frame| !frame.is_empty()).collect();
        assert_eq!(frames.len(), 4, "{body}");
        assert_eq!(frames[0], "event: delta\ndata: {\"text\":\"Hello\"}");
        assert!(frames[2].starts_with("event: citations\ndata: {\"citations\":[{"), "{}", frames[2]);
        assert!(frames[2].contains("\"sheet\":\"Products\""));
        assert!(frames[3].starts_with("event: done\ndata: {"), "{}", frames[3]);
        assert!(frames[3].contains("\"answer\":\"Hello world\"") && frames[3].contains("\"cached\":false"));
    }

    #[tokio::test]
    async fn a_mid_stream_failure_becomes_an_error_event_and_ends_the_stream() {
        let body = body_of(vec![
            event(chat_event::Event::Delta("Hel".into())),
            Err(tonic::Status::internal("llm exploded")),
            event(chat_event::Event::Delta("x".into())),
        ])
        .await;
        let frames: Vec<&str> = body.split("\n\n").filter(|frame| !frame.is_empty()).collect();
        assert_eq!(frames.len(), 2, "{body}");
        let data = frames[1].strip_prefix("event: error\ndata: ").expect("an error event");
        assert_eq!(serde_json::from_str::<serde_json::Value>(data).unwrap(), json!({"code": 13, "message": "llm exploded", "details": []}));
    }

    #[tokio::test]
    async fn a_stream_that_ends_without_done_reports_an_error() {
        let body = body_of(vec![event(chat_event::Event::Delta("Hel".into()))]).await;
        let error = body.split("\n\n").find_map(|frame| frame.strip_prefix("event: error\ndata: ")).expect("an error event");
        assert_eq!(serde_json::from_str::<serde_json::Value>(error).unwrap()["code"], 14, "{body}");
    }
}
