//! Embeddings fused with BM25, against the OpenAI stand-in (a real HTTP
//! server whose embeddings are bag-of-words vectors): rows embedded once per
//! version in batches, a match by meaning, the exact code still first, and
//! BM25 whenever the embedding model fails.

use std::sync::Arc;
use std::time::Duration;

use sheetmesh_agent::answer::{Agent, AgentConfig};
use sheetmesh_agent::cells::{number, text};
use sheetmesh_agent::index::SheetIndex;
use sheetmesh_agent::llm::{EMBED_BATCH, LlmClient, LlmConfig};
use sheetmesh_agent::memory::SqliteStore;
use sheetmesh_agent::semantic::{Embedded, SemanticSearch};
use sheetmesh_agent::testing::{Behaviour, EmbedFn, OpenAiStandIn, bag_of_words, bag_of_words_with_synonyms};
use sheetmesh_proto::v1::{Citation, Row, SearchRequest};

const SPREADSHEET: &str = "inventory.xlsx";
const COLUMNS: [&str; 4] = ["sku", "name", "category", "price"];
const EMBEDDING_MODEL: &str = "text-embedding-3-small";
const API_KEY: &str = "sk-test-never-printed";

/// Row `i` (spreadsheet row i + 1): SKU-000i, "Gadget i", except that item 7
/// is a "Velvet sofa".
fn products(n: u32) -> Vec<Row> {
    (1..=n)
        .map(|i| {
            let name = if i == 7 { "Velvet sofa".to_owned() } else { format!("Gadget {i}") };
            Row {
                number: i + 1,
                cells: vec![text(format!("SKU-{i:04}")), text(name), text(if i % 2 == 0 { "Kitchen" } else { "Garden" }), number(f64::from(i) + 0.5)],
            }
        })
        .collect()
}

fn load(index: &SheetIndex, sheet: &str, version: &str, rows: Vec<Row>) {
    index.replace_sheet(SPREADSHEET, sheet, version, COLUMNS.map(String::from).to_vec(), rows).unwrap();
}

struct Harness {
    agent: Arc<Agent>,
    semantic: Arc<SemanticSearch>,
    client: LlmClient,
    llm: OpenAiStandIn,
    embedder: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.embedder.abort();
    }
}

impl Harness {
    fn index(&self) -> &Arc<SheetIndex> {
        self.agent.index()
    }

    /// How embedding `version` of `sheet` ended; the stand-in answers in
    /// milliseconds, so the bound only turns a hang into a failure.
    async fn settled(&self, sheet: &str, version: &str) -> Embedded {
        tokio::time::timeout(Duration::from_secs(20), self.semantic.settled(SPREADSHEET, sheet, version)).await.expect("embedding never settled")
    }

    async fn search(&self, query: &str) -> Vec<Citation> {
        self.agent.search(&SearchRequest { query: query.into(), sheets: vec![], limit: 10 }).await.unwrap().hits
    }

    /// Inputs of every embeddings request so far.
    fn inputs(&self) -> Vec<Vec<String>> {
        self.llm.embedding_requests().iter().map(|r| r["input"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_owned()).collect()).collect()
    }
}

/// An agent with embeddings over the Products sheet (`rows`, version v1);
/// `embed` is the stand-in's model, `setup` tunes the stand-in before the
/// rows are embedded.
async fn harness(rows: Vec<Row>, embed: EmbedFn, setup: impl FnOnce(&OpenAiStandIn)) -> Harness {
    let llm = OpenAiStandIn::start().await;
    llm.set_embedder(embed);
    setup(&llm);
    let mut config = LlmConfig::new(llm.base_url(), "gpt-4o-mini", Some(API_KEY.into()));
    config.embedding_model = Some(EMBEDDING_MODEL.into());
    config.timeout = Duration::from_secs(5);
    config.max_retries = 2;
    config.backoff_min = Duration::from_millis(1);
    config.backoff_max = Duration::from_millis(5);
    let client = LlmClient::new(&config).unwrap();
    let semantic = Arc::new(SemanticSearch::new(client.clone()).unwrap().with_query_timeout(Duration::from_millis(300)));
    let index = Arc::new(SheetIndex::new().unwrap());
    load(&index, "Products", "v1", rows);
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
    let agent = Agent::new(Arc::clone(&index), Some(client.clone()), None, memory, AgentConfig::default()).with_semantic(Arc::clone(&semantic));
    let embedder = tokio::spawn(Arc::clone(&semantic).follow(index));
    Harness { agent: Arc::new(agent), semantic, client, llm, embedder, _dir: dir }
}

#[tokio::test]
async fn rows_are_embedded_once_per_version_in_batches() {
    let h = harness(products(600), bag_of_words(), |_| {}).await;
    assert_eq!(h.settled("Products", "v1").await, Embedded::Stored);
    let mut sizes: Vec<usize> = h.inputs().iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![600 - 2 * EMBED_BATCH, EMBED_BATCH, EMBED_BATCH], "600 rows in batches of {EMBED_BATCH}");
    assert!(h.llm.embedding_requests().iter().all(|r| r["model"] == EMBEDDING_MODEL));
    assert!(
        h.inputs().concat().contains(&"Products\nsku: SKU-0007\nname: Velvet sofa\ncategory: Garden\nprice: 7.5".to_owned()),
        "the `column: value` row text"
    );

    // The same version again (a reconnected watch) embeds nothing; another
    // sheet is embedded on its own. Once it has settled, the worker has
    // seen both changes.
    load(h.index(), "Products", "v1", products(600));
    load(h.index(), "Archive", "v1", products(10));
    assert_eq!(h.settled("Archive", "v1").await, Embedded::Stored);
    assert_eq!(h.inputs().concat().len(), 610);

    // A new version is embedded again, and its vectors replace the old ones.
    load(h.index(), "Products", "v2", products(300));
    assert_eq!(h.settled("Products", "v2").await, Embedded::Stored);
    assert_eq!(h.inputs().concat().len(), 910);
    assert_eq!(h.index().embedded_version(SPREADSHEET, "Products").as_deref(), Some("v2"));
    let status = h.agent.status();
    assert_eq!((status.embedding_model.as_str(), status.embedded_sheets, status.indexed_sheets), (EMBEDDING_MODEL, 2, 2));
}

#[tokio::test]
async fn embed_places_vectors_by_index_across_batches() {
    let h = harness(products(1), bag_of_words(), |_| {}).await;
    let texts: Vec<String> = (0..300).map(|i| format!("text number {i}")).collect();
    let vectors = h.client.embed(&texts).await.unwrap();
    let model = bag_of_words();
    assert_eq!(vectors.len(), 300);
    // The stand-in lists `data` in reverse: only placing by `index` passes.
    assert!(texts.iter().zip(&vectors).all(|(text, vector)| *vector == model(text)));
}

#[tokio::test]
async fn a_query_sharing_no_word_with_a_row_finds_it_by_meaning() {
    // To the stand-in's "model", plush means velvet and couch means sofa.
    let h = harness(products(300), bag_of_words_with_synonyms(&[("plush", "velvet"), ("couch", "sofa")]), |_| {}).await;
    assert_eq!(h.settled("Products", "v1").await, Embedded::Stored);
    assert!(h.index().search("plush couch", &[], 10).unwrap().is_empty(), "BM25 alone finds nothing");
    let hits = h.search("plush couch").await;
    assert_eq!(hits[0].row, 8, "{hits:?}");
    assert_eq!(hits[0].values[1].value.as_ref().map(sheetmesh_agent::cells::cell_text).as_deref(), Some("Velvet sofa"));
    assert_eq!(h.inputs().last().unwrap(), &vec!["plush couch".to_owned()], "the query was embedded");
}

#[tokio::test]
async fn the_exact_code_stays_first_with_fusion_on() {
    // This "model" finds every question like item 7 (row 8) and nothing
    // else, so the vectors pull hard against the exact code.
    let like_item_7: EmbedFn = Arc::new(|text: &str| if text.contains("SKU-0007") || !text.contains('\n') { vec![1.0, 0.0] } else { vec![0.0, 1.0] });
    let h = harness(products(200), like_item_7, |_| {}).await;
    assert_eq!(h.settled("Products", "v1").await, Embedded::Stored);
    for query in ["SKU-0042", "what does sku-0042 cost?"] {
        let hits = h.search(query).await;
        assert_eq!(hits[0].row, 43, "query {query:?}: {hits:?}");
        assert_eq!(hits[1].row, 8, "query {query:?}: fusion is on, the vectors' favourite comes next");
    }
}

#[tokio::test]
async fn a_failing_embedding_model_leaves_the_sheet_on_bm25() {
    let failing = Behaviour::Fail { status: 500, retry_after: None };
    let h = harness(products(300), bag_of_words(), |llm| llm.set_embeddings_behaviour(failing)).await;
    assert_eq!(h.settled("Products", "v1").await, Embedded::Failed);
    assert_eq!(h.index().embedded_version(SPREADSHEET, "Products"), None);
    let status = h.agent.status();
    assert_eq!(
        (status.embedding_model.as_str(), status.embedded_sheets, status.indexed_sheets),
        (EMBEDDING_MODEL, 0, 1),
        "GetStatus shows the sheet is not embedded"
    );
    let calls = h.llm.embedding_calls();
    for query in ["SKU-0042", "gadget 12 kitchen"] {
        let hits = h.search(query).await;
        assert!(!hits.is_empty());
        assert_eq!(hits, h.index().search(query, &[], 10).unwrap(), "query {query:?}: BM25 results");
    }
    assert_eq!(h.llm.embedding_calls(), calls, "no vectors in scope: queries are not embedded");
    let error = h.client.embed(&["x".to_owned()]).await.unwrap_err().to_string();
    assert!(error.contains("500") && !error.contains(API_KEY), "{error}");
}

#[tokio::test]
async fn a_failing_or_hanging_query_embedding_falls_back_to_bm25() {
    let h = harness(products(300), bag_of_words(), |_| {}).await;
    assert_eq!(h.settled("Products", "v1").await, Embedded::Stored);
    let query = "gadget 12 kitchen";
    let bm25 = h.index().search(query, &[], 10).unwrap();
    assert_ne!(h.search(query).await, bm25, "fused while the model answers");

    h.llm.set_embeddings_behaviour(Behaviour::Hang);
    let started = std::time::Instant::now();
    assert_eq!(h.search(query).await, bm25, "a hung query embedding times out to BM25");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    h.llm.set_embeddings_behaviour(Behaviour::Fail { status: 503, retry_after: None });
    assert_eq!(h.search(query).await, bm25, "a failing one falls back at once");
}
