//! An OpenAI API stand-in: a real HTTP server on 127.0.0.1 speaking
//! `POST /v1/chat/completions` (JSON, and SSE `chat.completion.chunk` lines
//! ending with `data: [DONE]`; text and tool calls in both), `POST
//! /v1/embeddings`, and OpenAI's error body with status codes.
//!
//! Each chat request takes the next scripted [`Behaviour`] (respond, fail
//! with a status and `Retry-After`, hang, delay, or stream without end); with
//! the script empty it responds. What it says comes from a [`Responder`].
//! Embeddings come from an [`EmbedFn`] ([`bag_of_words`] by default, so
//! texts sharing words are similar) and every embeddings request behaves as
//! [`OpenAiStandIn::set_embeddings_behaviour`] last said.
//! Every request body is recorded, and `Notify`s signal requests and closed
//! streams so tests wait on events, not sleeps.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value as Json, json};
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;

/// What the stand-in does with the next chat request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Answer with the responder's reply.
    Respond,
    /// Answer with an OpenAI error body and this status; `retry_after`
    /// becomes `retry-after-ms` and `retry-after` (whole seconds, rounded up).
    Fail {
        /// HTTP status.
        status: u16,
        /// Requested wait.
        retry_after: Option<Duration>,
    },
    /// Never answer.
    Hang,
    /// Answer after a delay.
    Delay(Duration),
    /// Stream `tick ` deltas every few milliseconds until the client goes
    /// away (then `stream_closed` fires).
    EndlessStream,
}

/// What the model says.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Text.
    Text(String),
    /// Tool calls: `(name, arguments)`.
    ToolCalls(Vec<(String, Json)>),
}

/// Picks the reply for a request body.
pub type Responder = Arc<dyn Fn(&Json) -> Reply + Send + Sync>;

/// The embedding of one input text.
pub type EmbedFn = Arc<dyn Fn(&str) -> Vec<f32> + Send + Sync>;

/// Dimensions of [`bag_of_words`] vectors.
pub const EMBEDDING_DIMS: usize = 1024;

/// A bag-of-words embedding: each lowercased alphanumeric word adds 1 to a
/// dimension picked by its hash, so the cosine of two texts grows with the
/// words they share. Deterministic, and meaningful enough to assert on.
pub fn bag_of_words() -> EmbedFn {
    bag_of_words_with_synonyms(&[])
}

/// [`bag_of_words`] where each `(word, stands_for)` pair counts `word` as
/// `stands_for`: lets a test make `couch` mean `sofa` to the "model" while
/// no word of the query appears in the row.
pub fn bag_of_words_with_synonyms(synonyms: &[(&str, &str)]) -> EmbedFn {
    let synonyms: std::collections::HashMap<String, String> = synonyms.iter().map(|(w, s)| (w.to_lowercase(), s.to_lowercase())).collect();
    Arc::new(move |text: &str| {
        let mut vector = vec![0.0_f32; EMBEDDING_DIMS];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let word = word.to_lowercase();
            let word = synonyms.get(&word).unwrap_or(&word);
            // FNV-1a: stable across runs and platforms, unlike std's hasher.
            let hash = word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
            vector[(hash % EMBEDDING_DIMS as u64) as usize] += 1.0;
        }
        vector
    })
}

/// The default responder: after a tool result, reports it; otherwise quotes
/// the first row line of the system prompt with its citation, or says the
/// data does not contain the answer.
pub fn default_responder() -> Responder {
    Arc::new(|body: &Json| {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        if let Some(last) = messages.last().filter(|m| m["role"] == "tool") {
            return Reply::Text(format!("The tool says: {}", last["content"].as_str().unwrap_or_default()));
        }
        let system = messages.first().and_then(|m| m["content"].as_str()).unwrap_or_default();
        match system.lines().find(|l| l.starts_with('[') && l.contains(" row ")) {
            Some(line) => Reply::Text(format!("From the data: {line}")),
            None => Reply::Text("The data does not contain the answer.".into()),
        }
    })
}

struct Shared {
    script: Mutex<VecDeque<Behaviour>>,
    responder: Mutex<Responder>,
    requests: Mutex<Vec<(String, Json)>>,
    chat_calls: AtomicUsize,
    embedder: Mutex<EmbedFn>,
    embeddings_behaviour: Mutex<Behaviour>,
    embedding_calls: AtomicUsize,
    streams_closed: AtomicUsize,
    request_seen: Notify,
    stream_closed: Notify,
}

/// The running stand-in; stops when dropped.
pub struct OpenAiStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for OpenAiStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiStandIn").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for OpenAiStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OpenAiStandIn {
    /// Starts on a free loopback port with [`default_responder`].
    pub async fn start() -> Self {
        Self::start_with(default_responder()).await
    }

    /// Starts with `responder`.
    pub async fn start_with(responder: Responder) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            responder: Mutex::new(responder),
            requests: Mutex::new(Vec::new()),
            chat_calls: AtomicUsize::new(0),
            embedder: Mutex::new(bag_of_words()),
            embeddings_behaviour: Mutex::new(Behaviour::Respond),
            embedding_calls: AtomicUsize::new(0),
            streams_closed: AtomicUsize::new(0),
            request_seen: Notify::new(),
            stream_closed: Notify::new(),
        });
        let router = Router::new().route("/v1/chat/completions", post(chat)).route("/v1/embeddings", post(embeddings)).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the OpenAI stand-in");
        let addr = listener.local_addr().expect("stand-in address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:<port>/v1`, for `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues behaviours for the next chat requests, in order.
    pub fn script(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.shared.script.lock().unwrap_or_else(|e| e.into_inner()).extend(behaviours);
    }

    /// Replaces the responder.
    pub fn set_responder(&self, responder: Responder) {
        *self.shared.responder.lock().unwrap_or_else(|e| e.into_inner()) = responder;
    }

    /// Replaces the embedding function.
    pub fn set_embedder(&self, embedder: EmbedFn) {
        *self.shared.embedder.lock().unwrap_or_else(|e| e.into_inner()) = embedder;
    }

    /// How every embeddings request behaves from now on
    /// ([`Behaviour::EndlessStream`] means [`Behaviour::Hang`] here).
    pub fn set_embeddings_behaviour(&self, behaviour: Behaviour) {
        *self.shared.embeddings_behaviour.lock().unwrap_or_else(|e| e.into_inner()) = behaviour;
    }

    /// Embeddings requests received so far (failed and hung ones too).
    pub fn embedding_calls(&self) -> usize {
        self.shared.embedding_calls.load(Ordering::SeqCst)
    }

    /// Bodies of the embeddings requests, in arrival order.
    pub fn embedding_requests(&self) -> Vec<Json> {
        self.requests_to("/v1/embeddings")
    }

    /// Waits until at least `n` embeddings requests have arrived.
    pub async fn wait_for_embedding_calls(&self, n: usize) {
        loop {
            let seen = self.shared.request_seen.notified();
            tokio::pin!(seen);
            seen.as_mut().enable();
            if self.embedding_calls() >= n {
                return;
            }
            seen.await;
        }
    }

    /// Chat-completion requests received so far (failed and hung ones too).
    pub fn chat_calls(&self) -> usize {
        self.shared.chat_calls.load(Ordering::SeqCst)
    }

    /// Bodies of the chat-completion requests, in arrival order.
    pub fn chat_requests(&self) -> Vec<Json> {
        self.requests_to("/v1/chat/completions")
    }

    /// Bodies of requests to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Json> {
        let requests = self.shared.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests.iter().filter(|(p, _)| p == path).map(|(_, b)| b.clone()).collect()
    }

    /// Waits until at least `n` chat requests have arrived.
    pub async fn wait_for_chat_calls(&self, n: usize) {
        loop {
            let seen = self.shared.request_seen.notified();
            tokio::pin!(seen);
            seen.as_mut().enable();
            if self.chat_calls() >= n {
                return;
            }
            seen.await;
        }
    }

    /// Streams whose client went away before the end.
    pub fn streams_closed(&self) -> usize {
        self.shared.streams_closed.load(Ordering::SeqCst)
    }

    /// Waits until a stream's client has gone away (at least `n` in total).
    pub async fn wait_for_closed_streams(&self, n: usize) {
        loop {
            let closed = self.shared.stream_closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.streams_closed() >= n {
                return;
            }
            closed.await;
        }
    }
}

fn record(shared: &Shared, path: &str, body: &Json) {
    shared.requests.lock().unwrap_or_else(|e| e.into_inner()).push((path.to_owned(), body.clone()));
}

async fn chat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let body: Json = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(400, &format!("invalid JSON body: {e}"), "invalid_request_error", None),
    };
    record(&shared, "/v1/chat/completions", &body);
    shared.chat_calls.fetch_add(1, Ordering::SeqCst);
    shared.request_seen.notify_waiters();
    let behaviour = shared.script.lock().unwrap_or_else(|e| e.into_inner()).pop_front().unwrap_or(Behaviour::Respond);
    let stream = body["stream"].as_bool().unwrap_or(false);
    match behaviour {
        Behaviour::Fail { status, retry_after } => {
            let kind = if status == 429 { "rate_limit_error" } else { "server_error" };
            error(status, "The stand-in was told to fail this request.", kind, retry_after)
        }
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Delay(delay) => {
            tokio::time::sleep(delay).await;
            respond(&shared, &body, stream)
        }
        Behaviour::EndlessStream => endless(shared),
        Behaviour::Respond => respond(&shared, &body, stream),
    }
}

fn respond(shared: &Shared, body: &Json, stream: bool) -> Response {
    let responder = Arc::clone(&shared.responder.lock().unwrap_or_else(|e| e.into_inner()));
    let reply = responder(body);
    let model = body["model"].as_str().unwrap_or("stand-in").to_owned();
    if stream { sse(chunks(&model, &reply)) } else { axum::Json(completion(&model, &reply)).into_response() }
}

fn tool_calls_json(calls: &[(String, Json)]) -> Vec<Json> {
    calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| json!({"id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
        .collect()
}

fn completion(model: &str, reply: &Reply) -> Json {
    let (message, finish) = match reply {
        Reply::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Reply::ToolCalls(calls) => (json!({"role": "assistant", "content": null, "tool_calls": tool_calls_json(calls)}), "tool_calls"),
    };
    json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

fn chunk(model: &str, delta: Json, finish: Option<&str>) -> Json {
    json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    })
}

/// The chunks of a reply: role, content word by word (or each tool call's
/// name, then its arguments in two pieces), then the finish reason.
fn chunks(model: &str, reply: &Reply) -> Vec<Json> {
    let mut out = vec![chunk(model, json!({"role": "assistant", "content": ""}), None)];
    match reply {
        Reply::Text(text) => {
            for piece in text.split_inclusive(' ') {
                out.push(chunk(model, json!({"content": piece}), None));
            }
            out.push(chunk(model, json!({}), Some("stop")));
        }
        Reply::ToolCalls(calls) => {
            for (i, call) in tool_calls_json(calls).into_iter().enumerate() {
                let args = call["function"]["arguments"].as_str().unwrap_or_default().to_owned();
                let (first, second) = args.split_at(args.len() / 2);
                let head = json!({"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}});
                out.push(chunk(model, json!({"tool_calls": [head]}), None));
                for part in [first, second] {
                    out.push(chunk(model, json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}), None));
                }
            }
            out.push(chunk(model, json!({}), Some("tool_calls")));
        }
    }
    out
}

fn sse_headers(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert("content-type", HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

fn sse(chunks: Vec<Json>) -> Response {
    let mut text = String::new();
    for c in chunks {
        text.push_str(&format!("data: {c}\n\n"));
    }
    text.push_str("data: [DONE]\n\n");
    sse_headers(Body::from(text))
}

/// Ticks until the client disconnects: hyper then drops the body, the
/// producer's send fails, and `stream_closed` fires.
fn endless(shared: Arc<Shared>) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(1);
    tokio::spawn(async move {
        let first = chunk("stand-in", json!({"role": "assistant", "content": ""}), None);
        let mut frame = Bytes::from(format!("data: {first}\n\n"));
        loop {
            if tx.send(Ok(frame)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            frame = Bytes::from(format!("data: {}\n\n", chunk("stand-in", json!({"content": "tick "}), None)));
        }
        shared.streams_closed.fetch_add(1, Ordering::SeqCst);
        shared.stream_closed.notify_waiters();
    });
    sse_headers(Body::from_stream(ReceiverStream::new(rx)))
}

fn error(status: u16, message: &str, kind: &str, retry_after: Option<Duration>) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body)).into_response();
    if let Some(wait) = retry_after {
        let headers = response.headers_mut();
        headers.insert("retry-after-ms", HeaderValue::from(wait.as_millis() as u64));
        headers.insert("retry-after", HeaderValue::from(wait.as_secs_f64().ceil() as u64));
    }
    response
}

/// Embeddings from the [`EmbedFn`], in OpenAI's response shape, with `data`
/// in REVERSE order: OpenAI does not promise the order, so a client must
/// place each vector by its `index`.
async fn embeddings(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let body: Json = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(400, &format!("invalid JSON body: {e}"), "invalid_request_error", None),
    };
    record(&shared, "/v1/embeddings", &body);
    shared.embedding_calls.fetch_add(1, Ordering::SeqCst);
    shared.request_seen.notify_waiters();
    let behaviour = shared.embeddings_behaviour.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match behaviour {
        Behaviour::Fail { status, retry_after } => {
            let kind = if status == 429 { "rate_limit_error" } else { "server_error" };
            return error(status, "The stand-in was told to fail this request.", kind, retry_after);
        }
        Behaviour::Hang | Behaviour::EndlessStream => std::future::pending().await,
        Behaviour::Delay(delay) => tokio::time::sleep(delay).await,
        Behaviour::Respond => {}
    }
    let inputs: Vec<String> = match &body["input"] {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items.iter().map(|i| i.as_str().unwrap_or_default().to_owned()).collect(),
        _ => return error(400, "'input' must be a string or an array of strings", "invalid_request_error", None),
    };
    if inputs.iter().any(String::is_empty) {
        return error(400, "'$.input' is invalid: inputs must not be empty strings", "invalid_request_error", None);
    }
    let embed = Arc::clone(&shared.embedder.lock().unwrap_or_else(|e| e.into_inner()));
    let data: Vec<Json> =
        inputs.iter().enumerate().rev().map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": embed(text)})).collect();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()}
    }))
    .into_response()
}
