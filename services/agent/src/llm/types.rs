//! The chat-completions wire shapes we send and read. async-openai carries
//! them (its `byot` methods), which keeps these small and exactly the OpenAI
//! JSON, and lets the stand-in in tests speak the same types.

use serde::{Deserialize, Serialize};

/// One message of a chat-completions request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage {
    /// Instructions.
    System {
        /// Text.
        content: String,
    },
    /// The person asking.
    User {
        /// Text.
        content: String,
    },
    /// The model: text, tool calls, or both.
    Assistant {
        /// Text; absent on a pure tool-call turn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        /// Tool calls requested by the model.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// A tool result.
    Tool {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The result (JSON text).
        content: String,
    },
}

impl ChatMessage {
    /// The text of the message, if any.
    pub fn text(&self) -> &str {
        match self {
            Self::System { content } | Self::User { content } | Self::Tool { content, .. } => content,
            Self::Assistant { content, .. } => content.as_deref().unwrap_or(""),
        }
    }
}

/// A tool call as the model sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed in the tool message.
    pub id: String,
    /// Always "function".
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function and its JSON arguments.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".into()
}

/// The function part of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Tool name.
    pub name: String,
    /// JSON arguments, as text.
    #[serde(default)]
    pub arguments: String,
}

/// What a (non-streamed) completion produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    /// Answer text.
    pub content: Option<String>,
    /// Tool calls to run before the next round.
    pub tool_calls: Vec<ToolCall>,
}

/// `chat.completion` response body (the parts we read).
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionResponse {
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompletionChoice {
    pub message: ResponseMessage,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponseMessage {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
}

/// `chat.completion.chunk` body (the parts we read).
#[derive(Debug, Deserialize)]
pub(crate) struct Chunk {
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub delta: ChunkDelta,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChunkDelta {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallChunk>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallChunk {
    #[serde(default)]
    pub index: usize,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionChunk>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionChunk {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}
