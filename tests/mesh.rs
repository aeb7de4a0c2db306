//! The three services together, as `sheetmesh up` runs them: grounded
//! answers with citations, an answer cache that is never stale, memory that
//! survives a restart, start order that does not matter.

mod support;

use std::{path::Path, time::Duration};

use sheetmesh_agent::testing::OpenAiStandIn;
use sheetmesh_common::testing::RedisServer;
use sheetmesh_proto::v1::{
    ChatRequest, DeleteConversationRequest, GetConversationRequest, GetStatusRequest, NotifyRequest, SearchRequest, SyncRequest, chat_event::Event,
};
use support::mesh::{Mesh, base_env};
use tonic::Code;

const PRODUCTS: &str = "products.csv";

/// A products sheet where SKU-0003 costs `price`.
fn write_products(dir: &Path, price: &str) {
    let mut csv = String::from("sku,name,category,price,stock\n");
    for i in 1..=60 {
        let (name, category) = match i % 3 {
            0 => ("Chef knife", "Kitchen"),
            1 => ("Garden hose", "Garden"),
            _ => ("Desk lamp", "Office"),
        };
        let row_price = if i == 3 { price.to_owned() } else { format!("{}.5", 10 + i) };
        csv.push_str(&format!("SKU-{i:04},{name} {i},{category},{row_price},{}\n", i * 2));
    }
    std::fs::write(dir.join(PRODUCTS), csv).unwrap();
}

fn question(message: &str) -> ChatRequest {
    ChatRequest { message: message.to_owned(), ..ChatRequest::default() }
}

/// Waits until the agent's index answers `query` with a row containing `needle`.
async fn wait_indexed(mesh: &Mesh, query: &str, needle: &str) {
    let mut agent = mesh.agent();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let hits = agent.search(SearchRequest { query: query.to_owned(), sheets: vec![], limit: 3 }).await.unwrap().into_inner().hits;
            if hits.iter().any(|hit| format!("{:?}", hit.values).contains(needle)) {
                return;
            }
            // The index follows WatchChanges in another task: poll its answer.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "the agent never indexed {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_answers_cite_the_row_that_holds_the_answer() {
    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_products(sheets.path(), "12.5");
    let mesh = Mesh::start(base_env(sheets.path(), data.path())).await;
    mesh.agent_ready().await;
    let mut agent = mesh.agent();

    let answer = agent.chat(question("What does SKU-0003 cost?")).await.unwrap().into_inner();
    assert!(answer.degraded, "no LLM is configured: the answer must say it is retrieval-only");
    let top = &answer.citations[0];
    assert_eq!((top.sheet.as_str(), top.spreadsheet.as_str(), top.row), ("products", PRODUCTS, 4));
    assert!(format!("{:?}", top.values).contains("12.5"), "{:?}", top.values);
    assert!(answer.answer.contains("SKU-0003"), "{}", answer.answer);

    let status = agent.get_status(GetStatusRequest {}).await.unwrap().into_inner();
    assert_eq!((status.llm_mode.as_str(), status.indexed_rows, status.ready), ("offline", 60, true));

    let empty = agent.chat(question("")).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_is_reused_until_the_sheet_changes() {
    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_products(sheets.path(), "12.5");
    let redis = RedisServer::start().await;
    let llm = OpenAiStandIn::start().await;
    let env = base_env(sheets.path(), data.path()).with("REDIS_URL", redis.url()).with("OPENAI_BASE_URL", llm.base_url()).with("OPENAI_API_KEY", "sk-test");
    let mesh = Mesh::start(env).await;
    mesh.agent_ready().await;
    let mut agent = mesh.agent();

    let first = agent.chat(question("What does SKU-0003 cost?")).await.unwrap().into_inner();
    assert!(!first.cached && !first.degraded, "{first:?}");
    assert_eq!(llm.chat_calls(), 1);
    let prompt = llm.chat_requests()[0].to_string();
    assert!(prompt.contains("SKU-0003") && prompt.contains("12.5"), "the cited row is not in the prompt");

    let second = agent.chat(question("what does sku-0003 cost")).await.unwrap().into_inner();
    assert!(second.cached, "the same question must be answered from the cache");
    assert_eq!(llm.chat_calls(), 1, "a cache hit called the LLM");

    write_products(sheets.path(), "99.0");
    let synced = mesh.sheets().sync(SyncRequest { spreadsheet: PRODUCTS.to_owned() }).await.unwrap().into_inner();
    assert!(synced.results.iter().any(|result| result.changed));
    wait_indexed(&mesh, "SKU-0003", "99").await;

    let third = agent.chat(question("What does SKU-0003 cost?")).await.unwrap().into_inner();
    assert!(!third.cached, "a changed sheet must not be answered from the cache");
    assert_eq!(llm.chat_calls(), 2);
    assert!(llm.chat_requests()[1].to_string().contains("99"), "the new price is not in the prompt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_makes_the_next_answer_fresh() {
    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_products(sheets.path(), "12.5");
    let mesh = Mesh::start(base_env(sheets.path(), data.path())).await;
    mesh.agent_ready().await;

    write_products(sheets.path(), "77.25");
    let mut sheets_client = mesh.sheets();
    for _ in 0..20 {
        let scheduled =
            sheets_client.notify(NotifyRequest { spreadsheet: PRODUCTS.to_owned(), ..NotifyRequest::default() }).await.unwrap().into_inner().scheduled;
        assert!(scheduled);
    }
    let unknown = sheets_client.notify(NotifyRequest { spreadsheet: "nope.csv".to_owned(), ..NotifyRequest::default() }).await.unwrap().into_inner();
    assert!(!unknown.scheduled);
    wait_indexed(&mesh, "SKU-0003", "77.25").await;
    let answer = mesh.agent().chat(question("What does SKU-0003 cost?")).await.unwrap().into_inner();
    assert!(format!("{:?}", answer.citations[0].values).contains("77.25"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_sends_deltas_then_citations_then_done() {
    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_products(sheets.path(), "12.5");
    let llm = OpenAiStandIn::start().await;
    let env = base_env(sheets.path(), data.path()).with("OPENAI_BASE_URL", llm.base_url());
    let mesh = Mesh::start(env).await;
    mesh.agent_ready().await;

    let mut stream = mesh.agent().chat_stream(question("What does SKU-0003 cost?")).await.unwrap().into_inner();
    let mut kinds = Vec::new();
    let mut text = String::new();
    while let Some(event) = stream.message().await.unwrap() {
        match event.event.unwrap() {
            Event::Delta(delta) => {
                text.push_str(&delta);
                kinds.push("delta");
            }
            Event::Citations(list) => {
                assert!(!list.citations.is_empty());
                kinds.push("citations");
            }
            Event::Done(done) => {
                assert_eq!(done.answer, text, "done must carry the whole answer");
                kinds.push("done");
            }
        }
    }
    kinds.dedup();
    assert_eq!(kinds, ["delta", "citations", "done"]);
    assert!(text.contains("SKU-0003"), "{text}");
}

async fn memory_survives_an_agent_restart(redis_url: Option<String>) {
    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_products(sheets.path(), "12.5");
    let mut env = base_env(sheets.path(), data.path());
    if let Some(url) = redis_url {
        env = env.with("REDIS_URL", url);
    }
    let mut mesh = Mesh::start(env).await;
    mesh.agent_ready().await;
    let request = ChatRequest { conversation_id: "restart-test".to_owned(), ..question("What does SKU-0003 cost?") };
    mesh.agent().chat(request).await.unwrap();

    mesh.restart_agent().await;
    mesh.agent_ready().await;
    let mut agent = mesh.agent();
    let conversation = agent.get_conversation(GetConversationRequest { id: "restart-test".to_owned() }).await.unwrap().into_inner();
    assert_eq!(conversation.turns.len(), 2, "question and answer must survive the restart");
    assert!(conversation.turns[1].citations.iter().any(|citation| citation.row == 4));

    agent.delete_conversation(DeleteConversationRequest { id: "restart-test".to_owned() }).await.unwrap();
    let gone = agent.get_conversation(GetConversationRequest { id: "restart-test".to_owned() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_survives_an_agent_restart() {
    memory_survives_an_agent_restart(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_memory_survives_an_agent_restart() {
    let redis = RedisServer::start().await;
    memory_survives_an_agent_restart(Some(redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_ranks_the_exact_sku_first() {
    let (sheets, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_products(sheets.path(), "12.5");
    let mesh = Mesh::start(base_env(sheets.path(), data.path())).await;
    mesh.agent_ready().await;
    let hits = mesh.agent().search(SearchRequest { query: "sku-0042".to_owned(), sheets: vec![], limit: 5 }).await.unwrap().into_inner().hits;
    assert_eq!(hits[0].row, 43, "{hits:?}");
    let unknown_sheet = mesh.agent().search(SearchRequest { query: "x".to_owned(), sheets: vec!["Nope".to_owned()], limit: 5 }).await;
    assert!(unknown_sheet.is_err() || unknown_sheet.unwrap().into_inner().hits.is_empty());
}
