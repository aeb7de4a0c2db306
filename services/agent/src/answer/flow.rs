//! Computing an answer: the LLM with tool rounds, or retrieval-only.

use sheetmesh_proto::v1::{ChatResponse, Citation};

use super::offline::{OfflineKind, RETRIEVAL_MODEL, answer_citations, comparison_answer, degraded_reason, retrieval_answer};
use super::{Agent, Prepared};
use crate::error::{Error, Result};
use crate::llm::{ChatMessage, LlmClient, ToolCall};
use crate::prompt::{self, Prompt, PromptParts};
use crate::tools::openai as tools;
use crate::tools::phrase::read_comparison;

impl Agent {
    /// The answer for `p`, never an error: retrieval-only when there is no
    /// LLM or it fails after retries or times out.
    pub(crate) async fn compute(&self, p: &Prepared) -> ChatResponse {
        let Some(llm) = &self.llm else { return offline_response(p, None) };
        match self.llm_answer(llm, p).await {
            Ok(response) => response,
            Err(err) => {
                tracing::warn!(error = %err, "LLM answer failed; answering retrieval-only");
                offline_response(p, Some(&err))
            }
        }
    }

    pub(crate) fn build_prompt(&self, p: &Prepared) -> (Prompt, Vec<serde_json::Value>) {
        let prompt = prompt::build(
            PromptParts { question: &p.question, rows: &p.rows, tail: &p.tail, sheets: &p.scope, tools: !p.scope.is_empty() },
            self.config.prompt_budget_tokens,
        );
        (prompt, tools::definitions(&p.scope))
    }

    async fn llm_answer(&self, llm: &LlmClient, p: &Prepared) -> Result<ChatResponse> {
        let (prompt, definitions) = self.build_prompt(p);
        let mut messages = prompt.messages;
        let mut tool_rows = Vec::new();
        let mut round = 0;
        let answer = loop {
            // The last round offers no tools, so the model must answer.
            let offered = if round < self.config.max_tool_rounds { &definitions[..] } else { &[] };
            let completion = llm.complete(&messages, offered).await?;
            if completion.tool_calls.is_empty() || offered.is_empty() {
                break completion.content.unwrap_or_default();
            }
            run_tools(p, &mut messages, completion.content, completion.tool_calls, &mut tool_rows);
            round += 1;
        };
        Ok(llm_response(llm, answer, &prompt.rows, &tool_rows))
    }
}

/// Runs the tool calls of one round and appends the assistant turn and the
/// tool results to `messages`. Errors go back to the model as results, so it
/// can correct a wrong sheet or column name.
pub(crate) fn run_tools(p: &Prepared, messages: &mut Vec<ChatMessage>, content: Option<String>, calls: Vec<ToolCall>, tool_rows: &mut Vec<Citation>) {
    let content = content.filter(|c| !c.is_empty());
    messages.push(ChatMessage::Assistant { content, tool_calls: calls.clone() });
    for call in calls {
        let result = match tools::execute(&p.scope, &call.function.name, &call.function.arguments) {
            Ok(output) => {
                for citation in output.citations {
                    if !tool_rows.iter().any(|c| c.row == citation.row && c.sheet == citation.sheet) {
                        tool_rows.push(citation);
                    }
                }
                output.content
            }
            Err(err) => tools::error_content(&err),
        };
        messages.push(ChatMessage::Tool { tool_call_id: call.id, content: result.to_string() });
    }
}

pub(crate) fn llm_response(llm: &LlmClient, answer: String, prompt_rows: &[Citation], tool_rows: &[Citation]) -> ChatResponse {
    let citations = answer_citations(&answer, prompt_rows, tool_rows);
    ChatResponse {
        conversation_id: String::new(),
        answer,
        citations,
        model: llm.model().to_owned(),
        cached: false,
        degraded: false,
        degraded_reason: String::new(),
    }
}

/// The response without the LLM; `err` is why it gave none. A question
/// holding a numeric comparison ("stock under 20") is answered exactly over
/// every row; any other lists the best-matching rows.
pub(crate) fn offline_response(p: &Prepared, err: Option<&Error>) -> ChatResponse {
    let exact = read_comparison(&p.question, &p.scope).and_then(|comparison| {
        let reason = degraded_reason(err, OfflineKind::ExactComparison);
        comparison_answer(&comparison, &reason).map(|answer| (answer, reason))
    });
    let ((answer, citations), reason) = exact.unwrap_or_else(|| {
        let reason = degraded_reason(err, OfflineKind::BestRows);
        (retrieval_answer(&p.rows, &reason), reason)
    });
    ChatResponse {
        conversation_id: String::new(),
        answer,
        citations,
        model: RETRIEVAL_MODEL.to_owned(),
        cached: false,
        degraded: true,
        degraded_reason: reason,
    }
}
