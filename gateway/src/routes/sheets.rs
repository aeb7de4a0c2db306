//! `GET /v1/sheets`, `GET /v1/sheets/{sheet}/rows` and `POST /v1/sync`.

use std::time::Instant;

use axum::extract::{Path, Query, State, rejection::QueryRejection};
use serde::Deserialize;
use sheetmesh_proto::v1::{GetRowsRequest, ListSheetsRequest, SyncRequest};

use crate::{
    clients::{Call, Service},
    error::Error,
    json::{ProtoJson, ProtoResponse},
    state::AppState,
};

/// `?spreadsheet=` of `GET /v1/sheets`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only sheets of this spreadsheet.
    #[serde(default)]
    pub spreadsheet: String,
}

/// The query of `GET /v1/sheets/{sheet}/rows` (camelCase, like the JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RowsQuery {
    /// Needed only when the title is ambiguous.
    #[serde(default)]
    pub spreadsheet: String,
    /// Rows per page, 1 to 10,000 (default 100).
    #[serde(default)]
    pub page_size: u32,
    /// `nextPageToken` of the previous page.
    #[serde(default)]
    pub page_token: String,
    /// Equality filter column.
    #[serde(default)]
    pub filter_column: String,
    /// Equality filter value.
    #[serde(default)]
    pub filter_value: String,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query.map(|Query(query)| query).map_err(|rejection| Error::BadRequest { field: None, message: rejection.body_text() })
}

/// Every synced sheet.
pub async fn list(State(state): State<AppState>, call: Call, params: Result<Query<ListQuery>, QueryRejection>) -> Result<ProtoResponse, Error> {
    let ListQuery { spreadsheet } = query(params)?;
    let sheets = call.run(Service::Sheets, state.clients.sheets.clone().list_sheets(call.request(ListSheetsRequest { spreadsheet }))).await?;
    Ok(ProtoResponse::new(&sheets))
}

/// One page of a sheet's rows.
pub async fn rows(
    State(state): State<AppState>,
    call: Call,
    Path(sheet): Path<String>,
    params: Result<Query<RowsQuery>, QueryRejection>,
) -> Result<ProtoResponse, Error> {
    let RowsQuery { spreadsheet, page_size, page_token, filter_column, filter_value } = query(params)?;
    let request = GetRowsRequest { sheet, spreadsheet, page_size, page_token, filter_column, filter_value };
    let rows = call.run(Service::Sheets, state.clients.sheets.clone().get_rows(call.request(request))).await?;
    Ok(ProtoResponse::new(&rows))
}

/// Syncs now and reports per sheet.
pub async fn sync(State(state): State<AppState>, call: Call, ProtoJson(request): ProtoJson<SyncRequest>) -> Result<ProtoResponse, Error> {
    let started = Instant::now();
    let result = call.run(Service::Sheets, state.clients.sheets.clone().sync(call.request(request))).await;
    state.metrics.sync("api", result.is_ok());
    state.metrics.sync_duration.observe(started.elapsed().as_secs_f64());
    Ok(ProtoResponse::new(&result?))
}
