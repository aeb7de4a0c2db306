//! One sheet at one version, with typed rows: what tools compute over and what
//! citations and cache keys are made of.

use std::time::SystemTime;

use sheetmesh_proto::v1::{Citation, Row};

use crate::cells;

/// A sheet's rows at one version. Immutable: a new version is a new `Sheet`
/// swapped in whole, so readers never see half of an update.
#[derive(Debug, Clone)]
pub struct Sheet {
    /// Spreadsheet id (Google) or workbook file name (local).
    pub spreadsheet: String,
    /// Sheet title, e.g. "Products".
    pub name: String,
    /// Content hash from sheets-sync; part of the answer-cache key.
    pub version: String,
    /// Column names, unique within the sheet.
    pub columns: Vec<String>,
    /// Data rows in sheet order, each with as many cells as there are columns.
    pub rows: Vec<Row>,
    /// When this version entered the index.
    pub indexed_at: SystemTime,
}

impl Sheet {
    /// `sheet:<spreadsheet>/<sheet>`: the cache tag sheets-sync invalidates.
    pub fn cache_tag(&self) -> String {
        format!("sheet:{}/{}", self.spreadsheet, self.name)
    }

    /// The position of a column, matched case-insensitively and trimmed, since
    /// tool calls come from a model that may not copy the case exactly.
    pub fn column_index(&self, column: &str) -> Option<usize> {
        let wanted = column.trim();
        self.columns.iter().position(|c| c == wanted).or_else(|| self.columns.iter().position(|c| c.trim().eq_ignore_ascii_case(wanted)))
    }

    /// The row with this spreadsheet row number.
    pub fn row(&self, number: u32) -> Option<&Row> {
        // Rows are in sheet order, so numbers ascend: binary search first.
        match self.rows.binary_search_by_key(&number, |r| r.number) {
            Ok(i) => self.rows.get(i),
            Err(_) => self.rows.iter().find(|r| r.number == number),
        }
    }

    /// The row's searchable text: the sheet title, then one `column: value`
    /// line per non-empty cell. What BM25 indexes and what is embedded, so
    /// both rankings judge the same words.
    pub fn row_text(&self, row: &Row) -> String {
        let mut text = String::with_capacity(64 + row.cells.len() * 16);
        text.push_str(&self.name);
        for (column, cell) in self.columns.iter().zip(&row.cells) {
            if cells::cell_is_empty(cell) {
                continue;
            }
            text.push('\n');
            text.push_str(column);
            text.push_str(": ");
            text.push_str(&cells::cell_text(cell));
        }
        text
    }

    /// A row as a citation of this sheet.
    pub fn citation(&self, row: &Row, score: f64) -> Citation {
        Citation { sheet: self.name.clone(), spreadsheet: self.spreadsheet.clone(), row: row.number, values: cells::fields(&self.columns, &row.cells), score }
    }
}
