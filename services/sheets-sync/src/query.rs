//! `GetRows`: which sheet a request means, and which page of its rows.
//!
//! A page token is `<version>:<offset>`: tied to the version it was issued
//! for, so paging across a change fails clearly instead of skipping or
//! repeating rows.

use std::sync::Arc;

use crate::{
    error::{Error, Result},
    model::{SheetKey, SheetMeta},
    normalize::{Row, Snapshot},
    store::SnapshotStore,
};

/// Rows per page when the request gives none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The most rows one page may hold.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// What `GetRows` asks for.
#[derive(Debug, Clone, Default)]
pub struct RowsQuery {
    pub sheet: String,
    pub spreadsheet: String,
    pub page_size: u32,
    pub page_token: String,
    pub filter_column: String,
    pub filter_value: String,
}

/// One page of rows.
#[derive(Debug)]
pub struct Page {
    pub meta: SheetMeta,
    /// Already in contract form: converting straight from the snapshot
    /// avoids copying rows twice on the agent's 10k-row pages.
    pub rows: Vec<sheetmesh_proto::v1::Row>,
    pub next_page_token: String,
    pub total_rows: u64,
}

/// Finds the sheet a title (and optional spreadsheet) names.
pub async fn resolve(store: &dyn SnapshotStore, sheet: &str, spreadsheet: &str) -> Result<SheetKey> {
    if sheet.trim().is_empty() {
        return Err(Error::InvalidArgument("sheet is required: name a sheet title from ListSheets".to_owned()));
    }
    let all = store.list((!spreadsheet.is_empty()).then_some(spreadsheet)).await?;
    let matches: Vec<&SheetMeta> = all.iter().filter(|meta| meta.key.sheet == sheet).collect();
    match matches.as_slice() {
        [one] => Ok(one.key.clone()),
        [] => {
            let mut known: Vec<&str> = all.iter().map(|meta| meta.key.sheet.as_str()).filter(|name| !name.is_empty()).collect();
            known.dedup();
            Err(Error::SheetNotFound { sheet: sheet.to_owned(), spreadsheet: spreadsheet.to_owned(), known: known.join(", ") })
        }
        several => {
            let choices: Vec<&str> = several.iter().map(|meta| meta.key.spreadsheet.as_str()).collect();
            Err(Error::InvalidArgument(format!("sheet {sheet:?} exists in several spreadsheets ({}); set spreadsheet to choose", choices.join(", "))))
        }
    }
}

/// A page of `snapshot`'s rows as `query` asks.
pub fn page(meta: SheetMeta, snapshot: &Arc<Snapshot>, query: &RowsQuery) -> Result<Page> {
    let page_size = match query.page_size {
        0 => DEFAULT_PAGE_SIZE,
        size if size as usize <= MAX_PAGE_SIZE => size as usize,
        size => return Err(Error::InvalidArgument(format!("page_size {size} is over the limit of {MAX_PAGE_SIZE}"))),
    };
    let offset = parse_token(&query.page_token, &meta)?;
    let filter = filter(snapshot, query)?;
    let matching: Vec<&Row> = match &filter {
        Some((column, wanted)) => {
            snapshot.rows.iter().filter(|row| row.cells.get(*column).is_some_and(|cell| cell.display().trim().to_lowercase() == *wanted)).collect()
        }
        None => snapshot.rows.iter().collect(),
    };
    let total_rows = matching.len() as u64;
    let end = (offset + page_size).min(matching.len());
    let rows = matching.get(offset..end).unwrap_or_default().iter().map(|row| crate::proto::row_to_proto(row)).collect();
    let next_page_token = if end < matching.len() { format!("{}:{end}", meta.version) } else { String::new() };
    Ok(Page { meta, rows, next_page_token, total_rows })
}

fn parse_token(token: &str, meta: &SheetMeta) -> Result<usize> {
    if token.is_empty() {
        return Ok(0);
    }
    let invalid = || Error::InvalidArgument("page_token is not one this service issued; pass next_page_token unchanged".to_owned());
    let (version, offset) = token.rsplit_once(':').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    if version != meta.version {
        return Err(Error::PageExpired { sheet: meta.key.sheet.clone(), version: meta.version.clone() });
    }
    Ok(offset)
}

fn filter(snapshot: &Snapshot, query: &RowsQuery) -> Result<Option<(usize, String)>> {
    if query.filter_column.is_empty() {
        if !query.filter_value.is_empty() {
            return Err(Error::InvalidArgument("filter_value needs filter_column".to_owned()));
        }
        return Ok(None);
    }
    let column = snapshot.columns.iter().position(|name| name.eq_ignore_ascii_case(&query.filter_column)).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "filter_column {:?} is not a column of this sheet; its columns are: {}",
            query.filter_column,
            snapshot.columns.join(", ")
        ))
    })?;
    Ok(Some((column, query.filter_value.trim().to_lowercase())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cell::Cell, model::SourceKind};

    fn sheet(rows: usize) -> (SheetMeta, Arc<Snapshot>) {
        let snapshot = Snapshot {
            columns: vec!["sku".into(), "category".into()],
            rows: (0..rows)
                .map(|i| Row {
                    number: u32::try_from(i).unwrap() + 2,
                    cells: vec![Cell::Text(format!("SKU-{i}")), Cell::Text(if i % 3 == 0 { "Kitchen" } else { "Garden" }.into())],
                })
                .collect(),
            version: "v1".into(),
        };
        let mut meta = SheetMeta::new(SheetKey::new("inv.xlsx", "Products"), 0, SourceKind::Local);
        meta.version = "v1".into();
        (meta, Arc::new(snapshot))
    }

    #[test]
    fn pages_walk_every_row_once() {
        let (meta, snapshot) = sheet(250);
        let mut query = RowsQuery { page_size: 100, ..RowsQuery::default() };
        let mut seen = Vec::new();
        loop {
            let page = page(meta.clone(), &snapshot, &query).unwrap();
            assert_eq!(page.total_rows, 250);
            seen.extend(page.rows.iter().map(|row| row.number));
            if page.next_page_token.is_empty() {
                break;
            }
            query.page_token = page.next_page_token;
        }
        assert_eq!(seen, (2..252).collect::<Vec<_>>());
    }

    #[test]
    fn a_token_from_another_version_is_refused() {
        let (mut meta, snapshot) = sheet(10);
        let first = page(meta.clone(), &snapshot, &RowsQuery { page_size: 5, ..RowsQuery::default() }).unwrap();
        meta.version = "v2".into();
        let error = page(meta, &snapshot, &RowsQuery { page_size: 5, page_token: first.next_page_token, ..RowsQuery::default() }).unwrap_err();
        assert!(matches!(error, Error::PageExpired { .. }), "{error}");
    }

    #[test]
    fn the_filter_matches_text_case_insensitively_and_names_bad_columns() {
        let (meta, snapshot) = sheet(30);
        let query = RowsQuery { filter_column: "Category".into(), filter_value: " kitchen ".into(), ..RowsQuery::default() };
        let page = page(meta.clone(), &snapshot, &query).unwrap();
        assert_eq!(page.total_rows, 10);
        let bad = RowsQuery { filter_column: "colour".into(), filter_value: "red".into(), ..RowsQuery::default() };
        assert!(super::page(meta.clone(), &snapshot, &bad).unwrap_err().to_string().contains("its columns are: sku, category"));
        assert!(super::page(meta, &snapshot, &RowsQuery { page_size: 10_001, ..RowsQuery::default() }).is_err());
    }
}
