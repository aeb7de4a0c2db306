//! Google Sheets as a [`Source`]: the Drive `version` as the probe, titles
//! from `spreadsheets.get` (grid sheets only, optionally a configured
//! subset), and all values in one `values:batchGet`.
//!
//! - [`auth`] — service-account JWT grant, token cache.
//! - [`client`] — the HTTP calls, retries and error mapping.
//! - [`push`] — Drive push channels (`files.watch`), renewed and stopped.

use async_trait::async_trait;

use super::Source;
use crate::error::Result;
use crate::model::SourceKind;
use crate::normalize::RawSheet;

pub mod auth;
pub mod client;
pub mod push;

pub use auth::ServiceAccountKey;
pub use client::{GoogleClient, GoogleConfig, RetryPolicy};

/// Configured Google spreadsheets read through a [`GoogleClient`].
#[derive(Debug, Clone)]
pub struct GoogleSource {
    client: GoogleClient,
    spreadsheets: Vec<String>,
    sheet_names: Vec<String>,
}

impl GoogleSource {
    /// Syncs `spreadsheets` (`GOOGLE_SHEETS_SPREADSHEET_ID`); only the
    /// sheets titled in `sheet_names` (`GOOGLE_SHEETS_SHEET_NAMES`), or
    /// every grid sheet when it is empty.
    pub fn new(client: GoogleClient, spreadsheets: Vec<String>, sheet_names: Vec<String>) -> Self {
        Self { client, spreadsheets, sheet_names }
    }

    /// The client, e.g. for push channels.
    pub fn client(&self) -> &GoogleClient {
        &self.client
    }
}

#[async_trait]
impl Source for GoogleSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Google
    }

    async fn spreadsheets(&self) -> Result<Vec<String>> {
        Ok(self.spreadsheets.clone())
    }

    async fn sheet_titles(&self, spreadsheet: &str) -> Result<Vec<String>> {
        let sheets = self.client.sheet_properties(spreadsheet).await?;
        Ok(sheets
            .into_iter()
            // Chart sheets (OBJECT) have no cells.
            .filter(|s| s.sheet_type.is_empty() || s.sheet_type == "GRID")
            .map(|s| s.title)
            .filter(|title| self.sheet_names.is_empty() || self.sheet_names.contains(title))
            .collect())
    }

    async fn probe(&self, spreadsheet: &str) -> Result<String> {
        Ok(self.client.drive_version(spreadsheet).await?.version)
    }

    async fn read(&self, spreadsheet: &str) -> Result<Vec<RawSheet>> {
        let titles = self.sheet_titles(spreadsheet).await?;
        if titles.is_empty() {
            return Ok(Vec::new());
        }
        let ranges = self.client.batch_get(spreadsheet, &titles).await?;
        // valueRanges come back in request order.
        Ok(titles
            .into_iter()
            .zip(ranges)
            .map(|(title, range)| RawSheet { first_row: client::range_first_row(&range.range), title, rows: range.values })
            .collect())
    }
}
