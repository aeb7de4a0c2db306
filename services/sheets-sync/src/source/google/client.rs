//! The HTTP calls to Google: Drive probe, sheet titles, one batch read, and
//! push channels. Every call goes through [`GoogleClient::call`]: bearer
//! token, one fresh token and retry on 401, truncated exponential backoff
//! with jitter on 429/5xx/network errors (honouring `Retry-After`), and a
//! typed error for 403/404 that is never retried.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::{ServiceAccountKey, TokenProvider};
use crate::cell::Cell;
use crate::error::{Error, Result};

/// Backoff for 429 and 5xx: wait min(2^n · `min_delay` + jitter, `max_delay`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First wait (Google suggests 1 s).
    pub min_delay: Duration,
    /// Longest single wait (Google suggests 32–64 s).
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { min_delay: Duration::from_secs(1), max_delay: Duration::from_secs(32), max_retries: 5 }
    }
}

/// Where Google is and how patient to be with it.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// `GOOGLE_SHEETS_API_URL`, default `https://sheets.googleapis.com`.
    pub sheets_api_url: String,
    /// `GOOGLE_DRIVE_API_URL`, default `https://www.googleapis.com`.
    pub drive_api_url: String,
    /// Backoff on 429 and 5xx.
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self {
            sheets_api_url: "https://sheets.googleapis.com".into(),
            drive_api_url: "https://www.googleapis.com".into(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// `files.get?fields=version,modifiedTime`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveVersion {
    /// Increases on every change (an int64 carried as a string).
    pub version: String,
    /// RFC 3339 time of the last change.
    #[serde(default)]
    pub modified_time: String,
}

/// One sheet's properties from `spreadsheets.get`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SheetProperties {
    /// The title.
    pub title: String,
    /// `GRID` for data sheets, `OBJECT` for chart sheets.
    #[serde(default)]
    pub sheet_type: String,
}

#[derive(Deserialize)]
struct Spreadsheet {
    #[serde(default)]
    sheets: Vec<SheetEntry>,
}

#[derive(Deserialize)]
struct SheetEntry {
    properties: SheetProperties,
}

/// One range of a `values:batchGet` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ValueRange {
    /// The range as Google clamped it, e.g. `'My Sheet'!A1:Z1000`.
    #[serde(default)]
    pub range: String,
    /// Ragged rows; absent when the range holds no data.
    #[serde(default)]
    pub values: Vec<Vec<Cell>>,
}

#[derive(Deserialize)]
struct BatchGet {
    #[serde(default, rename = "valueRanges")]
    value_ranges: Vec<ValueRange>,
}

/// An open Drive push channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Our channel id (a UUID).
    pub id: String,
    /// Google's id of the watched resource, needed to stop the channel.
    pub resource_id: String,
    /// When the channel ends, in Unix milliseconds (a string in Google's JSON).
    #[serde(default)]
    pub expiration: Option<String>,
}

#[derive(Serialize)]
struct WatchRequest<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    address: &'a str,
    token: &'a str,
    expiration: u64,
}

#[derive(Deserialize)]
struct GoogleErrorBody {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

/// A Google API client for one service account.
#[derive(Debug, Clone)]
pub struct GoogleClient {
    http: reqwest::Client,
    auth: Arc<TokenProvider>,
    config: GoogleConfig,
}

impl GoogleClient {
    /// A client for the account of `key`.
    pub fn new(key: &ServiceAccountKey, config: GoogleConfig) -> Result<Self> {
        sheetmesh_common::install_crypto_provider();
        let http = reqwest::Client::builder().timeout(config.timeout).build().map_err(|source| Error::Transport { what: "an HTTP client".into(), source })?;
        let auth = Arc::new(TokenProvider::new(key, http.clone())?);
        Ok(Self { http, auth, config })
    }

    /// The service account's e-mail.
    pub fn client_email(&self) -> &str {
        self.auth.client_email()
    }

    /// Drive's change probe: cheap, and unchanged `version` = unchanged file.
    pub async fn drive_version(&self, spreadsheet: &str) -> Result<DriveVersion> {
        let url = format!("{}/drive/v3/files/{}", self.config.drive_api_url, path_id(spreadsheet)?);
        self.call(&GoogleCall::get(&url, &[("fields", "version,modifiedTime")], spreadsheet, "the Drive change probe")).await
    }

    /// Titles and types of every sheet.
    pub async fn sheet_properties(&self, spreadsheet: &str) -> Result<Vec<SheetProperties>> {
        let url = format!("{}/v4/spreadsheets/{}", self.config.sheets_api_url, path_id(spreadsheet)?);
        let fields = "sheets.properties(sheetId,title,sheetType,gridProperties(rowCount,columnCount))";
        let book: Spreadsheet = self.call(&GoogleCall::get(&url, &[("fields", fields)], spreadsheet, "the sheet titles")).await?;
        Ok(book.sheets.into_iter().map(|s| s.properties).collect())
    }

    /// Every cell of the given sheets in ONE request (one quota unit).
    pub async fn batch_get(&self, spreadsheet: &str, titles: &[String]) -> Result<Vec<ValueRange>> {
        let url = format!("{}/v4/spreadsheets/{}/values:batchGet", self.config.sheets_api_url, path_id(spreadsheet)?);
        let ranges: Vec<String> = titles.iter().map(|t| a1_sheet(t)).collect();
        let mut query: Vec<(&str, &str)> = ranges.iter().map(|r| ("ranges", r.as_str())).collect();
        query.extend([("majorDimension", "ROWS"), ("valueRenderOption", "UNFORMATTED_VALUE"), ("dateTimeRenderOption", "FORMATTED_STRING")]);
        let answer: BatchGet = self.call(&GoogleCall::get(&url, &query, spreadsheet, "the sheet values")).await?;
        Ok(answer.value_ranges)
    }

    /// Opens a push channel on a spreadsheet (`files.watch`).
    pub async fn watch(&self, spreadsheet: &str, address: &str, token: &str, expiration_ms: u64) -> Result<Channel> {
        let url = format!("{}/drive/v3/files/{}/watch", self.config.drive_api_url, path_id(spreadsheet)?);
        let id = uuid::Uuid::new_v4().to_string();
        let body = WatchRequest { id: &id, kind: "web_hook", address, token, expiration: expiration_ms };
        self.call(&GoogleCall::post(&url, &body, spreadsheet, "a push channel")).await
    }

    /// Closes a push channel (`channels.stop`).
    pub async fn stop_channel(&self, spreadsheet: &str, channel: &Channel) -> Result<()> {
        let url = format!("{}/drive/v3/channels/stop", self.config.drive_api_url);
        let body = serde_json::json!({ "id": channel.id, "resourceId": channel.resource_id });
        let _: serde_json::Value = self.call(&GoogleCall::post(&url, &body, spreadsheet, "stopping a push channel")).await?;
        Ok(())
    }

    /// One Google request, retried with backoff while it fails transiently.
    async fn call<T: DeserializeOwned, B: Serialize>(&self, request: &GoogleCall<'_, B>) -> Result<T> {
        let policy = self.config.retry;
        let backoff =
            ExponentialBuilder::default().with_min_delay(policy.min_delay).with_max_delay(policy.max_delay).with_max_times(policy.max_retries).with_jitter();
        let attempt = || self.attempt(request);
        attempt
            .retry(backoff)
            .when(Error::is_transient)
            // Google's own wait wins over ours, within our ceiling.
            .adjust(move |error: &Error, next| next.map(|d| error.retry_after().map_or(d, |r| r.min(policy.max_delay))))
            .notify(|error, wait| tracing::warn!(%error, ?wait, "Google call failed; retrying"))
            .await
    }

    /// One try of `request`, with one fresh token after a 401.
    async fn attempt<T: DeserializeOwned, B: Serialize>(&self, request: &GoogleCall<'_, B>) -> Result<T> {
        let &GoogleCall { ref method, url, query, body, spreadsheet, what } = request;
        let what = format!("{what} of spreadsheet {spreadsheet}");
        let transport = |source| Error::Transport { what: what.clone(), source };
        let send = |token: String| {
            let mut request = self.http.request(method.clone(), url).query(query).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            request.send()
        };
        let token = self.auth.token().await?;
        let mut response = send(token.clone()).await.map_err(transport)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // Revoked or expired early: one fresh token, one more try.
            self.auth.invalidate(&token).await;
            response = send(self.auth.token().await?).await.map_err(transport)?;
        }
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            // 204 (channels.stop) has no body: read it as JSON null.
            let bytes = if bytes.is_empty() { bytes::Bytes::from_static(b"null") } else { bytes };
            return serde_json::from_slice(&bytes).map_err(|e| Error::Google { what, status: status.as_u16(), message: format!("malformed answer ({e})") });
        }
        let message = match serde_json::from_slice::<GoogleErrorBody>(&bytes) {
            Ok(body) if body.error.status.is_empty() => body.error.message,
            Ok(body) => format!("{} {}", body.error.status, body.error.message),
            Err(_) => String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        };
        let spreadsheet = spreadsheet.to_owned();
        Err(match status.as_u16() {
            403 => Error::AccessDenied { spreadsheet, client_email: self.client_email().to_owned(), message },
            404 => Error::NotFound { spreadsheet, message },
            429 | 500..=599 => Error::Unavailable { what, status: status.as_u16(), message, retry_after },
            code => Error::Google { what, status: code, message },
        })
    }
}

/// What [`GoogleClient::call`] sends: the request, and what it is for
/// (named in errors and logs).
struct GoogleCall<'a, B> {
    method: Method,
    url: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: Option<&'a B>,
    spreadsheet: &'a str,
    what: &'a str,
}

impl<'a> GoogleCall<'a, ()> {
    fn get(url: &'a str, query: &'a [(&'a str, &'a str)], spreadsheet: &'a str, what: &'a str) -> Self {
        Self { method: Method::GET, url, query, body: None, spreadsheet, what }
    }
}

impl<'a, B> GoogleCall<'a, B> {
    fn post(url: &'a str, body: &'a B, spreadsheet: &'a str, what: &'a str) -> Self {
        Self { method: Method::POST, url, query: &[], body: Some(body), spreadsheet, what }
    }
}

/// Spreadsheet ids go into URL paths: accept only the characters Google
/// uses, so an id from a webhook cannot change the path.
fn path_id(spreadsheet: &str) -> Result<&str> {
    let valid = !spreadsheet.is_empty() && spreadsheet.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid { Ok(spreadsheet) } else { Err(Error::UnknownSpreadsheet { spreadsheet: spreadsheet.to_owned() }) }
}

/// A whole sheet in A1 notation: the title quoted, quotes doubled, so a
/// title that is also a named range or contains spaces is still the sheet.
pub fn a1_sheet(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// The 1-based row where a returned range starts (`'S'!B3:D9` → 3).
pub fn range_first_row(range: &str) -> u32 {
    let cells = range.rsplit_once('!').map_or(range, |(_, cells)| cells);
    let start = cells.split(':').next().unwrap_or_default();
    start.trim_start_matches(|c: char| c.is_ascii_alphabetic()).parse().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_quoted_for_a1() {
        assert_eq!(a1_sheet("It's here"), "'It''s here'");
        assert_eq!(a1_sheet("Products"), "'Products'");
    }

    #[test]
    fn first_row_comes_from_the_returned_range() {
        assert_eq!(range_first_row("'My Sheet'!A1:Z1000"), 1);
        assert_eq!(range_first_row("'a!b'!B3:D9"), 3);
        assert_eq!(range_first_row("Sheet1"), 1);
    }

    #[test]
    fn ids_that_could_change_the_path_are_refused() {
        assert!(path_id("1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms").is_ok());
        assert!(path_id("../x").is_err() && path_id("a/b").is_err() && path_id("").is_err());
    }
}
