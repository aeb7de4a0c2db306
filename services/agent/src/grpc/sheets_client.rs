//! [`SheetSource`] over the SheetsService gRPC client.

use async_trait::async_trait;
use futures::{StreamExt, stream::BoxStream};
use sheetmesh_common::grpc::GrpcChannel;
use sheetmesh_proto::v1::{GetRowsRequest, ListSheetsRequest, SheetChange, WatchChangesRequest, sheets_service_client::SheetsServiceClient};
use tonic::Code;

use crate::{
    error::{Error, Result},
    follow::{SheetMeta, SheetSnapshot, SheetSource},
};

/// Rows per `GetRows` page while loading (the contract's maximum).
const PAGE_SIZE: u32 = 10_000;
/// Times a load restarts when the sheet changes while paging.
const MAX_RESTARTS: usize = 5;

/// The rows come from sheets-sync.
#[derive(Debug, Clone)]
pub struct GrpcSheetSource {
    client: SheetsServiceClient<GrpcChannel>,
}

impl GrpcSheetSource {
    /// A source over `channel` (from `SHEETS_SYNC_URL`).
    pub fn new(channel: GrpcChannel) -> Self {
        // Large sheets come in large pages.
        Self { client: SheetsServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024) }
    }
}

fn source_error(what: &str, status: &tonic::Status) -> Error {
    Error::Source(format!("{what}: {:?}: {}", status.code(), status.message()))
}

#[async_trait]
impl SheetSource for GrpcSheetSource {
    async fn list_sheets(&self) -> Result<Vec<SheetMeta>> {
        let response = self.client.clone().list_sheets(ListSheetsRequest::default()).await.map_err(|status| source_error("ListSheets", &status))?;
        Ok(response
            .into_inner()
            .sheets
            .into_iter()
            .map(|sheet| SheetMeta { spreadsheet: sheet.spreadsheet, sheet: sheet.name, version: sheet.version })
            .collect())
    }

    async fn load(&self, spreadsheet: &str, sheet: &str) -> Result<SheetSnapshot> {
        let mut client = self.client.clone();
        'restart: for _ in 0..MAX_RESTARTS {
            let mut snapshot = SheetSnapshot { version: String::new(), columns: Vec::new(), rows: Vec::new() };
            let mut page_token = String::new();
            loop {
                let request = GetRowsRequest {
                    sheet: sheet.to_owned(),
                    spreadsheet: spreadsheet.to_owned(),
                    page_size: PAGE_SIZE,
                    page_token,
                    ..GetRowsRequest::default()
                };
                let page = match client.get_rows(request).await {
                    Ok(page) => page.into_inner(),
                    // The sheet changed between pages: start over at the new version.
                    Err(status) if status.code() == Code::FailedPrecondition => continue 'restart,
                    Err(status) => return Err(source_error(&format!("GetRows {spreadsheet}/{sheet}"), &status)),
                };
                if let Some(info) = page.sheet {
                    snapshot.version = info.version;
                    snapshot.columns = info.columns;
                }
                snapshot.rows.extend(page.rows);
                if page.next_page_token.is_empty() {
                    return Ok(snapshot);
                }
                page_token = page.next_page_token;
            }
        }
        Err(Error::Source(format!("{spreadsheet}/{sheet} kept changing while it was read; will retry on the next change")))
    }

    async fn watch(&self) -> Result<BoxStream<'static, Result<SheetChange>>> {
        let stream =
            self.client.clone().watch_changes(WatchChangesRequest::default()).await.map_err(|status| source_error("WatchChanges", &status))?.into_inner();
        Ok(stream.map(|change| change.map_err(|status| source_error("WatchChanges stream", &status))).boxed())
    }
}
