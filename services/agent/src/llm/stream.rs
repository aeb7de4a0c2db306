//! A streamed completion as a stream of text deltas and, at the end, the
//! tool calls assembled from their chunks.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use futures::Stream;
use tokio::sync::OwnedSemaphorePermit;

use super::types::{Chunk, FunctionCall, ToolCall};
use crate::error::Result;

/// What a streamed completion yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The next piece of the answer text.
    Delta(String),
    /// The model asked for these tool calls (sent once, at the end).
    ToolCalls(Vec<ToolCall>),
}

type Inner = Pin<Box<dyn Stream<Item = Result<Chunk, OpenAIError>> + Send>>;

/// The stream returned by [`super::LlmClient::complete_stream`]. Holds a
/// concurrency slot until it ends or is dropped.
pub struct LlmStream {
    inner: Option<Inner>,
    permit: Option<OwnedSemaphorePermit>,
    calls: Vec<ToolCall>,
    timeout: Duration,
}

impl std::fmt::Debug for LlmStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmStream").field("done", &self.inner.is_none()).finish_non_exhaustive()
    }
}

impl LlmStream {
    pub(super) fn new(inner: Inner, permit: OwnedSemaphorePermit, timeout: Duration) -> Self {
        Self { inner: Some(inner), permit: Some(permit), calls: Vec::new(), timeout }
    }

    fn absorb(&mut self, chunk: Chunk) -> Option<String> {
        let mut text = String::new();
        for choice in chunk.choices {
            if let Some(content) = choice.delta.content {
                text.push_str(&content);
            }
            for part in choice.delta.tool_calls.unwrap_or_default() {
                // Tool calls arrive in pieces keyed by index: the id and name
                // first, the JSON arguments spread over later chunks.
                while self.calls.len() <= part.index {
                    self.calls.push(ToolCall {
                        id: String::new(),
                        kind: "function".into(),
                        function: FunctionCall { name: String::new(), arguments: String::new() },
                    });
                }
                let call = &mut self.calls[part.index];
                if let Some(id) = part.id {
                    call.id = id;
                }
                if let Some(function) = part.function {
                    if let Some(name) = function.name {
                        call.function.name.push_str(&name);
                    }
                    if let Some(arguments) = function.arguments {
                        call.function.arguments.push_str(&arguments);
                    }
                }
            }
        }
        (!text.is_empty()).then_some(text)
    }

    fn finish(&mut self) -> Option<Result<StreamEvent>> {
        self.inner = None;
        self.permit = None;
        let calls = std::mem::take(&mut self.calls);
        (!calls.is_empty()).then_some(Ok(StreamEvent::ToolCalls(calls)))
    }
}

impl Stream for LlmStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
            match inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(self.finish()),
                Poll::Ready(Some(Err(err))) => {
                    let timeout = self.timeout;
                    self.inner = None;
                    self.permit = None;
                    return Poll::Ready(Some(Err(super::map_error(err, timeout))));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(text) = self.absorb(chunk) {
                        return Poll::Ready(Some(Ok(StreamEvent::Delta(text))));
                    }
                }
            }
        }
    }
}
