//! `ChatStream`: the answer as events — deltas as the LLM produces them, then
//! the citations, then done (the whole response).
//!
//! The work runs in a task feeding a channel. The task races the work against
//! the receiver going away: when the consumer drops the stream, the work
//! future is dropped at once, and with it the upstream HTTP response, which
//! closes the LLM connection.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use sheetmesh_proto::v1::{ChatEvent, ChatResponse, CitationList, chat_event::Event};
use tokio::sync::mpsc;

use super::cache::LeaseGuard;
use super::flow::{llm_response, offline_response, run_tools};
use super::{Agent, LeaseOutcome, Prepared, Question, decode_cached};
use crate::error::Result;
use crate::llm::{LlmClient, StreamEvent};

/// The events of one streamed answer.
#[derive(Debug)]
pub struct ChatEventStream {
    rx: mpsc::Receiver<Result<ChatEvent>>,
}

impl Stream for ChatEventStream {
    type Item = Result<ChatEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

type Sender = mpsc::Sender<Result<ChatEvent>>;

fn event(event: Event) -> Result<ChatEvent> {
    Ok(ChatEvent { event: Some(event) })
}

impl Agent {
    /// `ChatStream`. The only error event is an invalid argument, sent before
    /// any delta.
    pub fn chat_stream(self: &Arc<Self>, question: Question) -> ChatEventStream {
        let (tx, rx) = mpsc::channel(64);
        let agent = Arc::clone(self);
        tokio::spawn(async move {
            let watcher = tx.clone();
            tokio::select! {
                () = watcher.closed() => tracing::debug!("chat stream consumer went away; cancelled"),
                () = agent.run_stream(question, &tx) => {}
            }
        });
        ChatEventStream { rx }
    }

    async fn run_stream(&self, question: Question, tx: &Sender) {
        let mut p = match self.prepare(question).await {
            Ok(p) => p,
            Err(err) => {
                let _ = tx.send(Err(err)).await;
                return;
            }
        };
        let mut guard = None;
        if let (Some(key), Some(cache)) = (&p.key, &self.cache) {
            match cache.lease(key, self.config.lease, self.config.lease_wait).await {
                Ok(LeaseOutcome::Hit(bytes)) => {
                    if let Some(response) = decode_cached(&bytes) {
                        let _ = tx.send(event(Event::Delta(response.answer.clone()))).await;
                        return self.finish_stream(&p, response, tx).await;
                    }
                }
                Ok(LeaseOutcome::Granted { token }) => {
                    guard = Some(LeaseGuard::new(Arc::clone(cache), key.clone(), token));
                }
                Ok(LeaseOutcome::WaitTimeout | LeaseOutcome::Unavailable) => {}
                Err(err) => tracing::warn!(error = %err, "answer cache unavailable; answering uncached"),
            }
        }
        self.retrieve_rows(&mut p).await;
        let response = self.stream_compute(&p, tx).await;
        if let Some(guard) = guard {
            self.settle(guard, &p, &response).await;
        }
        self.finish_stream(&p, response, tx).await;
    }

    async fn finish_stream(&self, p: &Prepared, response: ChatResponse, tx: &Sender) {
        // Memory first: once `done` is out the consumer may hang up, which
        // cancels this task.
        let response = self.remember(p, response).await;
        let citations = CitationList { citations: response.citations.clone() };
        let _ = tx.send(event(Event::Citations(citations))).await;
        let _ = tx.send(event(Event::Done(response))).await;
    }

    /// Like `compute`, sending deltas as they arrive. On an LLM failure the
    /// retrieval-only text follows whatever was already sent, so the `done`
    /// answer is always the concatenation of the deltas.
    async fn stream_compute(&self, p: &Prepared, tx: &Sender) -> ChatResponse {
        let Some(llm) = &self.llm else {
            let response = offline_response(p, None);
            let _ = tx.send(event(Event::Delta(response.answer.clone()))).await;
            return response;
        };
        let mut sent = String::new();
        match self.stream_llm(llm, p, tx, &mut sent).await {
            Ok(response) => response,
            Err(err) => {
                tracing::warn!(error = %err, "LLM stream failed; answering retrieval-only");
                let mut response = offline_response(p, Some(&err));
                let tail = if sent.is_empty() { response.answer.clone() } else { format!("\n\n{}", response.answer) };
                let _ = tx.send(event(Event::Delta(tail.clone()))).await;
                sent.push_str(&tail);
                response.answer = sent;
                response
            }
        }
    }

    async fn stream_llm(&self, llm: &LlmClient, p: &Prepared, tx: &Sender, sent: &mut String) -> Result<ChatResponse> {
        let (prompt, definitions) = self.build_prompt(p);
        let mut messages = prompt.messages;
        let mut tool_rows = Vec::new();
        let mut round = 0;
        loop {
            let offered = if round < self.config.max_tool_rounds { &definitions[..] } else { &[] };
            let mut stream = llm.complete_stream(&messages, offered).await?;
            let (mut calls, mut round_text) = (Vec::new(), String::new());
            while let Some(item) = stream.next().await {
                match item? {
                    StreamEvent::Delta(text) => {
                        round_text.push_str(&text);
                        sent.push_str(&text);
                        let _ = tx.send(event(Event::Delta(text))).await;
                    }
                    StreamEvent::ToolCalls(c) => calls = c,
                }
            }
            if calls.is_empty() || offered.is_empty() {
                return Ok(llm_response(llm, sent.clone(), &prompt.rows, &tool_rows));
            }
            run_tools(p, &mut messages, Some(round_text), calls, &mut tool_rows);
            round += 1;
        }
    }
}
