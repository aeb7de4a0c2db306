//! The domain records shared by sources, stores, the sync engine and the
//! watch stream: which sheet, what is known about it, what changed.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Names one sheet: its spreadsheet and its title.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SheetKey {
    /// Google spreadsheet id, or file name relative to `SHEETS_DIR`.
    pub spreadsheet: String,
    /// Sheet title. Empty only for the placeholder that carries an error of
    /// a spreadsheet none of whose sheets has ever been read (so that the
    /// reason still shows in `ListSheets`).
    pub sheet: String,
}

impl SheetKey {
    /// A key from its two parts.
    pub fn new(spreadsheet: impl Into<String>, sheet: impl Into<String>) -> Self {
        Self { spreadsheet: spreadsheet.into(), sheet: sheet.into() }
    }

    /// The cache tag of this sheet: `sheet:<spreadsheet>/<sheet>`.
    pub fn cache_tag(&self) -> String {
        format!("sheet:{}/{}", self.spreadsheet, self.sheet)
    }
}

impl std::fmt::Display for SheetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.spreadsheet, self.sheet)
    }
}

/// Where sheets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceKind {
    /// Google Sheets API.
    Google,
    /// Files in `SHEETS_DIR`.
    Local,
}

impl SourceKind {
    /// "google" or "local", as `SheetInfo.source` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Google => "google",
            SourceKind::Local => "local",
        }
    }
}

/// What the store knows about a sheet, without its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetMeta {
    /// Which sheet.
    pub key: SheetKey,
    /// Position of the sheet within its spreadsheet (0-based), for ordering.
    pub position: u32,
    /// Where it comes from.
    pub source: SourceKind,
    /// Column names of the stored version.
    pub columns: Vec<String>,
    /// Data rows of the stored version.
    pub row_count: u64,
    /// Stored version; empty while no sync has succeeded.
    pub version: String,
    /// When the stored version was stored.
    pub synced_at: Option<SystemTime>,
    /// Why the last attempt failed; `None` when it succeeded.
    pub last_error: Option<String>,
    /// When the last attempt ended.
    pub last_attempt_at: Option<SystemTime>,
}

impl SheetMeta {
    /// Meta of a sheet never synced yet.
    pub fn new(key: SheetKey, position: u32, source: SourceKind) -> Self {
        Self { key, position, source, columns: Vec::new(), row_count: 0, version: String::new(), synced_at: None, last_error: None, last_attempt_at: None }
    }
}

/// The kind of a [`ChangeEvent`], as `SheetChange.Kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// The current version, sent once per sheet when a watch opens.
    Current,
    /// A new version was stored.
    Changed,
    /// The sheet no longer exists in its source.
    Removed,
}

/// One sheet-version change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// What happened.
    pub kind: ChangeKind,
    /// To which sheet.
    pub key: SheetKey,
    /// The version now stored; empty for [`ChangeKind::Removed`].
    pub version: String,
    /// The version before; empty for [`ChangeKind::Current`] and new sheets.
    pub previous_version: String,
    /// Data rows in the new version.
    pub row_count: u64,
    /// When it was stored.
    pub changed_at: SystemTime,
}

/// What one sync did to one sheet (`SheetSyncResult` in the contract).
#[derive(Debug, Clone, PartialEq)]
pub struct SheetSyncResult {
    /// Which sheet.
    pub key: SheetKey,
    /// The version now stored (the old one if this sync failed).
    pub version: String,
    /// Data rows in the stored version.
    pub row_count: u64,
    /// True when this sync stored a new version.
    pub changed: bool,
    /// Why the sheet could not be synced.
    pub error: Option<String>,
}

impl SheetSyncResult {
    pub(crate) fn from_meta(meta: &SheetMeta, changed: bool) -> Self {
        Self { key: meta.key.clone(), version: meta.version.clone(), row_count: meta.row_count, changed, error: meta.last_error.clone() }
    }
}
