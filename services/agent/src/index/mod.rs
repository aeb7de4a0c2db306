//! The in-memory row index: one tantivy document per row of every sheet, plus
//! the typed rows of each sheet (for tools, versions and cache keys).
//!
//! A sheet is replaced whole: its old documents are deleted and the new ones
//! added in one commit, and the reader is reloaded after the commit, so a
//! search sees either the old version or the new one, never a mix. Each
//! document stores its own citation (prost-encoded), so a hit never has to be
//! joined with a typed-rows map that might already hold another version.
//!
//! Optionally, each sheet version also has one embedding per row (see
//! [`SheetIndex::set_vectors`]), and [`SheetIndex::search_hybrid`] fuses the
//! cosine ranking with BM25.

mod sheet;
pub mod tokenize;
mod vectors;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use prost::Message;
use sheetmesh_proto::v1::{Citation, Row};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value as _};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

pub use sheet::Sheet;
pub use vectors::RRF_K;

use crate::error::{Error, Result};

/// How much more an exact identifier token (e.g. `SKU-0042`) weighs than a
/// word: enough that the row holding the code outranks rows that only share
/// its parts or many ordinary words.
const IDENT_BOOST: f32 = 4.0;
/// tantivy's per-thread indexing budget; 15 MB is its minimum.
const WRITER_MEMORY: usize = 50_000_000;

/// Index counters for status pages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexStats {
    /// Rows in the index.
    pub rows: u64,
    /// Sheets in the index.
    pub sheets: u32,
    /// When the index last changed.
    pub last_update: Option<SystemTime>,
    /// Version of each sheet, keyed by `(spreadsheet, sheet)`.
    pub versions: BTreeMap<(String, String), String>,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    key: Field,
    sheet_lc: Field,
    text: Field,
    idents: Field,
    payload: Field,
}

/// The searchable, typed view of every synced sheet.
pub struct SheetIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    words: TextAnalyzer,
    idents: TextAnalyzer,
    sheets: RwLock<HashMap<(String, String), Arc<Sheet>>>,
    /// Row embeddings per sheet, each for the exact `Sheet` version it was
    /// computed from. Lock order: `sheets`, then `vectors`.
    vectors: RwLock<HashMap<(String, String), Arc<vectors::RowVectors>>>,
    last_update: RwLock<Option<SystemTime>>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for SheetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetIndex").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl SheetIndex {
    /// An empty index in RAM.
    pub fn new() -> Result<Self> {
        let mut schema = Schema::builder();
        let text_options = |analyzer: &str| {
            TextOptions::default().set_indexing_options(TextFieldIndexing::default().set_tokenizer(analyzer).set_index_option(IndexRecordOption::WithFreqs))
        };
        let fields = Fields {
            key: schema.add_text_field("key", STRING),
            sheet_lc: schema.add_text_field("sheet_lc", STRING),
            text: schema.add_text_field("text", text_options(tokenize::WORDS)),
            idents: schema.add_text_field("idents", text_options(tokenize::IDENTS)),
            payload: schema.add_bytes_field("payload", STORED),
        };
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(tokenize::WORDS, tokenize::words_analyzer());
        index.tokenizers().register(tokenize::IDENTS, tokenize::idents_analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY).map_err(Error::index)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(Error::index)?;
        Ok(Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            words: tokenize::words_analyzer(),
            idents: tokenize::idents_analyzer(),
            sheets: RwLock::new(HashMap::new()),
            vectors: RwLock::new(HashMap::new()),
            last_update: RwLock::new(None),
            generation: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Replaces every row of one sheet with `rows` at `version`, atomically
    /// for readers. CPU-bound (tokenizing every row): call it from
    /// `spawn_blocking` in async code.
    pub fn replace_sheet(&self, spreadsheet: &str, sheet: &str, version: &str, columns: Vec<String>, rows: Vec<Row>) -> Result<()> {
        let data =
            Sheet { spreadsheet: spreadsheet.to_owned(), name: sheet.to_owned(), version: version.to_owned(), columns, rows, indexed_at: SystemTime::now() };
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(self.key_term(spreadsheet, sheet));
        for row in &data.rows {
            writer.add_document(self.document(&data, row)).map_err(Error::index)?;
        }
        self.commit(&mut writer)?;
        let key = (spreadsheet.to_owned(), sheet.to_owned());
        let mut sheets = self.sheets.write().unwrap_or_else(|e| e.into_inner());
        // The same version is the same content (it is a content hash): its
        // embeddings stay valid. Any other version's are dropped with the
        // documents they described.
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        if vectors.get(&key).is_some_and(|v| v.version() != version) {
            vectors.remove(&key);
        }
        drop(vectors);
        sheets.insert(key, Arc::new(data));
        drop(sheets);
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Removes a sheet; a no-op for an unknown sheet.
    pub fn remove_sheet(&self, spreadsheet: &str, sheet: &str) -> Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(self.key_term(spreadsheet, sheet));
        self.commit(&mut writer)?;
        let key = (spreadsheet.to_owned(), sheet.to_owned());
        let mut sheets = self.sheets.write().unwrap_or_else(|e| e.into_inner());
        self.vectors.write().unwrap_or_else(|e| e.into_inner()).remove(&key);
        sheets.remove(&key);
        drop(sheets);
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Rows ranked by BM25 for `query`, best first, restricted to sheets whose
    /// title is in `sheets` (case-insensitive; empty = all), at most `limit`.
    pub fn search(&self, query: &str, sheets: &[String], limit: usize) -> Result<Vec<Citation>> {
        self.ranked(self.clauses(query, true), sheets, limit)
    }

    /// The BM25 clauses of `query`: its identifier tokens (boosted) and, with
    /// `with_words`, its words.
    fn clauses(&self, query: &str, with_words: bool) -> Vec<(Occur, Box<dyn Query>)> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if with_words {
            let mut words = self.words.clone();
            for token in tokenize::tokens(&mut words, query) {
                let term = Term::from_field_text(self.fields.text, &token);
                clauses.push((Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))));
            }
        }
        let mut idents = self.idents.clone();
        for token in tokenize::tokens(&mut idents, query) {
            let term = Term::from_field_text(self.fields.idents, &token);
            let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(query), IDENT_BOOST))));
        }
        clauses
    }

    /// The documents matching any of `clauses`, by score, within `sheets`.
    fn ranked(&self, clauses: Vec<(Occur, Box<dyn Query>)>, sheets: &[String], limit: usize) -> Result<Vec<Citation>> {
        let limit = limit.max(1);
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let mut query: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
        if !sheets.is_empty() {
            let filter: Vec<(Occur, Box<dyn Query>)> = sheets
                .iter()
                .map(|s| {
                    let term = Term::from_field_text(self.fields.sheet_lc, &s.trim().to_lowercase());
                    (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>)
                })
                .collect();
            // The filter must not move scores: wrap it in a zero constant score.
            let filter = ConstScoreQuery::new(Box::new(BooleanQuery::new(filter)), 0.0);
            query = Box::new(BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, Box::new(filter))]));
        }
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score()).map_err(Error::index)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(Error::index)?;
            let bytes = doc.get_first(self.fields.payload).and_then(|v| v.as_bytes()).unwrap_or_default();
            let mut citation = Citation::decode(bytes).map_err(Error::index)?;
            citation.score = f64::from(score);
            hits.push(citation);
        }
        Ok(hits)
    }

    /// Every indexed sheet, ordered by spreadsheet then title.
    pub fn sheets(&self) -> Vec<Arc<Sheet>> {
        let mut all: Vec<Arc<Sheet>> = self.sheets.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        all.sort_by(|a, b| (&a.spreadsheet, &a.name).cmp(&(&b.spreadsheet, &b.name)));
        all
    }

    /// The sheets a question may consult: those titled in `filter`
    /// (case-insensitive), or every sheet when the filter is empty.
    pub fn scope(&self, filter: &[String]) -> Vec<Arc<Sheet>> {
        let all = self.sheets();
        if filter.is_empty() {
            return all;
        }
        all.into_iter().filter(|s| filter.iter().any(|f| f.trim().eq_ignore_ascii_case(&s.name))).collect()
    }

    /// The sheet titled `title` (case-insensitive), in `spreadsheet` when
    /// given; an error names the known sheets or the ambiguous choices.
    pub fn sheet(&self, title: &str, spreadsheet: Option<&str>) -> Result<Arc<Sheet>> {
        find_sheet(&self.sheets(), title, spreadsheet)
    }

    /// A counter bumped after every sheet replacement or removal: lets
    /// callers wait for the index to change instead of polling it.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The version of a sheet, if indexed.
    pub fn version(&self, spreadsheet: &str, sheet: &str) -> Option<String> {
        self.sheets.read().unwrap_or_else(|e| e.into_inner()).get(&(spreadsheet.to_owned(), sheet.to_owned())).map(|s| s.version.clone())
    }

    /// Rows, sheets, last update and versions.
    pub fn stats(&self) -> IndexStats {
        let sheets = self.sheets.read().unwrap_or_else(|e| e.into_inner());
        IndexStats {
            rows: sheets.values().map(|s| s.rows.len() as u64).sum(),
            sheets: u32::try_from(sheets.len()).unwrap_or(u32::MAX),
            last_update: *self.last_update.read().unwrap_or_else(|e| e.into_inner()),
            versions: sheets.iter().map(|(k, s)| (k.clone(), s.version.clone())).collect(),
        }
    }

    fn commit(&self, writer: &mut IndexWriter) -> Result<()> {
        writer.commit().map_err(Error::index)?;
        // Reload while still holding the writer lock, so the typed rows map and
        // the searchable documents move to a new version in the same order.
        self.reader.reload().map_err(Error::index)?;
        *self.last_update.write().unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
        Ok(())
    }

    fn key_term(&self, spreadsheet: &str, sheet: &str) -> Term {
        Term::from_field_text(self.fields.key, &format!("{spreadsheet}\u{1f}{sheet}"))
    }

    fn document(&self, sheet: &Sheet, row: &Row) -> TantivyDocument {
        let text = sheet.row_text(row);
        let mut doc = TantivyDocument::default();
        doc.add_text(self.fields.key, format!("{}\u{1f}{}", sheet.spreadsheet, sheet.name));
        doc.add_text(self.fields.sheet_lc, sheet.name.to_lowercase());
        doc.add_text(self.fields.text, &text);
        doc.add_text(self.fields.idents, &text);
        doc.add_bytes(self.fields.payload, &sheet.citation(row, 0.0).encode_to_vec());
        doc
    }
}

/// The sheet titled `title` (case-insensitive) among `sheets`, in
/// `spreadsheet` when given; an error names the known sheets or the
/// ambiguous choices.
pub fn find_sheet(sheets: &[Arc<Sheet>], title: &str, spreadsheet: Option<&str>) -> Result<Arc<Sheet>> {
    let matches: Vec<&Arc<Sheet>> = sheets
        .iter()
        .filter(|s| s.name.eq_ignore_ascii_case(title.trim()))
        .filter(|s| spreadsheet.is_none_or(|id| id.is_empty() || s.spreadsheet == id))
        .collect();
    match matches.as_slice() {
        [one] => Ok(Arc::clone(one)),
        [] => Err(Error::UnknownSheet { sheet: title.to_owned(), known: sheets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ") }),
        many => Err(Error::AmbiguousSheet { sheet: title.to_owned(), choices: many.iter().map(|s| s.spreadsheet.as_str()).collect::<Vec<_>>().join(", ") }),
    }
}

#[cfg(test)]
mod tests;
