//! The answer pipeline against the OpenAI stand-in (a real HTTP server) and
//! the in-process answer cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value as Json, json};
use sheetmesh_agent::answer::{Agent, AgentConfig, Question};
use sheetmesh_agent::cells::{number, text};
use sheetmesh_agent::index::SheetIndex;
use sheetmesh_agent::llm::{LlmClient, LlmConfig};
use sheetmesh_agent::memory::SqliteStore;
use sheetmesh_agent::testing::{Behaviour, MemoryAnswerCache, OpenAiStandIn, Reply, Responder};
use sheetmesh_proto::v1::chat_event::Event;
use sheetmesh_proto::v1::{ChatResponse, Row};

struct Harness {
    agent: Arc<Agent>,
    cache: Arc<MemoryAnswerCache>,
    llm: OpenAiStandIn,
    _dir: tempfile::TempDir,
}

const COLUMNS: [&str; 4] = ["sku", "name", "category", "price"];

/// Row `i` (spreadsheet row i + 1): SKU-000i, Kitchen for even i, price
/// (i % 40) + 0.5, except that SKU-0042 costs `price_42`.
fn products(n: u32, price_42: f64) -> Vec<Row> {
    (1..=n)
        .map(|i| {
            let price = if i == 42 { price_42 } else { f64::from(i % 40) + 0.5 };
            Row {
                number: i + 1,
                cells: vec![text(format!("SKU-{i:04}")), text(format!("Gadget {i}")), text(if i % 2 == 0 { "Kitchen" } else { "Garden" }), number(price)],
            }
        })
        .collect()
}

fn load(index: &SheetIndex, version: &str, rows: Vec<Row>) {
    index.replace_sheet("inventory.xlsx", "Products", version, COLUMNS.map(String::from).to_vec(), rows).unwrap();
}

fn llm_config(llm: &OpenAiStandIn) -> LlmConfig {
    let mut config = LlmConfig::new(llm.base_url(), "gpt-4o-mini", Some("sk-test-never-printed".into()));
    config.timeout = Duration::from_secs(5);
    config.max_retries = 2;
    config.backoff_min = Duration::from_millis(1);
    config.backoff_max = Duration::from_millis(5);
    config
}

async fn harness_with(rows: Vec<Row>, tune: impl FnOnce(&mut LlmConfig)) -> Harness {
    let llm = OpenAiStandIn::start().await;
    let index = Arc::new(SheetIndex::new().unwrap());
    load(&index, "v1", rows);
    let mut config = llm_config(&llm);
    tune(&mut config);
    let client = LlmClient::new(&config).unwrap();
    let cache = Arc::new(MemoryAnswerCache::new());
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
    let agent = Agent::new(index, Some(client), Some(cache.clone()), memory, AgentConfig::default());
    Harness { agent: Arc::new(agent), cache, llm, _dir: dir }
}

async fn harness() -> Harness {
    harness_with(products(200, 12.5), |_| {}).await
}

fn ask(message: &str) -> Question {
    Question { message: message.into(), ..Question::default() }
}

fn system_prompt(request: &Json) -> String {
    request["messages"][0]["content"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn cited_rows_values_are_in_the_prompt() {
    let h = harness().await;
    let response = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert!(!response.degraded, "{}", response.degraded_reason);
    assert_eq!(response.model, "gpt-4o-mini");
    assert_eq!(response.citations[0].row, 43);
    let prompt = system_prompt(&h.llm.chat_requests()[0]);
    assert!(prompt.contains("[Products row 43] sku: SKU-0042; name: Gadget 42; category: Kitchen; price: 12.5"), "{prompt}");
    assert!(response.answer.contains("[Products row 43]"), "{}", response.answer);
}

#[tokio::test]
async fn second_identical_question_is_a_cache_hit_without_a_second_llm_call() {
    let h = harness().await;
    let first = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    let second = h.agent.chat(ask("what does sku-0042 cost")).await.unwrap();
    assert!(!first.cached);
    assert!(second.cached);
    assert_eq!(second.answer, first.answer);
    assert_eq!(second.citations, first.citations);
    assert_eq!(h.llm.chat_calls(), 1);
    assert_ne!(first.conversation_id, second.conversation_id, "each turn is stored in its own conversation");
}

#[tokio::test]
async fn a_sheet_change_makes_a_new_key_a_new_llm_call_and_the_new_value() {
    let h = harness().await;
    let before = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert!(before.answer.contains("price: 12.5"), "{}", before.answer);
    load(h.agent.index(), "v2", products(200, 99.5));
    let after = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert!(!after.cached);
    assert!(after.answer.contains("price: 99.5"), "{}", after.answer);
    assert_eq!(h.llm.chat_calls(), 2);
    assert!(system_prompt(&h.llm.chat_requests()[1]).contains("price: 99.5"));
}

#[tokio::test]
async fn a_hundred_concurrent_identical_questions_make_one_llm_call() {
    let h = harness().await;
    // A slow first answer keeps the other 99 waiting on the lease.
    h.llm.script([Behaviour::Delay(Duration::from_millis(200))]);
    let answers: Vec<ChatResponse> = futures::future::join_all((0..100).map(|_| {
        let agent = Arc::clone(&h.agent);
        tokio::spawn(async move { agent.chat(ask("What does SKU-0042 cost?")).await.unwrap() })
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(h.llm.chat_calls(), 1);
    assert_eq!(answers.iter().filter(|a| a.cached).count(), 99);
    assert!(answers.iter().all(|a| a.answer == answers[0].answer && !a.degraded));
}

#[tokio::test]
async fn llm_500s_are_retried_then_the_answer_is_degraded() {
    let h = harness().await;
    h.llm.script(vec![Behaviour::Fail { status: 500, retry_after: None }; 3]);
    let response = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert_eq!(h.llm.chat_calls(), 3, "one attempt and two retries");
    assert!(response.degraded);
    assert_eq!(response.model, "retrieval");
    assert!(response.degraded_reason.contains("HTTP 500"), "{}", response.degraded_reason);
    assert_eq!(response.citations[0].row, 43);
    assert!(response.answer.contains("[Products row 43] sku: SKU-0042"), "{}", response.answer);
    assert!(h.cache.is_empty(), "a degraded answer is not cached");
    assert!(!response.degraded_reason.contains("sk-test"), "the key never appears");
}

#[tokio::test]
async fn rate_limit_retry_after_is_honoured() {
    let h = harness().await;
    h.llm.script([Behaviour::Fail { status: 429, retry_after: Some(Duration::from_millis(400)) }]);
    let started = Instant::now();
    let response = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert!(!response.degraded, "{}", response.degraded_reason);
    assert_eq!(h.llm.chat_calls(), 2);
    // The backoff is at most 5 ms here: only Retry-After explains the wait.
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_hanging_llm_times_out_to_a_degraded_answer() {
    let h = harness_with(products(200, 12.5), |c| c.timeout = Duration::from_millis(300)).await;
    h.llm.script([Behaviour::Hang]);
    let started = Instant::now();
    let response = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert!(response.degraded);
    assert!(response.degraded_reason.contains("did not answer within"), "{}", response.degraded_reason);
    assert_eq!(response.citations[0].row, 43);
    assert_eq!(h.llm.chat_calls(), 1, "a timeout is not retried");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_cache_being_unavailable_still_answers() {
    let h = harness().await;
    h.cache.set_unavailable(true);
    let first = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    let second = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert!(!first.degraded && !first.cached && !second.cached);
    assert_eq!(h.llm.chat_calls(), 2);
}

#[tokio::test]
async fn bypass_cache_neither_reads_nor_writes() {
    let h = harness().await;
    let bypass = || Question { bypass_cache: true, ..ask("What does SKU-0042 cost?") };
    h.agent.chat(bypass()).await.unwrap();
    h.agent.chat(bypass()).await.unwrap();
    assert_eq!(h.llm.chat_calls(), 2);
    assert!(h.cache.is_empty());
    assert_eq!(h.cache.leases.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// Calls `aggregate` (kitchen items under 20) first, then reports the tool's value.
fn aggregate_responder() -> Responder {
    Arc::new(|body: &Json| {
        let messages = body["messages"].as_array().unwrap();
        match messages.iter().rev().find(|m| m["role"] == "tool") {
            None => Reply::ToolCalls(vec![(
                "aggregate".into(),
                json!({"sheet": "Products", "op": "count", "conditions": [
                    {"column": "category", "op": "eq", "value": "kitchen"},
                    {"column": "price", "op": "lt", "value": 20}
                ]}),
            )]),
            Some(tool) => {
                let result: Json = serde_json::from_str(tool["content"].as_str().unwrap()).unwrap();
                Reply::Text(format!("There are {} kitchen items under 20.", result["value"].as_str().unwrap()))
            }
        }
    })
}

fn expected_kitchen_under_20(n: u32) -> usize {
    (1..=n).filter(|i| i % 2 == 0 && f64::from(i % 40) + 0.5 < 20.0 && *i != 42).count() + usize::from(n >= 42 && 12.5 < 20.0)
}

#[tokio::test]
async fn an_aggregate_over_10k_rows_through_a_tool_call_is_exact() {
    let h = harness_with(products(10_000, 12.5), |_| {}).await;
    h.llm.set_responder(aggregate_responder());
    let expected = expected_kitchen_under_20(10_000);
    let response = h.agent.chat(ask("How many kitchen items cost under 20?")).await.unwrap();
    assert_eq!(response.answer, format!("There are {expected} kitchen items under 20."));
    assert_eq!(h.llm.chat_calls(), 2, "one tool round, then the answer");
    let second = &h.llm.chat_requests()[1];
    assert!(second["tools"].as_array().is_some_and(|t| t.len() == 2));
    let tool_message = second["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap();
    assert!(tool_message["content"].as_str().unwrap().contains(&format!("\"rows_matched\":{expected}")));
    assert!(!response.citations.is_empty(), "the answer cites rows the tool counted");
}

#[tokio::test]
async fn a_streamed_tool_call_round_is_exact_too() {
    let h = harness_with(products(10_000, 12.5), |_| {}).await;
    h.llm.set_responder(aggregate_responder());
    let expected = expected_kitchen_under_20(10_000);
    let events: Vec<Event> = h.agent.chat_stream(ask("How many kitchen items cost under 20?")).map(|e| e.unwrap().event.unwrap()).collect().await;
    let deltas: String = events.iter().filter_map(|e| if let Event::Delta(d) = e { Some(d.as_str()) } else { None }).collect();
    let Some(Event::Done(done)) = events.last() else { panic!("stream must end with done: {events:?}") };
    assert_eq!(done.answer, format!("There are {expected} kitchen items under 20."));
    assert_eq!(deltas, done.answer);
    assert!(matches!(&events[events.len() - 2], Event::Citations(c) if c.citations == done.citations));
    assert_eq!(h.llm.chat_calls(), 2);
}

#[tokio::test]
async fn streamed_deltas_concatenate_to_the_done_answer_and_are_cached() {
    let h = harness().await;
    let events: Vec<Event> = h.agent.chat_stream(ask("What does SKU-0042 cost?")).map(|e| e.unwrap().event.unwrap()).collect().await;
    let deltas: Vec<&str> = events.iter().filter_map(|e| if let Event::Delta(d) = e { Some(d.as_str()) } else { None }).collect();
    assert!(deltas.len() > 3, "the answer arrives in pieces: {deltas:?}");
    let Some(Event::Done(done)) = events.last() else { panic!("done last") };
    assert_eq!(deltas.concat(), done.answer);
    assert_eq!(done.citations[0].row, 43);
    let again = h.agent.chat(ask("What does SKU-0042 cost?")).await.unwrap();
    assert!(again.cached);
    assert_eq!(again.answer, done.answer);
    assert_eq!(h.llm.chat_calls(), 1);
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_upstream_request() {
    let h = harness().await;
    h.llm.script([Behaviour::EndlessStream]);
    let mut stream = h.agent.chat_stream(ask("What does SKU-0042 cost?"));
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first.event, Some(Event::Delta(ref d)) if d.contains("tick")), "{first:?}");
    assert_eq!(h.llm.streams_closed(), 0);
    drop(stream);
    tokio::time::timeout(Duration::from_secs(10), h.llm.wait_for_closed_streams(1)).await.expect("the stand-in sees the upstream connection closed");
}

#[tokio::test]
async fn a_failing_stream_falls_back_to_a_degraded_answer() {
    let h = harness().await;
    h.llm.script(vec![Behaviour::Fail { status: 503, retry_after: None }; 3]);
    let events: Vec<Event> = h.agent.chat_stream(ask("What does SKU-0042 cost?")).map(|e| e.unwrap().event.unwrap()).collect().await;
    let Some(Event::Done(done)) = events.last() else { panic!("done last") };
    assert!(done.degraded && done.degraded_reason.contains("HTTP 503"), "{done:?}");
    assert_eq!(done.citations[0].row, 43);
    assert_eq!(h.llm.chat_calls(), 3);
}
