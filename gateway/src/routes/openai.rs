//! The OpenAI-compatible surface: `POST /v1/chat/completions` (plain and
//! `stream: true`) and `GET /v1/models`, so that the official SDKs work
//! unmodified with `base_url = <gateway>/v1` and the API key as their key.
//!
//! The last message must be the user's question; earlier user and
//! assistant messages become the conversation (`ChatRequest.history`);
//! system and tool messages are ignored (the agent has its own
//! instructions). Citations travel in an extra `citations` field, which
//! OpenAI clients ignore and sheetmesh-aware clients read.

use std::{
    convert::Infallible,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json,
    extract::State,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{StreamExt as _, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use sheetmesh_proto::v1::{ChatRequest, ChatResponse, ChatTurn, chat_turn::Role};

use crate::{
    clients::{Call, Service},
    error::Error,
    json::{ProtoJson, to_json},
    routes::chat::record,
    sse::{Step, steps},
    state::AppState,
};

/// The model id `/v1/models` lists; any requested model is answered by the
/// agent's configured one, which the response names.
pub const MODEL_ID: &str = "sheetmesh";

/// The request fields sheetmesh reads; others (temperature, tools, …) are
/// accepted and ignored, as OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    /// The requested model (echoed only while streaming).
    #[serde(default)]
    pub model: String,
    /// The conversation, oldest first; the last one is the question.
    pub messages: Vec<Message>,
    /// Stream `chat.completion.chunk` events.
    #[serde(default)]
    pub stream: bool,
}

/// One message.
#[derive(Debug, Deserialize)]
pub struct Message {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or content parts of which the text ones are read.
    #[serde(default)]
    pub content: Option<Content>,
}

/// `content`: a string or an array of parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Parts; `{"type": "text", "text": …}` ones are joined.
    Parts(Vec<Part>),
}

/// One content part.
#[derive(Debug, Deserialize)]
pub struct Part {
    /// The part type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    #[serde(default)]
    pub text: String,
}

impl Message {
    fn text(&self) -> String {
        match &self.content {
            Some(Content::Text(text)) => text.clone(),
            Some(Content::Parts(parts)) => parts.iter().filter(|part| part.kind == "text").map(|part| part.text.as_str()).collect::<Vec<_>>().join("\n"),
            None => String::new(),
        }
    }
}

/// The request as a `ChatRequest`: last message = question, earlier user
/// and assistant messages = history.
pub fn to_chat_request(request: &CompletionRequest) -> Result<ChatRequest, Error> {
    let Some((last, earlier)) = request.messages.split_last() else {
        return Err(Error::field("messages", "must hold at least one message"));
    };
    let index = request.messages.len() - 1;
    if last.role != "user" {
        return Err(Error::field(format!("messages[{index}].role"), "the last message must be the user's question (role \"user\")"));
    }
    let message = last.text();
    if message.trim().is_empty() {
        return Err(Error::field(format!("messages[{index}].content"), "the question must not be empty"));
    }
    let history = earlier
        .iter()
        .filter_map(|turn| {
            let role = match turn.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => return None,
            };
            Some(ChatTurn { role: role as i32, content: turn.text(), ..Default::default() })
        })
        .filter(|turn| !turn.content.is_empty())
        .collect();
    Ok(ChatRequest { message, history, ..Default::default() })
}

/// `POST /v1/chat/completions`.
pub async fn completions(State(state): State<AppState>, call: Call, ProtoJson(request): ProtoJson<CompletionRequest>) -> Result<Response, Error> {
    let chat = to_chat_request(&request)?;
    let started = Instant::now();
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let created = unix_now();
    if !request.stream {
        let response = call.run(Service::Agent, state.clients.agent.clone().chat(call.request(chat))).await?;
        record(&state.metrics, &response, started);
        return Ok(Json(completion(&id, created, &response)).into_response());
    }
    let upstream = call.run(Service::Agent, state.clients.agent.clone().chat_stream(call.stream_request(chat))).await?;
    let model = if request.model.is_empty() { MODEL_ID.to_owned() } else { request.model };
    let metrics = state.metrics.clone();
    let first = chunk(&id, created, &model, json!({ "role": "assistant", "content": "" }), None);
    let mut citations = Value::Array(Vec::new());
    let chunks = steps(upstream).filter_map(move |step| {
        let data = match step {
            Step::Delta(text) => Some(chunk(&id, created, &model, json!({ "content": text }), None)),
            Step::Citations(list) => {
                citations = list;
                None
            }
            Step::Done(response) => {
                record(&metrics, &response, started);
                let mut last = chunk(&id, created, &response.model, json!({}), Some("stop"));
                last["citations"] = if response.citations.is_empty() { citations.take() } else { to_json(response.as_ref())["citations"].take() };
                last["sheetmesh"] = json!({ "conversationId": response.conversation_id, "cached": response.cached, "degraded": response.degraded });
                Some(last)
            }
            // The SDKs raise an APIError for a chunk carrying `error`.
            Step::Failed(body) => Some(json!({ "error": { "message": body["message"], "type": "server_error", "code": body["code"] } })),
        };
        std::future::ready(data.map(|data| Event::default().data(data.to_string())))
    });
    let events = stream::once(std::future::ready(Event::default().data(first.to_string())))
        .chain(chunks)
        .chain(stream::once(std::future::ready(Event::default().data("[DONE]"))))
        .map(Ok::<_, Infallible>);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(state.sse_keep_alive).text("keep-alive")).into_response())
}

/// A whole `chat.completion`.
pub fn completion(id: &str, created: u64, response: &ChatResponse) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": response.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": response.answer, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        // The agent does not report token counts.
        "usage": { "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0 },
        "citations": to_json(response)["citations"].take(),
        "sheetmesh": { "conversationId": response.conversation_id, "cached": response.cached, "degraded": response.degraded, "degradedReason": response.degraded_reason },
    })
}

fn chunk(id: &str, created: u64, model: &str, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
    })
}

/// `GET /v1/models`.
pub async fn models() -> Json<Value> {
    Json(json!({ "object": "list", "data": [{ "id": MODEL_ID, "object": "model", "created": 0, "owned_by": "sheetmesh" }] }))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    #[test]
    fn the_last_user_message_is_the_question_and_earlier_turns_the_history() {
        let request: CompletionRequest = parse(
            br#"{"model":"gpt-4o","temperature":0.2,"messages":[
                {"role":"system","content":"be brief"},
                {"role":"user","content":"How many widgets?"},
                {"role":"assistant","content":"12."},
                {"role":"user","content":[{"type":"text","text":"And gadgets?"},{"type":"image_url","image_url":{"url":"x"}}]}
            ]}"#,
        )
        .unwrap();
        let chat = to_chat_request(&request).unwrap();
        assert_eq!(chat.message, "And gadgets?");
        let turns: Vec<(i32, &str)> = chat.history.iter().map(|turn| (turn.role, turn.content.as_str())).collect();
        assert_eq!(turns, [(Role::User as i32, "How many widgets?"), (Role::Assistant as i32, "12.")]);
    }

    #[test]
    fn a_conversation_not_ending_with_a_question_is_refused_naming_the_field() {
        let empty: CompletionRequest = parse(br#"{"messages":[]}"#).unwrap();
        assert!(matches!(to_chat_request(&empty), Err(Error::BadRequest { field: Some(field), .. }) if field == "messages"));
        let assistant_last: CompletionRequest = parse(br#"{"messages":[{"role":"assistant","content":"hi"}]}"#).unwrap();
        assert!(matches!(to_chat_request(&assistant_last), Err(Error::BadRequest { field: Some(field), .. }) if field == "messages[0].role"));
        assert!(matches!(parse::<CompletionRequest>(br#"{"model":"x"}"#), Err(Error::BadRequest { .. })));
    }

    #[test]
    fn a_completion_has_the_openai_shape_and_the_citations() {
        let response = ChatResponse { answer: "42".into(), model: "retrieval".into(), citations: vec![Default::default()], ..Default::default() };
        let value = completion("chatcmpl-1", 7, &response);
        assert_eq!(value["object"], "chat.completion");
        assert_eq!(value["choices"][0]["message"]["content"], "42");
        assert_eq!(value["choices"][0]["finish_reason"], "stop");
        assert_eq!(value["citations"].as_array().unwrap().len(), 1);
    }
}
