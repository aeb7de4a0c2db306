//! Spreadsheet files in a directory (`SHEETS_DIR`): a `.csv` file is one
//! sheet named by its stem; an `.xlsx`, `.xls` or `.ods` workbook gives every
//! worksheet. The spreadsheet id is the file name.
//!
//! The probe is the file's content hash, recomputed only when its
//! modification time or size moved: touching a file without changing it
//! causes no re-read, and an edit that keeps the mtime (copies with
//! preserved times) is still caught when the size moves.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use calamine::{Data, Reader, SheetType, Sheets};
use xxhash_rust::xxh3::xxh3_128;

use super::Source;
use crate::cell::Cell;
use crate::error::{Error, Result};
use crate::model::SourceKind;
use crate::normalize::RawSheet;

/// Spreadsheet files in one directory (not recursive).
#[derive(Debug, Clone)]
pub struct LocalSource {
    dir: PathBuf,
    probes: Arc<Mutex<HashMap<String, Probe>>>,
}

#[derive(Debug, Clone)]
struct Probe {
    modified: Option<SystemTime>,
    len: u64,
    hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
    Xls,
    Ods,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "xlsx" | "xlsm" => Some(Format::Xlsx),
            "xls" => Some(Format::Xls),
            "ods" => Some(Format::Ods),
            _ => None,
        }
    }
}

impl LocalSource {
    /// Files in `dir`. The directory is read on every call, so files added
    /// later are picked up by the next sync.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), probes: Arc::default() }
    }

    /// The directory this source reads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a spreadsheet id, refusing anything that is not a plain
    /// file name of a supported type inside the directory (no `..`, no
    /// absolute paths): ids come from the network via `Notify` and `Sync`.
    fn path_of(&self, spreadsheet: &str) -> Result<(PathBuf, Format)> {
        let unknown = || Error::UnknownSpreadsheet { spreadsheet: spreadsheet.to_owned() };
        let relative = Path::new(spreadsheet);
        let mut components = relative.components();
        let plain = matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none();
        if !plain {
            return Err(unknown());
        }
        let format = Format::of(relative).ok_or_else(unknown)?;
        let path = self.dir.join(relative);
        if !path.is_file() {
            return Err(unknown());
        }
        Ok((path, format))
    }

    fn read_bytes(path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| Error::LocalFile { path: path.to_owned(), message: e.to_string() })
    }
}

#[async_trait]
impl Source for LocalSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Local
    }

    async fn spreadsheets(&self) -> Result<Vec<String>> {
        let dir = self.dir.clone();
        blocking(move || {
            let entries = std::fs::read_dir(&dir).map_err(|e| Error::LocalFile { path: dir.clone(), message: e.to_string() })?;
            let mut names = Vec::new();
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
                // Skip hidden files and the lock files office suites leave
                // beside an open workbook (`~$Book.xlsx`, `.~lock.x.ods#`).
                if name.starts_with('.') || name.starts_with("~$") || !path.is_file() || Format::of(&path).is_none() {
                    continue;
                }
                names.push(name.to_owned());
            }
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn sheet_titles(&self, spreadsheet: &str) -> Result<Vec<String>> {
        Ok(self.read(spreadsheet).await?.into_iter().map(|sheet| sheet.title).collect())
    }

    async fn probe(&self, spreadsheet: &str) -> Result<String> {
        let (path, _) = self.path_of(spreadsheet)?;
        let probes = Arc::clone(&self.probes);
        let id = spreadsheet.to_owned();
        blocking(move || {
            let meta = std::fs::metadata(&path).map_err(|e| Error::LocalFile { path: path.clone(), message: e.to_string() })?;
            let modified = meta.modified().ok();
            if let Some(probe) = lock(&probes).get(&id)
                && probe.modified == modified
                && probe.len == meta.len()
            {
                return Ok(probe.hash.clone());
            }
            let hash = format!("{:032x}", xxh3_128(&Self::read_bytes(&path)?));
            lock(&probes).insert(id, Probe { modified, len: meta.len(), hash: hash.clone() });
            Ok(hash)
        })
        .await
    }

    async fn read(&self, spreadsheet: &str) -> Result<Vec<RawSheet>> {
        let (path, format) = self.path_of(spreadsheet)?;
        blocking(move || {
            let bytes = Self::read_bytes(&path)?;
            let parsed = match format {
                Format::Csv => Ok(vec![read_csv(&path, &bytes)]),
                Format::Xlsx => {
                    calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(calamine::Error::from).and_then(|wb| read_workbook(Sheets::Xlsx(wb)))
                }
                Format::Xls => calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(calamine::Error::from).and_then(|wb| read_workbook(Sheets::Xls(wb))),
                Format::Ods => calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(calamine::Error::from).and_then(|wb| read_workbook(Sheets::Ods(wb))),
            };
            parsed.map_err(|e| Error::LocalFile { path: path.clone(), message: e.to_string() })
        })
        .await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the probe cache leaves it merely stale.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// File parsing is blocking work: keep it off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

fn read_csv(path: &Path, bytes: &[u8]) -> RawSheet {
    let title = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut record = csv::ByteRecord::new();
    // The csv crate skips blank lines, but a spreadsheet shows them as empty
    // rows: place each record at its row, counting the blank lines before it
    // and not the line breaks inside its quoted fields.
    // A record's own position is taken before the blank lines in front of it
    // are skipped, so work from where each record ends instead.
    let mut previous: Option<(u64, u64)> = None; // (last line, row) of the previous record
    // A malformed record ends the file early rather than failing it: what
    // was read is still the best available view of the sheet.
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        let end = reader.position();
        let breaks: u64 = record.iter().map(|f| f.iter().filter(|b| **b == b'\n').count() as u64).sum();
        let terminated = end.byte() as usize > 0 && bytes.get(end.byte() as usize - 1) == Some(&b'\n');
        let last_line = if terminated { end.line() - 1 } else { end.line() };
        let start = last_line.saturating_sub(breaks);
        let row = match previous {
            None => start,
            Some((previous_last, row)) => row + start.saturating_sub(previous_last).max(1),
        };
        previous = Some((last_line, row));
        rows.resize_with(row.saturating_sub(1) as usize, Vec::new);
        rows.push(record.iter().map(|field| csv_cell(&String::from_utf8_lossy(field))).collect());
    }
    RawSheet { title, first_row: 1, rows }
}

/// CSV has no types: numbers and booleans are recognised the way a
/// spreadsheet would on import, but text that would lose information as a
/// number (`00042`, `+1`, ` 7`) stays text.
pub fn csv_cell(field: &str) -> Cell {
    if field.is_empty() {
        return Cell::Empty;
    }
    if field.eq_ignore_ascii_case("true") {
        return Cell::Bool(true);
    }
    if field.eq_ignore_ascii_case("false") {
        return Cell::Bool(false);
    }
    if looks_numeric(field)
        && let Ok(n) = field.parse::<f64>()
        && n.is_finite()
    {
        return Cell::Number(n);
    }
    Cell::Text(field.to_owned())
}

fn looks_numeric(field: &str) -> bool {
    let digits = field.strip_prefix('-').unwrap_or(field);
    let mut chars = digits.chars();
    let Some(first) = chars.next() else { return false };
    if !first.is_ascii_digit() {
        return false;
    }
    // A leading zero is kept only as "0" or "0.x": zip codes and SKUs
    // like 00042 are identifiers.
    if first == '0' && digits.len() > 1 && !digits[1..].starts_with('.') {
        return false;
    }
    digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
}

fn read_workbook<RS: std::io::Read + std::io::Seek>(mut workbook: Sheets<RS>) -> Result<Vec<RawSheet>, calamine::Error> {
    let names: Vec<String> = workbook.sheets_metadata().iter().filter(|sheet| sheet.typ == SheetType::WorkSheet).map(|sheet| sheet.name.clone()).collect();
    let mut sheets = Vec::with_capacity(names.len());
    for title in names {
        let range = workbook.worksheet_range(&title)?;
        let first_row = range.start().map_or(1, |(row, _)| row + 1);
        let rows = range.rows().map(|row| row.iter().map(data_cell).collect()).collect();
        sheets.push(RawSheet { title, first_row, rows });
    }
    Ok(sheets)
}

fn data_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::String(s) => Cell::Text(s.clone()),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            Cell::Text(if (h, mi, s, ms) == (0, 0, 0, 0) { format!("{y:04}-{mo:02}-{d:02}") } else { format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}") })
        }
        Data::DateTime(dt) => Cell::Text(dt.to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Text(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_typed_without_losing_identifiers() {
        assert_eq!(csv_cell("42"), Cell::Number(42.0));
        assert_eq!(csv_cell("-3.25"), Cell::Number(-3.25));
        assert_eq!(csv_cell("0.5"), Cell::Number(0.5));
        assert_eq!(csv_cell("TRUE"), Cell::Bool(true));
        assert_eq!(csv_cell("00042"), Cell::Text("00042".into()));
        assert_eq!(csv_cell("1e5x"), Cell::Text("1e5x".into()));
        assert_eq!(csv_cell("#N/A"), Cell::Text("#N/A".into()));
        assert_eq!(csv_cell(""), Cell::Empty);
    }

    #[test]
    fn ids_outside_the_directory_are_unknown() {
        let source = LocalSource::new(std::env::temp_dir());
        for id in ["../etc/passwd.csv", "/etc/x.csv", "a/b.csv", "notes.txt"] {
            assert!(matches!(source.path_of(id), Err(Error::UnknownSpreadsheet { .. })), "{id}");
        }
    }
}
