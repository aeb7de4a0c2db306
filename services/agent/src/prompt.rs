//! The prompt: system instructions, the best rows one line each, the
//! conversation tail and the question, within a token budget.

use std::sync::Arc;

use sheetmesh_proto::v1::chat_turn::Role;
use sheetmesh_proto::v1::{ChatTurn, Citation};

use crate::cells::citation_line;
use crate::index::Sheet;
use crate::llm::ChatMessage;

/// Part of the answer-cache key: a change to the instructions or the layout
/// below must not serve answers produced by the old prompt.
pub const PROMPT_VERSION: &str = "sheetmesh-prompt-2";

/// Longest single row line; longer rows are cut (a row of essays must not
/// push every other row out of the budget).
const MAX_ROW_CHARS: usize = 1_200;

const INSTRUCTIONS: &str = "You answer questions about spreadsheet data.\n\
Rules:\n\
- Answer only from the rows below and from tool results; never use outside knowledge or guess.\n\
- Cite every row you rely on as [Sheet row N], exactly as the rows are labelled.\n\
- If the data does not contain the answer, say plainly that the data does not contain it.\n\
- Be brief and use Markdown where it helps.";

const TOOL_INSTRUCTIONS: &str = "- For counts, sums, averages, minimums and maximums call the `aggregate` tool; \
to list rows matching conditions call `filter_rows`. Never count rows yourself: the rows below are only the best \
matches, not the whole sheet.";

/// Rough token count (~4 characters per token): good enough for budgeting
/// without shipping a tokenizer.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// What goes into a prompt.
#[derive(Debug, Clone, Copy)]
pub struct PromptParts<'a> {
    /// The question.
    pub question: &'a str,
    /// Retrieved rows, best first.
    pub rows: &'a [Citation],
    /// Earlier turns, oldest first.
    pub tail: &'a [ChatTurn],
    /// Sheets in scope (named with their columns so the model knows them).
    pub sheets: &'a [Arc<Sheet>],
    /// Whether the tools are offered.
    pub tools: bool,
}

/// A built prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Messages in order: system, tail, question.
    pub messages: Vec<ChatMessage>,
    /// The rows that fit, best first.
    pub rows: Vec<Citation>,
    /// Estimated tokens of all messages.
    pub estimated_tokens: usize,
}

/// Builds the prompt within `budget` tokens. The instructions and the question
/// always go in; then rows in rank order while they fit; then the newest
/// turns of the tail while they fit.
pub fn build(parts: PromptParts<'_>, budget: usize) -> Prompt {
    let mut system = String::from(INSTRUCTIONS);
    if parts.tools {
        system.push('\n');
        system.push_str(TOOL_INSTRUCTIONS);
    }
    if !parts.sheets.is_empty() {
        system.push_str("\n\nSheets:");
        for sheet in parts.sheets {
            system.push_str(&format!("\n- {} ({} rows; columns: {})", sheet.name, sheet.rows.len(), sheet.columns.join(", ")));
        }
    }
    let mut used = estimate_tokens(&system) + estimate_tokens(parts.question);
    let mut rows = Vec::new();
    let mut lines = String::new();
    for row in parts.rows {
        let mut line = citation_line(row);
        if line.chars().count() > MAX_ROW_CHARS {
            line = line.chars().take(MAX_ROW_CHARS).collect::<String>() + "…";
        }
        let cost = estimate_tokens(&line) + 1;
        if used + cost > budget {
            break;
        }
        used += cost;
        lines.push('\n');
        lines.push_str(&line);
        rows.push(row.clone());
    }
    if rows.is_empty() {
        system.push_str("\n\nRows: none of the rows match the question.");
    } else {
        system.push_str("\n\nRows (best matches first):");
        system.push_str(&lines);
    }
    let mut tail = Vec::new();
    for turn in parts.tail.iter().rev() {
        let cost = estimate_tokens(&turn.content) + 4;
        if used + cost > budget {
            break;
        }
        used += cost;
        tail.push(match Role::try_from(turn.role).unwrap_or(Role::User) {
            Role::Assistant => ChatMessage::Assistant { content: Some(turn.content.clone()), tool_calls: Vec::new() },
            Role::User | Role::Unspecified => ChatMessage::User { content: turn.content.clone() },
        });
    }
    tail.reverse();
    let mut messages = Vec::with_capacity(tail.len() + 2);
    messages.push(ChatMessage::System { content: system });
    messages.extend(tail);
    messages.push(ChatMessage::User { content: parts.question.to_owned() });
    let estimated_tokens = messages.iter().map(|m| estimate_tokens(m.text()) + 4).sum();
    Prompt { messages, rows, estimated_tokens }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::{fields, number, text};

    fn row(n: u32, name: &str) -> Citation {
        Citation {
            sheet: "Products".into(),
            spreadsheet: "inv.xlsx".into(),
            row: n,
            values: fields(&["sku".into(), "name".into(), "price".into()], &[text(format!("SKU-{n:04}")), text(name), number(12.5)]),
            score: 1.0,
        }
    }

    fn turn(role: Role, content: &str) -> ChatTurn {
        ChatTurn { role: role as i32, content: content.into(), citations: vec![], created_at: None }
    }

    #[test]
    fn rows_are_one_line_each_after_the_instructions() {
        let rows = [row(43, "Garlic press")];
        let prompt = build(PromptParts { question: "price of SKU-0043?", rows: &rows, tail: &[], sheets: &[], tools: false }, 2_000);
        let system = prompt.messages[0].text();
        assert!(system.starts_with(INSTRUCTIONS));
        assert!(system.contains("\n[Products row 43] sku: SKU-0043; name: Garlic press; price: 12.5"));
        assert!(system.contains("the data does not contain the answer") || system.contains("does not contain it"));
        assert_eq!(prompt.messages.last().unwrap(), &ChatMessage::User { content: "price of SKU-0043?".into() });
    }

    #[test]
    fn budget_keeps_best_rows_and_newest_turns() {
        let rows: Vec<Citation> = (1..=200).map(|n| row(n, "A fairly long product name for budgeting")).collect();
        let tail = [turn(Role::User, &"old ".repeat(200)), turn(Role::User, "newest question"), turn(Role::Assistant, "newest answer")];
        let prompt = build(PromptParts { question: "q", rows: &rows, tail: &tail, sheets: &[], tools: true }, 600);
        assert!(prompt.rows.len() < 200 && !prompt.rows.is_empty());
        assert_eq!(prompt.rows[0].row, 1, "rank order is kept");
        assert!(prompt.estimated_tokens <= 600 + 4 * prompt.messages.len(), "{}", prompt.estimated_tokens);
        let texts: Vec<&str> = prompt.messages.iter().map(ChatMessage::text).collect();
        assert!(!texts.iter().any(|t| t.starts_with("old old")), "the oldest long turn is dropped first");
    }

    #[test]
    fn tail_turns_keep_their_roles_in_order() {
        let tail = [turn(Role::User, "first"), turn(Role::Assistant, "reply")];
        let prompt = build(PromptParts { question: "next", rows: &[], tail: &tail, sheets: &[], tools: false }, 2_000);
        assert_eq!(prompt.messages.len(), 4);
        assert_eq!(prompt.messages[1], ChatMessage::User { content: "first".into() });
        assert!(matches!(&prompt.messages[2], ChatMessage::Assistant { content: Some(c), .. } if c == "reply"));
        assert!(prompt.messages[0].text().contains("none of the rows match"));
    }
}
