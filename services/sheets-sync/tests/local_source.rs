//! Local spreadsheet files: CSV, XLSX and ODS with Unicode titles, ragged
//! rows, duplicate and empty headers, dates and error values; the change
//! probe; and a 100k-row sheet through the whole engine.

mod support;

use std::path::Path;
use std::sync::Arc;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use sheetmesh_sheets_sync::cell::Cell;
use sheetmesh_sheets_sync::model::SheetKey;
use sheetmesh_sheets_sync::normalize::{Limits, Snapshot, normalize};
use sheetmesh_sheets_sync::source::Source;
use sheetmesh_sheets_sync::source::local::LocalSource;
use sheetmesh_sheets_sync::sync::{SyncConfig, SyncEngine, SyncOutcome};
use support::{RecordingInvalidator, text};

fn num(n: f64) -> Cell {
    Cell::Number(n)
}

async fn read_all(source: &LocalSource, id: &str) -> Vec<(String, Snapshot)> {
    let sheets = source.read(id).await.unwrap();
    sheets.into_iter().map(|raw| (raw.title.clone(), normalize(raw, &Limits::default()).unwrap())).collect()
}

fn write_xlsx(path: &Path) {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Überblick").unwrap();
    for (col, name) in ["sku", "", "sku", "price", "since"].iter().enumerate() {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    sheet.write_string(1, 0, "SKU-0042").unwrap();
    sheet.write_string(1, 2, "dup").unwrap();
    sheet.write_number(1, 3, 19.99).unwrap();
    let date = ExcelDateTime::from_ymd(2024, 3, 1).unwrap();
    sheet.write_datetime_with_format(1, 4, &date, &Format::new().set_num_format("yyyy-mm-dd")).unwrap();
    // Row 3 left blank; a ragged row 4 with a boolean.
    sheet.write_string(3, 0, "SKU-0043").unwrap();
    sheet.write_boolean(3, 1, true).unwrap();
    let second = workbook.add_worksheet();
    second.set_name("売上 2024").unwrap();
    second.write_string(2, 1, "月").unwrap();
    second.write_string(3, 1, "1月").unwrap();
    workbook.save(path).unwrap();
}

#[tokio::test]
async fn csv_with_unicode_name_ragged_rows_and_odd_headers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Ventes été.csv"), "\u{feff}name,,name,price\n\"Crème\nbrûlée\",x,dup,4.5\n\nRamen 拉麺\n#REF!,,,00042,extra\n").unwrap();
    let source = LocalSource::new(dir.path());
    assert_eq!(source.spreadsheets().await.unwrap(), ["Ventes été.csv"]);
    let sheets = read_all(&source, "Ventes été.csv").await;
    let (title, snap) = &sheets[0];
    assert_eq!(title, "Ventes été");
    assert_eq!(snap.columns, ["name", "column_2", "name_2", "price", "column_5"]);
    // A quoted line break is one row; the blank line is one.
    assert_eq!(snap.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 4, 5]);
    assert_eq!(snap.rows[0].cells, [text("Crème\nbrûlée"), text("x"), text("dup"), num(4.5), Cell::Empty]);
    assert_eq!(snap.rows[1].cells, [text("Ramen 拉麺"), Cell::Empty, Cell::Empty, Cell::Empty, Cell::Empty]);
    assert_eq!(snap.rows[2].cells, [text("#REF!"), Cell::Empty, Cell::Empty, text("00042"), text("extra")]);
}

#[tokio::test]
async fn xlsx_every_sheet_with_dates_as_text_and_honest_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    write_xlsx(&dir.path().join("inventar.xlsx"));
    let source = LocalSource::new(dir.path());
    let sheets = read_all(&source, "inventar.xlsx").await;
    assert_eq!(sheets.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["Überblick", "売上 2024"]);
    let (_, overview) = &sheets[0];
    assert_eq!(overview.columns, ["sku", "column_2", "sku_2", "price", "since"]);
    assert_eq!(overview.rows[0].cells, [text("SKU-0042"), Cell::Empty, text("dup"), num(19.99), text("2024-03-01")]);
    assert_eq!(overview.rows[1].number, 4);
    assert_eq!(overview.rows[1].cells[1], Cell::Bool(true));
    // The range starts at B3: the header is row 3, the data row 4.
    let (_, sales) = &sheets[1];
    assert_eq!(sales.columns, ["月"]);
    assert_eq!(sales.rows[0].number, 4);
}

#[tokio::test]
async fn ods_with_unicode_titles_errors_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unicode.ods");
    std::fs::copy(fixture, dir.path().join("unicode.ods")).unwrap();
    let source = LocalSource::new(dir.path());
    let sheets = read_all(&source, "unicode.ods").await;
    assert_eq!(sheets.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["Überblick", "売上"]);
    let (_, overview) = &sheets[0];
    assert_eq!(overview.columns, ["name", "column_2", "name_2", "price", "in stock", "since"]);
    assert_eq!(overview.rows[0].cells, [text("Crème brûlée"), Cell::Empty, text("dessert"), num(4.5), Cell::Bool(true), text("2024-03-01")]);
    assert_eq!(overview.rows[1].cells[1], text("extra"));
    assert_eq!(overview.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 3, 5]);
    assert_eq!(overview.rows[2].cells[0], text("#N/A"));
}

#[tokio::test]
async fn the_probe_changes_with_content_not_with_a_touch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.csv");
    std::fs::write(&path, "a\n1\n").unwrap();
    let source = LocalSource::new(dir.path());
    let first = source.probe("a.csv").await.unwrap();
    let file = std::fs::File::options().append(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(source.probe("a.csv").await.unwrap(), first, "touched, same content");
    std::fs::write(&path, "a\n2\n").unwrap();
    assert_ne!(source.probe("a.csv").await.unwrap(), first);
}

#[tokio::test]
async fn a_deleted_file_removes_its_sheets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "a\n1\n").unwrap();
    std::fs::write(dir.path().join("b.csv"), "b\n1\n").unwrap();
    let store = support::memory().store;
    let engine = SyncEngine::new(Arc::new(LocalSource::new(dir.path())), Arc::clone(&store), Arc::new(RecordingInvalidator::default()), SyncConfig::default())
        .await
        .unwrap();
    engine.sync_all().await.unwrap();
    std::fs::remove_file(dir.path().join("a.csv")).unwrap();
    engine.sync_all().await.unwrap();
    let names: Vec<String> = store.list(None).await.unwrap().iter().map(|m| m.key.to_string()).collect();
    assert_eq!(names, ["b.csv/b"]);
}

#[tokio::test]
async fn a_hundred_thousand_row_sheet_syncs_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,name,category,price,stock,a,b,c,d,e\n");
    for i in 0..100_000 {
        csv.push_str(&format!("{i},Item {i},Kitchen,{}.5,{},x,y,z,{},TRUE\n", i % 100, i % 7, i * 3));
    }
    std::fs::write(dir.path().join("big.csv"), csv).unwrap();
    let store = support::memory().store;
    let invalidator = Arc::new(RecordingInvalidator::default());
    let engine = SyncEngine::new(Arc::new(LocalSource::new(dir.path())), Arc::clone(&store), invalidator.clone(), SyncConfig::default()).await.unwrap();
    let reports = engine.sync_all().await.unwrap();
    assert_eq!(reports[0].outcome, SyncOutcome::Read);
    assert_eq!(reports[0].results[0].row_count, 100_000);
    let (_, snap) = store.snapshot(&SheetKey::new("big.csv", "big")).await.unwrap().unwrap();
    assert_eq!(snap.rows.last().unwrap().number, 100_001);
    assert_eq!(snap.rows[99_999].cells[1], text("Item 99999"));
    assert_eq!(invalidator.tags(), ["sheet:big.csv/big"]);
    // The probe answers the next sync without re-reading.
    assert_eq!(engine.sync_all().await.unwrap()[0].outcome, SyncOutcome::Unchanged);
}

#[tokio::test]
async fn the_shipped_sample_workbook_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sheets");
    let source = LocalSource::new(&dir);
    assert!(source.spreadsheets().await.unwrap().contains(&"inventory.xlsx".to_owned()));
    let sheets = read_all(&source, "inventory.xlsx").await;
    let sizes: Vec<(&str, usize)> = sheets.iter().map(|(t, s)| (t.as_str(), s.rows.len())).collect();
    assert_eq!(sizes, [("Products", 200), ("Stores", 20), ("Orders", 300)]);
    let (_, products) = &sheets[0];
    assert_eq!(products.columns, ["sku", "name", "category", "price", "stock", "supplier", "active"]);
    assert_eq!(products.rows[41].cells[0], text("SKU-0042"));
    assert!(products.rows.iter().any(|r| r.cells[2] == text("Kitchen")));
    let (_, orders) = &sheets[2];
    let Cell::Text(date) = &orders.rows[0].cells[1] else { panic!("order dates are text") };
    assert!(date.starts_with("2026-"), "{date}");
}

#[tokio::test]
async fn xls_workbooks_are_read_with_unicode_titles_and_made_unique_headers() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy.xls");
    std::fs::copy(fixture, dir.path().join("legacy.xls")).unwrap();
    let source = LocalSource::new(dir.path());
    let sheets = read_all(&source, "legacy.xls").await;
    assert_eq!(sheets[0].0, "Lager Ö");
    let (_, stock) = &sheets[0];
    assert_eq!(stock.columns, ["sku", "column_2", "sku_2", "qty"]);
    assert_eq!(stock.rows[0].cells, [text("Ä-1"), text("note"), text("dup"), num(3.0)]);
    assert_eq!(stock.rows[1].cells, [text("B-2"), Cell::Empty, Cell::Empty, Cell::Empty], "a ragged row is padded");
    assert_eq!(stock.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 3, 5], "row numbers stay those of the sheet");
    assert_eq!(stock.rows[2].cells[3], num(7.25));
}
