//! `cargo bench -p sheetmesh-agent --bench agent`: search latency over 100k
//! rows (BM25, then BM25 fused with row embeddings), and the answer
//! pipeline's own overhead with a zero-latency LLM
//! stand-in (cache miss and cache hit). Prints numbers; no harness.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sheetmesh_agent::answer::{Agent, AgentConfig, Question};
use sheetmesh_agent::cells::{number, text};
use sheetmesh_agent::index::SheetIndex;
use sheetmesh_agent::llm::{LlmClient, LlmConfig};
use sheetmesh_agent::memory::SqliteStore;
use sheetmesh_agent::testing::{MemoryAnswerCache, OpenAiStandIn};
use sheetmesh_proto::v1::Row;

const ROWS: u32 = 100_000;
/// Dimensions of the synthetic row embeddings. Real models use 256 to 3,072;
/// the cosine scan reads every vector, so it is bound by memory bandwidth
/// and linear in this (1,536 costs about six times as much).
const DIMS: usize = 256;

/// Deterministic pseudo-random vectors (xorshift): the cosine scan's cost
/// does not depend on what the vectors mean.
fn vectors(n: usize, dims: usize) -> Vec<Vec<f32>> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..n).map(|_| (0..dims).map(|_| next()).collect()).collect()
}

fn rows(n: u32) -> Vec<Row> {
    const WORDS: [&str; 8] = ["steel", "garlic", "press", "oak", "bowl", "knife", "linen", "lamp"];
    (1..=n)
        .map(|i| Row {
            number: i + 1,
            cells: vec![
                text(format!("SKU-{i:06}")),
                text(format!("{} {} {i}", WORDS[i as usize % 8], WORDS[(i as usize / 8) % 8])),
                text(if i % 3 == 0 { "Kitchen" } else { "Garden" }),
                number(f64::from(i % 100) + 0.99),
            ],
        })
        .collect()
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn report(name: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (p50, p99) = percentiles(samples);
    println!("{name:<40} n={n:<6} p50={:>9.3} ms  p99={:>9.3} ms", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let index = Arc::new(SheetIndex::new().expect("index"));
        let started = Instant::now();
        let columns = ["sku", "name", "category", "price"].map(String::from).to_vec();
        index.replace_sheet("bench.xlsx", "Products", "v1", columns, rows(ROWS)).expect("load");
        println!("indexed {ROWS} rows in {:.2?}", started.elapsed());

        let mut samples = Vec::new();
        for i in 0..3_000_u32 {
            let query = match i % 3 {
                0 => format!("SKU-{:06}", (i * 7919) % ROWS + 1),
                1 => "garlic press kitchen".to_owned(),
                _ => format!("price of oak lamp {}", i % 1000),
            };
            let t = Instant::now();
            let hits = index.search(&query, &[], 10).expect("search");
            samples.push(t.elapsed());
            assert!(!hits.is_empty());
        }
        report("search (100k rows, limit 10)", samples);

        let sheet = index.sheet("Products", None).expect("sheet");
        let row_vectors = vectors(ROWS as usize, DIMS);
        let queries: Vec<Vec<f32>> = (0..10).map(|i| row_vectors[i * 7_919].clone()).collect();
        assert!(index.set_vectors(&sheet, row_vectors).expect("vectors"));
        let mut samples = Vec::new();
        for i in 0..1_000_u32 {
            let query = if i % 2 == 0 { format!("SKU-{:06}", (i * 7919) % ROWS + 1) } else { "garlic press kitchen".to_owned() };
            let t = Instant::now();
            let hits = index.search_hybrid(&query, &queries[i as usize % queries.len()], &[], 10).expect("hybrid search");
            samples.push(t.elapsed());
            assert!(!hits.is_empty());
        }
        report(&format!("search + embeddings ({DIMS} dims, RRF)"), samples);

        let llm = OpenAiStandIn::start().await;
        let client = LlmClient::new(&LlmConfig::new(llm.base_url(), "bench-model", None)).expect("llm");
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = Arc::new(SqliteStore::open_in(dir.path()).await.expect("sqlite"));
        let cache = Arc::new(MemoryAnswerCache::new());
        let agent = Agent::new(Arc::clone(&index), Some(client), Some(cache), memory, AgentConfig::default());

        // Cache miss: retrieval + prompt + LLM round trip over loopback (the
        // stand-in answers at once) + cache set + memory append.
        let mut samples = Vec::new();
        for i in 0..500_u32 {
            let question = Question { message: format!("What does SKU-{:06} cost?", i + 1), ..Question::default() };
            let t = Instant::now();
            let response = agent.chat(question).await.expect("chat");
            samples.push(t.elapsed());
            assert!(!response.cached && !response.degraded);
        }
        report("chat, cache miss (zero-latency LLM)", samples);

        let mut samples = Vec::new();
        for _ in 0..1_000 {
            let question = Question { message: "What does SKU-000001 cost?".into(), ..Question::default() };
            let t = Instant::now();
            let response = agent.chat(question).await.expect("chat");
            samples.push(t.elapsed());
            assert!(response.cached);
        }
        report("chat, cache hit", samples);
        println!("LLM calls made: {}", llm.chat_calls());
    });
}
