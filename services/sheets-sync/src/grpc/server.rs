//! `sheetmesh.v1.SheetsService`: validate, convert, call the engine and store.

use std::{pin::Pin, sync::Arc};

use futures::{Stream, StreamExt};
use sheetmesh_proto::v1::{
    GetRowsRequest, GetRowsResponse, ListSheetsRequest, ListSheetsResponse, NotifyRequest, NotifyResponse, SheetChange, SyncRequest, SyncResponse,
    WatchChangesRequest, sheets_service_server::SheetsService,
};
use tonic::{Request, Response, Status};

use crate::{
    error::Error,
    notify::Debouncer,
    proto,
    query::{self, RowsQuery},
    sync::{SyncEngine, SyncReport},
};

/// The tonic service over the sync engine.
#[derive(Debug)]
pub struct SheetsGrpc {
    engine: Arc<SyncEngine>,
    debouncer: Debouncer,
}

impl SheetsGrpc {
    /// Serves `engine`; notifications go through `debouncer`.
    pub fn new(engine: Arc<SyncEngine>, debouncer: Debouncer) -> Self {
        Self { engine, debouncer }
    }
}

fn results(reports: &[SyncReport]) -> SyncResponse {
    SyncResponse { results: reports.iter().flat_map(|report| report.results.iter().map(proto::sync_result)).collect() }
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<SheetChange, Status>> + Send>>;

#[tonic::async_trait]
impl SheetsService for SheetsGrpc {
    async fn list_sheets(&self, request: Request<ListSheetsRequest>) -> Result<Response<ListSheetsResponse>, Status> {
        let spreadsheet = &request.get_ref().spreadsheet;
        let metas = self.engine.store().list((!spreadsheet.is_empty()).then_some(spreadsheet.as_str())).await?;
        Ok(Response::new(ListSheetsResponse { sheets: metas.iter().map(proto::sheet_info).collect() }))
    }

    async fn get_rows(&self, request: Request<GetRowsRequest>) -> Result<Response<GetRowsResponse>, Status> {
        let GetRowsRequest { sheet, spreadsheet, page_size, page_token, filter_column, filter_value } = request.into_inner();
        let store = self.engine.store();
        let key = query::resolve(store.as_ref(), &sheet, &spreadsheet).await?;
        let Some((meta, snapshot)) = store.snapshot(&key).await? else {
            return Err(Status::unavailable(format!("sheet {sheet:?} has not been synced successfully yet; see last_error in ListSheets")));
        };
        let query = RowsQuery { sheet, spreadsheet, page_size, page_token, filter_column, filter_value };
        // Filtering and converting 10k-row pages is CPU work.
        let page = tokio::task::spawn_blocking(move || query::page(meta, &snapshot, &query))
            .await
            .map_err(|error| Status::internal(format!("paging failed: {error}")))??;
        Ok(Response::new(GetRowsResponse {
            sheet: Some(proto::sheet_info(&page.meta)),
            rows: page.rows,
            next_page_token: page.next_page_token,
            total_rows: page.total_rows,
        }))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let spreadsheet = request.into_inner().spreadsheet;
        if spreadsheet.is_empty() {
            return Ok(Response::new(results(&self.engine.sync_all().await?)));
        }
        if !self.engine.is_known(&spreadsheet).await? {
            return Err(Error::UnknownSpreadsheet { spreadsheet }.into());
        }
        Ok(Response::new(results(&[self.engine.sync_spreadsheet(&spreadsheet).await?])))
    }

    async fn notify(&self, request: Request<NotifyRequest>) -> Result<Response<NotifyResponse>, Status> {
        let NotifyRequest { spreadsheet, sheet, range, change_type, source } = request.into_inner();
        tracing::info!(%spreadsheet, %sheet, %range, %change_type, %source, "change notification");
        if spreadsheet.is_empty() {
            // A sender that cannot name the spreadsheet (e.g. a Drive channel
            // whose resource id we do not map): sync everything we know.
            let known = self.engine.store().list(None).await?;
            let mut ids: Vec<&str> = known.iter().map(|meta| meta.key.spreadsheet.as_str()).collect();
            ids.dedup();
            ids.iter().for_each(|id| self.debouncer.notify(id));
            return Ok(Response::new(NotifyResponse { scheduled: !ids.is_empty() }));
        }
        let scheduled = self.engine.is_known(&spreadsheet).await?;
        if scheduled {
            self.debouncer.notify(&spreadsheet);
        }
        Ok(Response::new(NotifyResponse { scheduled }))
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Result<Response<Self::WatchChangesStream>, Status> {
        let spreadsheet = request.into_inner().spreadsheet;
        let subscription = self.engine.subscribe((!spreadsheet.is_empty()).then_some(spreadsheet));
        let changes = subscription.into_stream().map(|event| Ok(proto::sheet_change(&event)));
        Ok(Response::new(Box::pin(changes)))
    }
}
