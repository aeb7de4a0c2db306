//! Raw grid → [`Snapshot`]: header, unique column names, padded typed rows,
//! honest row numbers, limits, and the content hash that is the version.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::cell::Cell;
use crate::error::{Error, Result};

/// One sheet as a source read it, before normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSheet {
    /// Sheet title ("Products"; the file stem for a CSV file).
    pub title: String,
    /// Spreadsheet row number (1-based) of `rows[0]`: a workbook range may
    /// start below row 1, and row numbers must match what a person sees.
    pub first_row: u32,
    /// Rows of cells, possibly ragged, possibly with empty rows.
    pub rows: Vec<Vec<Cell>>,
}

/// Bounds that keep one oversized sheet from exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Data rows per sheet.
    pub max_rows: usize,
    /// Columns per sheet.
    pub max_columns: usize,
    /// Characters per cell.
    pub max_cell_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_rows: 1_000_000, max_columns: 1_000, max_cell_chars: 50_000 }
    }
}

/// One data row: its spreadsheet row number and exactly one cell per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// 1-based row number as the spreadsheet shows it.
    pub number: u32,
    /// Cells in column order, padded with [`Cell::Empty`].
    pub cells: Vec<Cell>,
}

/// A normalised sheet at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unique, non-empty column names.
    pub columns: Vec<String>,
    /// Data rows (the header excluded; fully empty rows skipped).
    pub rows: Vec<Row>,
    /// Hex content hash (128-bit xxh3); equal exactly when the data is.
    pub version: String,
}

/// Normalises a raw grid. Consumes it so that each row's vector is reused
/// for the snapshot rather than copied (a 100k-row sheet is not held twice).
pub fn normalize(sheet: RawSheet, limits: &Limits) -> Result<Snapshot> {
    let first_row = sheet.first_row.max(1);
    let mut rows = sheet.rows.into_iter().enumerate().map(|(i, cells)| (first_row + i as u32, cells));

    // The first row with any value is the header; leading blank rows are
    // skipped (row numbers still count them).
    let header = rows.by_ref().find(|(_, cells)| cells.iter().any(|c| !c.is_empty()));
    let Some((header_number, header)) = header else {
        return Ok(Snapshot { columns: Vec::new(), rows: Vec::new(), version: hash(&[], &[]) });
    };

    let mut width = last_non_empty(&header);
    let mut data = Vec::new();
    for (number, mut cells) in rows {
        let used = last_non_empty(&cells);
        if used == 0 {
            continue;
        }
        if data.len() == limits.max_rows {
            return Err(Error::TooManyRows { limit: limits.max_rows });
        }
        if used > limits.max_columns {
            return Err(Error::TooManyColumns { found: used, limit: limits.max_columns });
        }
        cells.truncate(used);
        for (column, cell) in cells.iter_mut().enumerate() {
            check_cell(cell, number, column, limits)?;
            // Google's "" for an interior blank and a CSV's empty field are
            // both "no value".
            if cell.is_empty() {
                *cell = Cell::Empty;
            }
        }
        width = width.max(used);
        data.push(Row { number, cells });
    }
    if width > limits.max_columns {
        return Err(Error::TooManyColumns { found: width, limit: limits.max_columns });
    }
    for (column, cell) in header.iter().enumerate() {
        check_cell(cell, header_number, column, limits)?;
    }
    for row in &mut data {
        row.cells.resize(width, Cell::Empty);
    }
    let columns = column_names(&header, width);
    let version = hash(&columns, &data);
    Ok(Snapshot { columns, rows: data, version })
}

fn last_non_empty(cells: &[Cell]) -> usize {
    cells.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1)
}

fn check_cell(cell: &Cell, row: u32, column: usize, limits: &Limits) -> Result<()> {
    if let Cell::Text(text) = cell {
        // Byte length bounds the char count from above: count chars only
        // when the cheap check fails.
        if text.len() > limits.max_cell_chars {
            let found = text.chars().count();
            if found > limits.max_cell_chars {
                return Err(Error::CellTooLarge { row, column: column + 1, found, limit: limits.max_cell_chars });
            }
        }
    }
    Ok(())
}

/// Header cells → names: trimmed; blank → `column_<n>` (1-based position);
/// a repeated name → `name_2`, `name_3`, … skipping names already taken.
pub fn column_names(header: &[Cell], width: usize) -> Vec<String> {
    let wanted: Vec<String> = (0..width)
        .map(|i| {
            let name = header.get(i).map(Cell::display).unwrap_or_default().trim().to_owned();
            if name.is_empty() { format!("column_{}", i + 1) } else { name }
        })
        .collect();
    // Reserve every explicit name first so that a generated `price_2` never
    // steals a name the sheet itself uses later on.
    let mut taken: HashSet<String> = HashSet::with_capacity(width);
    let explicit: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let mut names = Vec::with_capacity(width);
    for name in &wanted {
        let unique = if taken.insert(name.clone()) {
            name.clone()
        } else {
            let mut n = 2;
            loop {
                let candidate = format!("{name}_{n}");
                if !explicit.contains(candidate.as_str()) && taken.insert(candidate.clone()) {
                    break candidate;
                }
                n += 1;
            }
        };
        names.push(unique);
    }
    names
}

/// Content hash over column names, row numbers and typed cells. Every field
/// is tagged and length-prefixed so that different grids cannot produce the
/// same byte stream.
fn hash(columns: &[String], rows: &[Row]) -> String {
    let mut h = Xxh3::new();
    h.update(&(columns.len() as u64).to_le_bytes());
    for name in columns {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
    }
    h.update(&(rows.len() as u64).to_le_bytes());
    for row in rows {
        h.update(&row.number.to_le_bytes());
        for cell in &row.cells {
            match cell {
                Cell::Empty => h.update(&[0]),
                Cell::Number(n) => {
                    h.update(&[1]);
                    h.update(&n.to_bits().to_le_bytes());
                }
                Cell::Bool(b) => h.update(&[2, u8::from(*b)]),
                Cell::Text(text) => {
                    h.update(&[3]);
                    h.update(&(text.len() as u64).to_le_bytes());
                    h.update(text.as_bytes());
                }
            }
        }
    }
    format!("{:032x}", h.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    fn sheet(rows: Vec<Vec<Cell>>) -> RawSheet {
        RawSheet { title: "S".into(), first_row: 1, rows }
    }

    #[test]
    fn header_is_first_non_empty_row_and_numbers_stay_honest() {
        let snap =
            normalize(sheet(vec![vec![], vec![t(""), t("")], vec![t("a"), t("b")], vec![t("1")], vec![], vec![t("x"), Cell::Number(2.0)]]), &Limits::default())
                .unwrap();
        assert_eq!(snap.columns, ["a", "b"]);
        assert_eq!(snap.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [4, 6]);
        assert_eq!(snap.rows[0].cells, [t("1"), Cell::Empty]);
    }

    #[test]
    fn blank_and_duplicate_names_become_unique_and_readable() {
        let header = [t("price"), t(""), t("price"), t(" price_2 "), t("price")];
        assert_eq!(column_names(&header, 6), ["price", "column_2", "price_3", "price_2", "price_4", "column_6"]);
    }

    #[test]
    fn data_wider_than_header_gets_generated_names() {
        let snap = normalize(sheet(vec![vec![t("a")], vec![t("1"), t("2"), t("3")]]), &Limits::default()).unwrap();
        assert_eq!(snap.columns, ["a", "column_2", "column_3"]);
    }

    #[test]
    fn version_changes_exactly_when_data_does() {
        let a = normalize(sheet(vec![vec![t("a")], vec![Cell::Number(1.0)]]), &Limits::default()).unwrap();
        let same = normalize(sheet(vec![vec![t("a"), t("")], vec![Cell::Number(1.0)], vec![]]), &Limits::default()).unwrap();
        let text = normalize(sheet(vec![vec![t("a")], vec![t("1")]]), &Limits::default()).unwrap();
        assert_eq!(a.version, same.version);
        assert_ne!(a.version, text.version);
        assert_eq!(a.version.len(), 32);
    }

    #[test]
    fn limits_give_clear_errors() {
        let limits = Limits { max_rows: 2, max_columns: 2, max_cell_chars: 3 };
        let rows = normalize(sheet(vec![vec![t("a")], vec![t("1")], vec![t("2")], vec![t("3")]]), &limits);
        assert_eq!(rows.unwrap_err().to_string(), "the sheet has more than 2 data rows (the limit)");
        let cols = normalize(sheet(vec![vec![t("a")], vec![t("1"), t("2"), t("3")]]), &limits);
        assert!(matches!(cols, Err(Error::TooManyColumns { found: 3, limit: 2 })));
        let cell = normalize(sheet(vec![vec![t("a")], vec![t("long")]]), &limits);
        assert_eq!(cell.unwrap_err().to_string(), "the cell in row 2, column 1 has 4 characters, more than the limit of 3");
    }

    #[test]
    fn empty_sheet_has_no_columns() {
        let snap = normalize(sheet(vec![vec![], vec![t("")]]), &Limits::default()).unwrap();
        assert!(snap.columns.is_empty() && snap.rows.is_empty());
    }
}
