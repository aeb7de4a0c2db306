//! Row embeddings next to the documents, the rows nearest a query vector,
//! and their fusion with BM25 by reciprocal rank fusion (RRF).
//!
//! Vectors are computed elsewhere (see [`crate::semantic`]) and handed in
//! per sheet version: [`SheetIndex::set_vectors`] accepts them only while
//! that version is still the indexed one, and a new version drops them, so a
//! ranking never mixes rows of two versions. Each stored set keeps the exact
//! [`Sheet`] it was computed from, so a vector hit cites that version's row.

use std::collections::HashMap;
use std::sync::Arc;

use sheetmesh_proto::v1::Citation;

use super::{Sheet, SheetIndex};
use crate::error::{Error, Result};

/// RRF's `k`: a row ranked `r` (from 1) in a list adds `1 / (k + r)`. 60 is
/// the value of the original paper (Cormack et al., 2009) and damps the
/// difference between the very top ranks, so neither list dominates.
pub const RRF_K: f64 = 60.0;
/// Added to the fused score of a row holding an identifier the query names
/// (`SKU-0042`): more than any RRF sum (at most 2/61), so exact-code hits
/// stay ahead of rows that only look alike to the embedding model.
const EXACT_BONUS: f64 = 1.0;
/// The least depth each ranking is read to before fusing: a row ranked low
/// by one list and high by the other must be seen by both.
const MIN_DEPTH: usize = 50;

/// One sheet version's row embeddings.
pub(super) struct RowVectors {
    sheet: Arc<Sheet>,
    dims: usize,
    /// Unit-length vectors, row-major, aligned with `sheet.rows`.
    data: Vec<f32>,
}

impl RowVectors {
    pub(super) fn version(&self) -> &str {
        &self.sheet.version
    }
}

impl SheetIndex {
    /// Stores one embedding per row of `sheet`, in row order. Returns
    /// `Ok(false)`, storing nothing, when `sheet` is no longer the indexed
    /// version (a newer one replaced it while its rows were being embedded).
    pub fn set_vectors(&self, sheet: &Arc<Sheet>, vectors: Vec<Vec<f32>>) -> Result<bool> {
        let what = || format!("embeddings of sheet {:?} at version {}", sheet.name, sheet.version);
        if vectors.len() != sheet.rows.len() {
            return Err(Error::Index(format!("{}: {} vectors for {} rows", what(), vectors.len(), sheet.rows.len())));
        }
        let dims = vectors.first().map_or(0, Vec::len);
        if let Some(odd) = vectors.iter().find(|v| v.len() != dims) {
            return Err(Error::Index(format!("{}: vectors of {} and {} dimensions", what(), dims, odd.len())));
        }
        let mut data = Vec::with_capacity(dims * vectors.len());
        for vector in &vectors {
            data.extend(normalised(vector));
        }
        let key = (sheet.spreadsheet.clone(), sheet.name.clone());
        let sheets = self.sheets.read().unwrap_or_else(|e| e.into_inner());
        if sheets.get(&key).is_none_or(|current| current.version != sheet.version) {
            return Ok(false);
        }
        let stored = Arc::new(RowVectors { sheet: Arc::clone(sheet), dims, data });
        self.vectors.write().unwrap_or_else(|e| e.into_inner()).insert(key, stored);
        Ok(true)
    }

    /// The version of a sheet whose row embeddings are stored, if any.
    pub fn embedded_version(&self, spreadsheet: &str, sheet: &str) -> Option<String> {
        self.vectors.read().unwrap_or_else(|e| e.into_inner()).get(&(spreadsheet.to_owned(), sheet.to_owned())).map(|v| v.version().to_owned())
    }

    /// How many indexed sheets have embeddings of their current version.
    pub fn embedded_sheets(&self) -> u32 {
        // The sheets first: never hold the vectors lock while taking another.
        let sheets = self.sheets();
        let vectors = self.vectors.read().unwrap_or_else(|e| e.into_inner());
        let current = sheets
            .into_iter()
            .filter(|sheet| vectors.get(&(sheet.spreadsheet.clone(), sheet.name.clone())).is_some_and(|embedded| embedded.version() == sheet.version));
        u32::try_from(current.count()).unwrap_or(u32::MAX)
    }

    /// Whether a sheet titled in `sheets` (case-insensitive; empty = all)
    /// has row embeddings: only then is a query worth embedding.
    pub fn has_vectors(&self, sheets: &[String]) -> bool {
        self.vectors.read().unwrap_or_else(|e| e.into_inner()).values().any(|v| in_scope(&v.sheet.name, sheets))
    }

    /// Rows by cosine similarity to `query`, best first, at most `limit`,
    /// within `sheets` (as in [`SheetIndex::search`]). Rows with no positive
    /// similarity are left out, and so are sheets embedded with another
    /// number of dimensions (another model).
    pub fn nearest(&self, query: &[f32], sheets: &[String], limit: usize) -> Vec<Citation> {
        let query = normalised(query);
        if query.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut stored: Vec<Arc<RowVectors>> = self
            .vectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|v| v.dims == query.len() && in_scope(&v.sheet.name, sheets))
            .cloned()
            .collect();
        // A fixed order of sheets keeps ties between them stable.
        stored.sort_by(|a, b| (&a.sheet.spreadsheet, &a.sheet.name).cmp(&(&b.sheet.spreadsheet, &b.sheet.name)));
        let best_first = |a: &(f32, usize, usize), b: &(f32, usize, usize)| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)));
        // Candidates are kept to at most twice `limit`: when full, the best
        // `limit` stay and the next best score becomes the floor a row must
        // beat, so almost every row costs one comparison after its dot
        // product. (Rows arrive in (set, row) order, so a row only equal to
        // the floor would lose the tie anyway.)
        let mut scored: Vec<(f32, usize, usize)> = Vec::with_capacity(2 * limit + 1);
        let mut floor = 0.0_f32;
        for (set, vectors) in stored.iter().enumerate() {
            for (row, vector) in vectors.data.chunks_exact(vectors.dims).enumerate() {
                let score = dot(&query, vector);
                if score > floor {
                    scored.push((score, set, row));
                    if scored.len() > 2 * limit {
                        scored.select_nth_unstable_by(limit, best_first);
                        floor = scored[limit].0;
                        scored.truncate(limit);
                    }
                }
            }
        }
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit, best_first);
            scored.truncate(limit);
        }
        scored.sort_unstable_by(best_first);
        scored
            .into_iter()
            .map(|(score, set, row)| {
                let sheet = &stored[set].sheet;
                sheet.citation(&sheet.rows[row], f64::from(score))
            })
            .collect()
    }

    /// BM25 and cosine similarity to `vector` (the query's embedding), fused
    /// by reciprocal rank fusion ([`RRF_K`]), best first, at most `limit`,
    /// within `sheets`. A row holding an identifier the query names ranks
    /// ahead of every other row, as it does under BM25 alone. The score is
    /// the RRF score, plus 1 for such an exact-identifier row.
    pub fn search_hybrid(&self, query: &str, vector: &[f32], sheets: &[String], limit: usize) -> Result<Vec<Citation>> {
        let limit = limit.max(1);
        let depth = (limit * 3).max(MIN_DEPTH);
        let bm25 = self.search(query, sheets, depth)?;
        let exact = self.ranked(self.clauses(query, false), sheets, depth)?;
        let nearest = self.nearest(vector, sheets, depth);
        Ok(fuse(&[bm25, nearest], &exact, limit))
    }
}

fn in_scope(title: &str, sheets: &[String]) -> bool {
    sheets.is_empty() || sheets.iter().any(|s| s.trim().eq_ignore_ascii_case(title))
}

/// Reciprocal rank fusion of `rankings`, with [`EXACT_BONUS`] for the rows
/// in `exact`; ties broken by sheet and row so the order is stable.
fn fuse(rankings: &[Vec<Citation>], exact: &[Citation], limit: usize) -> Vec<Citation> {
    /// A row: spreadsheet, sheet, row number.
    type RowKey = (String, String, u32);
    let key = |c: &Citation| (c.spreadsheet.clone(), c.sheet.clone(), c.row);
    let mut fused: HashMap<RowKey, (f64, &Citation)> = HashMap::new();
    for ranking in rankings {
        for (rank, citation) in ranking.iter().enumerate() {
            fused.entry(key(citation)).or_insert((0.0, citation)).0 += 1.0 / (RRF_K + rank as f64 + 1.0);
        }
    }
    for citation in exact {
        fused.entry(key(citation)).or_insert((0.0, citation)).0 += EXACT_BONUS;
    }
    let mut ranked: Vec<(RowKey, (f64, &Citation))> = fused.into_iter().collect();
    ranked.sort_unstable_by(|(ka, (a, _)), (kb, (b, _))| b.total_cmp(a).then_with(|| ka.cmp(kb)));
    ranked.truncate(limit);
    ranked.into_iter().map(|(_, (score, citation))| Citation { score, ..citation.clone() }).collect()
}

/// `vector` scaled to unit length; all zeros when it has no length (or is
/// not finite), which is then similar to nothing.
fn normalised(vector: &[f32]) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm.is_finite() && norm > 0.0 { vector.iter().map(|x| x / norm).collect() } else { vec![0.0; vector.len()] }
}

/// A dot product in eight independent lanes: float addition is not
/// associative, so a single running sum cannot be vectorised by the compiler.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let (xs, ys) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = xs.remainder().iter().zip(ys.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in xs.zip(ys) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
}
