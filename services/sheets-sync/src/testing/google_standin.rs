//! A stand-in for Google's token endpoint, Sheets API v4 and Drive API v3:
//! a real HTTP server on 127.0.0.1 following the public shapes
//! (see shared/reference/google-apis.md). It verifies the JWT's RS256
//! signature, issues expiring tokens, trims trailing empty cells and rows,
//! quotes returned ranges, answers `google.rpc.Status` errors, and counts
//! every request so tests can prove what was (not) called.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

/// The test-only RSA key of the stand-in's service account (never used
/// anywhere real).
pub const TEST_PRIVATE_KEY: &str = include_str!("test-key.pem");
const TEST_PUBLIC_KEY: &str = include_str!("test-key.pub.pem");
/// The stand-in's service account.
pub const CLIENT_EMAIL: &str = "sheets-sync@sheetmesh-test.iam.gserviceaccount.com";

/// Request counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Token requests that got a token.
    pub tokens: AtomicUsize,
    /// `spreadsheets.get`.
    pub gets: AtomicUsize,
    /// `values:batchGet`, answered or refused.
    pub batch_gets: AtomicUsize,
    /// Drive `files.get` probes.
    pub probes: AtomicUsize,
    /// `files.watch`.
    pub watches: AtomicUsize,
    /// `channels.stop`.
    pub stops: AtomicUsize,
    /// Requests refused with 401.
    pub unauthorized: AtomicUsize,
}

#[derive(Debug, Default)]
struct Book {
    version: u64,
    sheets: Vec<(String, Vec<Vec<Value>>)>,
}

#[derive(Debug, Default)]
struct World {
    books: BTreeMap<String, Book>,
    denied: HashSet<String>,
    tokens: HashSet<String>,
    rate_limit_next: usize,
    retry_after: Option<u64>,
    channels: Vec<Value>,
    stopped: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    world: Mutex<World>,
    watched: tokio::sync::Notify,
    counters: Counters,
    token_uri: String,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running stand-in; stops when dropped.
#[derive(Debug)]
pub struct GoogleStandIn {
    base: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for GoogleStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GoogleStandIn {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the Google stand-in");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let shared = Arc::new(Shared {
            world: Mutex::default(),
            watched: tokio::sync::Notify::new(),
            counters: Counters::default(),
            token_uri: format!("{base}/token"),
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/v4/spreadsheets/{id}", get(spreadsheet))
            .route("/v4/spreadsheets/{id}/values:batchGet", get(batch_get))
            .route("/drive/v3/files/{id}", get(drive_file))
            .route("/drive/v3/files/{id}/watch", post(watch))
            .route("/drive/v3/channels/stop", post(stop))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, shared, server }
    }

    /// Base URL for both `GOOGLE_SHEETS_API_URL` and `GOOGLE_DRIVE_API_URL`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// A service-account key file whose `token_uri` is this stand-in.
    pub fn key_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": "sheetmesh-test",
            "private_key_id": "test-key-1",
            "private_key": TEST_PRIVATE_KEY,
            "client_email": CLIENT_EMAIL,
            "client_id": "1",
            "token_uri": self.shared.token_uri,
        })
        .to_string()
    }

    /// The request counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Shorthand for a counter's value.
    pub fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// Creates or replaces a spreadsheet's sheets (bumps its Drive version).
    /// Cells are JSON values as `UNFORMATTED_VALUE` would carry them.
    pub fn set_spreadsheet(&self, id: &str, sheets: Vec<(String, Vec<Vec<Value>>)>) {
        let mut world = self.shared.world();
        let book = world.books.entry(id.to_owned()).or_default();
        book.version += 1;
        book.sheets = sheets;
    }

    /// Answers 403 PERMISSION_DENIED for `id` until allowed again.
    pub fn deny(&self, id: &str, denied: bool) {
        let mut world = self.shared.world();
        if denied {
            world.denied.insert(id.to_owned());
        } else {
            world.denied.remove(id);
        }
    }

    /// Answers the next `n` batchGet requests with 429 RESOURCE_EXHAUSTED,
    /// with `Retry-After: retry_after` seconds if given.
    pub fn rate_limit_next(&self, n: usize, retry_after: Option<u64>) {
        let mut world = self.shared.world();
        world.rate_limit_next = n;
        world.retry_after = retry_after;
    }

    /// Revokes every issued token (the next API call gets 401).
    pub fn revoke_tokens(&self) {
        self.shared.world().tokens.clear();
    }

    /// The bodies of `files.watch` requests.
    pub fn channels(&self) -> Vec<Value> {
        self.shared.world().channels.clone()
    }

    /// Waits until `n` channels were opened (`files.watch`).
    pub async fn wait_for_watches(&self, n: usize) {
        loop {
            // Created before the check, so a watch in between still wakes us.
            let notified = self.shared.watched.notified();
            if Self::count(&self.shared.counters.watches) >= n {
                return;
            }
            notified.await;
        }
    }

    /// Ids of stopped channels.
    pub fn stopped(&self) -> Vec<String> {
        self.shared.world().stopped.clone()
    }
}

fn status(code: StatusCode, status: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code.as_u16(), "message": message, "status": status } });
    (code, Json(body)).into_response()
}

/// `None` when the bearer token is one we issued; else the 401 to answer.
fn refuse_unauthorized(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
    if shared.world().tokens.contains(token) {
        return None;
    }
    shared.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
    Some(status(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Request had invalid authentication credentials."))
}

async fn token(State(shared): State<Arc<Shared>>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let invalid = |description: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": description }))).into_response();
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return invalid("Invalid grant_type.");
    }
    let key = DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).expect("test public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&shared.token_uri]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    let claims = match jsonwebtoken::decode::<Value>(form.get("assertion").map_or("", String::as_str), &key, &validation) {
        Ok(data) => data.claims,
        Err(_) => return invalid("Invalid JWT Signature."),
    };
    let scope = claims["scope"].as_str().unwrap_or_default();
    if !scope.contains("spreadsheets.readonly") || !scope.contains("drive.metadata.readonly") {
        return invalid("Invalid scope.");
    }
    let n = shared.counters.tokens.fetch_add(1, Ordering::SeqCst);
    let access_token = format!("ya29.test-{n}-{}", uuid::Uuid::new_v4());
    shared.world().tokens.insert(access_token.clone());
    Json(json!({ "access_token": access_token, "expires_in": 3599, "token_type": "Bearer" })).into_response()
}

async fn spreadsheet(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_unauthorized(&shared, &headers) {
        return refused;
    }
    shared.counters.gets.fetch_add(1, Ordering::SeqCst);
    let world = shared.world();
    if world.denied.contains(&id) {
        return status(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "The caller does not have permission");
    }
    let Some(book) = world.books.get(&id) else {
        return status(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.");
    };
    let mut sheets: Vec<Value> = book
        .sheets
        .iter()
        .enumerate()
        .map(|(i, (title, rows))| {
            let columns = rows.iter().map(Vec::len).max().unwrap_or(0).max(26);
            json!({ "properties": { "sheetId": i, "title": title, "sheetType": "GRID",
                "gridProperties": { "rowCount": rows.len().max(1000), "columnCount": columns } } })
        })
        .collect();
    // A chart sheet, which has no cells and must be skipped.
    sheets.push(json!({ "properties": { "sheetId": 999, "title": "Chart 1", "sheetType": "OBJECT" } }));
    Json(json!({ "sheets": sheets })).into_response()
}

fn unquote(range: &str) -> Option<String> {
    let inner = range.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn column_letters(mut n: usize) -> String {
    let mut letters = Vec::new();
    while n > 0 {
        letters.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

async fn batch_get(State(shared): State<Arc<Shared>>, Path(id): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_unauthorized(&shared, &headers) {
        return refused;
    }
    shared.counters.batch_gets.fetch_add(1, Ordering::SeqCst);
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&query.unwrap_or_default()).unwrap_or_default();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let mut world = shared.world();
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        let body = json!({ "error": { "code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user'.",
            "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com", "metadata": { "service": "sheets.googleapis.com" } }] } });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        if let Some(seconds) = world.retry_after {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        return response;
    }
    if world.denied.contains(&id) {
        return status(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "The caller does not have permission");
    }
    if param("majorDimension") != Some("ROWS")
        || param("valueRenderOption") != Some("UNFORMATTED_VALUE")
        || param("dateTimeRenderOption") != Some("FORMATTED_STRING")
    {
        return status(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "unexpected render options");
    }
    let Some(book) = world.books.get(&id) else {
        return status(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.");
    };
    let mut ranges = Vec::new();
    for (_, range) in params.iter().filter(|(k, _)| k == "ranges") {
        let sheet = unquote(range).and_then(|title| book.sheets.iter().find(|(t, _)| *t == title));
        let Some((title, rows)) = sheet else {
            return status(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &format!("Unable to parse range: {range}"));
        };
        // Google omits trailing empty cells of each row and trailing empty rows.
        let mut values: Vec<Vec<&Value>> = rows
            .iter()
            .map(|row| {
                let used = row.iter().rposition(|v| !is_blank(v)).map_or(0, |i| i + 1);
                row[..used].iter().collect()
            })
            .collect();
        while values.last().is_some_and(Vec::is_empty) {
            values.pop();
        }
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0).max(26);
        let quoted = format!("'{}'", title.replace('\'', "''"));
        // Interior nulls travel as "" like Google sends them.
        let values: Vec<Vec<&Value>> = values.into_iter().map(|row| row.into_iter().map(|v| if v.is_null() { &EMPTY } else { v }).collect()).collect();
        ranges.push(RangeOut {
            range: format!("{quoted}!A1:{}{}", column_letters(columns), rows.len().max(1000)),
            major_dimension: "ROWS",
            values: (!values.is_empty()).then_some(values),
        });
    }
    // Serialised from borrowed cells: a large sheet is not copied again.
    match serde_json::to_vec(&BatchOut { spreadsheet_id: &id, value_ranges: ranges }) {
        Ok(body) => ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => status(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &e.to_string()),
    }
}

static EMPTY: Value = Value::String(String::new());

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RangeOut<'a> {
    range: String,
    major_dimension: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<Vec<&'a Value>>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchOut<'a> {
    spreadsheet_id: &'a str,
    value_ranges: Vec<RangeOut<'a>>,
}

async fn drive_file(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_unauthorized(&shared, &headers) {
        return refused;
    }
    shared.counters.probes.fetch_add(1, Ordering::SeqCst);
    let world = shared.world();
    if world.denied.contains(&id) {
        return status(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "The user does not have sufficient permissions for this file.");
    }
    match world.books.get(&id) {
        Some(book) => Json(json!({ "version": book.version.to_string(), "modifiedTime": "2026-05-01T12:00:00.000Z" })).into_response(),
        None => {
            let body = json!({ "error": { "errors": [{ "domain": "global", "reason": "notFound",
                "message": format!("File not found: {id}.") }], "code": 404, "message": format!("File not found: {id}.") } });
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
    }
}

async fn watch(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(refused) = refuse_unauthorized(&shared, &headers) {
        return refused;
    }
    shared.counters.watches.fetch_add(1, Ordering::SeqCst);
    if body["type"] != "web_hook" || body["id"].as_str().is_none() {
        return status(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "a web_hook channel needs an id");
    }
    let answer = json!({ "kind": "api#channel", "id": body["id"], "resourceId": format!("resource-{id}"),
        "resourceUri": format!("https://www.googleapis.com/drive/v3/files/{id}"),
        "expiration": body["expiration"].as_u64().unwrap_or_default().to_string() });
    shared.world().channels.push(body);
    shared.watched.notify_waiters();
    Json(answer).into_response()
}

async fn stop(State(shared): State<Arc<Shared>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(refused) = refuse_unauthorized(&shared, &headers) {
        return refused;
    }
    shared.counters.stops.fetch_add(1, Ordering::SeqCst);
    shared.world().stopped.push(body["id"].as_str().unwrap_or_default().to_owned());
    StatusCode::NO_CONTENT.into_response()
}
