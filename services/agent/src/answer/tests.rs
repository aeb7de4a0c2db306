//! Offline (no LLM) answers; LLM, cache and streaming paths are covered by
//! `tests/answers.rs` against the OpenAI stand-in.

use std::sync::Arc;

use futures::StreamExt;
use sheetmesh_proto::v1::{Row, SearchRequest, chat_event::Event};

use super::*;
use crate::cells::{number, text};
use crate::memory::SqliteStore;

async fn agent() -> (Arc<Agent>, tempfile::TempDir) {
    let index = Arc::new(SheetIndex::new().unwrap());
    let rows = (1..=100).map(|i| Row { number: i + 1, cells: vec![text(format!("SKU-{i:04}")), text(format!("Item {i}")), number(f64::from(i))] }).collect();
    index.replace_sheet("inv.xlsx", "Products", "v1", vec!["sku".into(), "name".into(), "price".into()], rows).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
    (Arc::new(Agent::new(index, None, None, memory, AgentConfig::default())), dir)
}

fn ask(message: &str) -> Question {
    Question { message: message.into(), ..Question::default() }
}

#[tokio::test]
async fn offline_answer_lists_best_rows_and_is_degraded() {
    let (agent, _dir) = agent().await;
    let response = agent.chat(ask("What is SKU-0042?")).await.unwrap();
    assert!(response.degraded);
    assert_eq!(response.model, "retrieval");
    assert!(response.degraded_reason.contains("No language model is configured"));
    assert_eq!(response.citations[0].row, 43);
    assert!(response.answer.contains("[Products row 43] sku: SKU-0042; name: Item 42; price: 42"), "{}", response.answer);
    assert!(!response.conversation_id.is_empty());
}

#[tokio::test]
async fn turns_are_remembered_unless_history_is_given() {
    let (agent, _dir) = agent().await;
    let first = agent.chat(ask("SKU-0001")).await.unwrap();
    let conversation = agent.get_conversation(&first.conversation_id).await.unwrap();
    assert_eq!(conversation.turns.len(), 2);
    assert_eq!(conversation.turns[1].citations, first.citations);
    let with_history = Question { history: conversation.turns.clone(), ..ask("SKU-0002") };
    assert!(agent.chat(with_history).await.unwrap().conversation_id.is_empty());
    agent.delete_conversation(&first.conversation_id).await.unwrap();
    assert!(matches!(agent.get_conversation(&first.conversation_id).await, Err(Error::ConversationNotFound(_))));
    assert!(matches!(agent.delete_conversation(&first.conversation_id).await, Err(Error::ConversationNotFound(_))));
}

#[tokio::test]
async fn invalid_arguments_are_rejected() {
    let (agent, _dir) = agent().await;
    assert!(matches!(agent.chat(ask("")).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(agent.chat(ask(&"x".repeat(8_001))).await, Err(Error::InvalidArgument(_))));
    let bad_id = Question { conversation_id: "no spaces allowed".into(), ..ask("hi") };
    assert!(matches!(agent.chat(bad_id).await, Err(Error::InvalidArgument(_))));
    let search = SearchRequest { query: "x".into(), sheets: vec![], limit: 101 };
    assert!(matches!(agent.search(&search).await, Err(Error::InvalidArgument(_))));
}

#[tokio::test]
async fn offline_stream_sends_delta_citations_then_done() {
    let (agent, _dir) = agent().await;
    let events: Vec<_> = agent.chat_stream(ask("SKU-0007")).collect().await;
    assert_eq!(events.len(), 3);
    let events: Vec<Event> = events.into_iter().map(|e| e.unwrap().event.unwrap()).collect();
    let (Event::Delta(delta), Event::Citations(citations), Event::Done(done)) = (&events[0], &events[1], &events[2]) else {
        panic!("unexpected events {events:?}");
    };
    assert_eq!(delta, &done.answer);
    assert_eq!(citations.citations, done.citations);
    assert_eq!(done.citations[0].row, 8);
}

#[tokio::test]
async fn offline_comparison_questions_are_answered_exactly_over_every_row() {
    let (agent, _dir) = agent().await;
    let response = agent.chat(ask("Which items have a price under 10?")).await.unwrap();
    assert!(response.degraded);
    assert!(response.answer.starts_with("9 rows of Products have price under 10 (100 rows checked):"), "{}", response.answer);
    let rows: Vec<u32> = response.citations.iter().map(|c| c.row).collect();
    assert_eq!(rows, (2..=10).collect::<Vec<u32>>(), "exactly the rows with price 1 to 9, in sheet order");
    assert!(response.answer.contains("[Products row 10] sku: SKU-0009; name: Item 9; price: 9"), "{}", response.answer);
    assert!(response.degraded_reason.contains("checked over every row"), "{}", response.degraded_reason);

    // More matches than are listed: the count is still exact.
    let response = agent.chat(ask("products priced at least $50")).await.unwrap();
    assert!(response.answer.starts_with("51 rows of Products have price at least 50 (100 rows checked):"), "{}", response.answer);
    assert_eq!(response.citations.len(), super::offline::MATCHES_SHOWN);
    assert!(response.answer.contains("…and 31 more."), "{}", response.answer);

    let response = agent.chat(ask("anything with a price over 1000?")).await.unwrap();
    assert_eq!(response.answer.lines().next(), Some("No row of Products has price over 1000 (100 rows checked)."));
    assert!(response.citations.is_empty());
}

#[tokio::test]
async fn status_reports_offline_mode_and_index_size() {
    let (agent, _dir) = agent().await;
    assert!(!agent.status().ready);
    agent.mark_ready();
    let status = agent.status();
    assert_eq!((status.llm_mode.as_str(), status.indexed_rows, status.indexed_sheets, status.ready), ("offline", 100, 1, true));
    assert_eq!((status.embedding_model.as_str(), status.embedded_sheets), ("", 0), "no embedding model: semantic search is off");
    assert!(status.last_index_update.is_some());
}
