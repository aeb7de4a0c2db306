//! Where sheets come from: one trait, two implementations — [`local`] files
//! (`.csv`, `.xlsx`, `.xls`, `.ods`) and the [`google`] Sheets API.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::SourceKind;
use crate::normalize::RawSheet;

pub mod google;
pub mod local;

/// A spreadsheet source. The engine calls [`Source::probe`] before
/// [`Source::read`]: a probe token equal to the one stored after the last
/// successful read means nothing changed, and the (expensive, quota-limited)
/// read is skipped.
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// Which kind of source this is, for `SheetInfo.source`.
    fn kind(&self) -> SourceKind;

    /// The spreadsheets this source syncs: the configured Google ids, or the
    /// spreadsheet files present in the directory now.
    async fn spreadsheets(&self) -> Result<Vec<String>>;

    /// Titles of the (selected) sheets of one spreadsheet, in order.
    async fn sheet_titles(&self, spreadsheet: &str) -> Result<Vec<String>>;

    /// A cheap token that changes whenever the content may have changed.
    async fn probe(&self, spreadsheet: &str) -> Result<String>;

    /// Every (selected) sheet of one spreadsheet, in order.
    async fn read(&self, spreadsheet: &str) -> Result<Vec<RawSheet>>;
}
