//! `POST /v1/webhooks/sheets`: change notifications from Google Drive push
//! channels and from Apps Script (or any sender that signs its body).
//!
//! - Drive: empty body, `X-Goog-Channel-Token` = the secret. State `sync`
//!   (the channel's hello) is acknowledged and ignored; any other state
//!   asks for a sync of the file named by `X-Goog-Resource-Uri`.
//! - Signed JSON: `{spreadsheetId, sheet?, range?, changeType?, ts?}` with
//!   `X-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`; a `ts`
//!   (ms) more than 5 minutes away from now is refused as a replay.
//!
//! Secrets and signatures are compared in constant time. A bad one is 401
//! and nothing is synced. A good one is 202 at once; `SheetsService.Notify`
//! runs behind it. With no `SHEETS_WEBHOOK_SECRET` the route does not exist
//! (404): an unprotected webhook would let anyone trigger syncs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{
    Json,
    extract::{FromRequest as _, Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use sheetmesh_common::Secret;
use sheetmesh_proto::v1::NotifyRequest;
use subtle::ConstantTimeEq as _;

use crate::{
    clients::{Call, Service},
    edge::{limits::BodyLimit, request_id::RequestId},
    error::Error,
    json::{body_error, parse},
    state::AppState,
};

/// How far a signed `ts` may be from now.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// How long the background `Notify` may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The signed JSON body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedChange {
    /// The spreadsheet that changed. Required.
    #[serde(default)]
    pub spreadsheet_id: String,
    /// The sheet, if known.
    #[serde(default)]
    pub sheet: String,
    /// The A1 range, if known.
    #[serde(default)]
    pub range: String,
    /// Apps Script change type, if known.
    #[serde(default)]
    pub change_type: String,
    /// When the change was sent, in milliseconds since the epoch.
    pub ts: Option<i64>,
}

/// The handler.
pub async fn receive(State(state): State<AppState>, request: Request) -> Result<Response, Error> {
    let Some(secret) = state.config.webhook_secret.clone() else {
        return Err(Error::NotFound("the sheets webhook is off: SHEETS_WEBHOOK_SECRET is not set".to_owned()));
    };
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let limit = request.extensions().get::<BodyLimit>().map_or(usize::MAX, |limit| limit.0);
    let headers = request.headers().clone();
    let body = Bytes::from_request(request, &()).await.map_err(|rejection| body_error(rejection, limit))?;

    let notify = if headers.contains_key("x-goog-channel-token") || headers.contains_key("x-goog-resource-state") {
        match drive(&headers, &secret)? {
            Some(notify) => notify,
            None => return Ok(accepted("ignored")),
        }
    } else {
        signed(&headers, &body, &secret, now_ms())?
    };

    let source = notify.source.clone();
    let sheets = state.clients.sheets.clone();
    let metrics = state.metrics.clone();
    // 202 now; the sync is the sheets service's job and may take a while.
    tokio::spawn(async move {
        let call = Call::detached(request_id, NOTIFY_TIMEOUT);
        let spreadsheet = notify.spreadsheet.clone();
        let result = call.run(Service::Sheets, sheets.clone().notify(call.request(notify))).await;
        metrics.sync(&source, result.is_ok());
        match result {
            Ok(response) => tracing::info!(%spreadsheet, scheduled = response.scheduled, "webhook: sync requested"),
            Err(error) => tracing::warn!(%spreadsheet, %error, "webhook: the sheets service could not be notified"),
        }
    });
    Ok(accepted("accepted"))
}

fn accepted(status: &str) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": status }))).into_response()
}

/// Checks a Drive push notification; `None` for the `sync` hello.
pub fn drive(headers: &HeaderMap, secret: &Secret) -> Result<Option<NotifyRequest>, Error> {
    let token = headers.get("x-goog-channel-token").map(|value| value.as_bytes()).unwrap_or_default();
    if !equal_secret(token, secret.expose().as_bytes()) {
        return Err(Error::WebhookRefused("missing or wrong X-Goog-Channel-Token"));
    }
    let state = header(headers, "x-goog-resource-state");
    if state.eq_ignore_ascii_case("sync") {
        return Ok(None);
    }
    // Without a file id, an empty spreadsheet asks for every spreadsheet.
    let spreadsheet = file_id(header(headers, "x-goog-resource-uri")).unwrap_or_default();
    Ok(Some(NotifyRequest { spreadsheet, change_type: state.to_owned(), source: "drive".to_owned(), ..Default::default() }))
}

/// Checks a signed JSON notification received at `now_ms`.
pub fn signed(headers: &HeaderMap, body: &[u8], secret: &Secret, now_ms: i64) -> Result<NotifyRequest, Error> {
    let signature = header(headers, "x-signature-256");
    let Some(signature) = signature.strip_prefix("sha256=").and_then(|hex| hex::decode(hex.trim()).ok()) else {
        return Err(Error::WebhookRefused("missing or malformed X-Signature-256 (expected sha256=<hex HMAC-SHA256 of the body>)"));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).map_err(|_| Error::Internal("HMAC key rejected".to_owned()))?;
    mac.update(body);
    // verify_slice compares in constant time.
    if mac.verify_slice(&signature).is_err() {
        return Err(Error::WebhookRefused("X-Signature-256 does not match the body"));
    }
    let change: SignedChange = parse(body)?;
    if let Some(ts) = change.ts
        && now_ms.abs_diff(ts) > REPLAY_WINDOW.as_millis() as u64
    {
        return Err(Error::WebhookRefused("ts is more than 5 minutes from now: refused as a replay"));
    }
    if change.spreadsheet_id.trim().is_empty() {
        return Err(Error::field("spreadsheetId", "is required"));
    }
    Ok(NotifyRequest {
        spreadsheet: change.spreadsheet_id,
        sheet: change.sheet,
        range: change.range,
        change_type: change.change_type,
        source: "apps_script".to_owned(),
    })
}

/// Equal in constant time, whatever the lengths (both sides are hashed).
fn equal_secret(presented: &[u8], expected: &[u8]) -> bool {
    let (presented, expected) = (Sha256::digest(presented), Sha256::digest(expected));
    bool::from(presented.ct_eq(&expected))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().trim()
}

/// `https://www.googleapis.com/drive/v3/files/<id>?alt=json` → `<id>`.
fn file_id(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("/files/")?;
    let id = rest.split(['?', '/', '#']).next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// `sha256=<hex>` for `body` keyed by `secret` (what a sender puts in
/// `X-Signature-256`); public for tests and tools.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const SECRET: &str = "s3cret-webhook";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (http::HeaderName::from_static(name), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn a_drive_update_with_the_right_token_names_the_file() {
        let secret = Secret::new(SECRET);
        let ok = headers(&[
            ("x-goog-channel-token", SECRET),
            ("x-goog-resource-state", "update"),
            ("x-goog-resource-uri", "https://www.googleapis.com/drive/v3/files/abc123?alt=json"),
        ]);
        let notify = drive(&ok, &secret).unwrap().unwrap();
        assert_eq!((notify.spreadsheet.as_str(), notify.change_type.as_str(), notify.source.as_str()), ("abc123", "update", "drive"));
        let hello = headers(&[("x-goog-channel-token", SECRET), ("x-goog-resource-state", "sync")]);
        assert_eq!(drive(&hello, &secret).unwrap(), None);
    }

    #[test]
    fn a_drive_notification_with_a_wrong_or_missing_token_is_refused() {
        let secret = Secret::new(SECRET);
        for token in ["wrong", "", "s3cret-webhoo", "s3cret-webhook-"] {
            let refused = headers(&[("x-goog-channel-token", token), ("x-goog-resource-state", "update")]);
            assert!(matches!(drive(&refused, &secret), Err(Error::WebhookRefused(_))), "{token:?}");
        }
    }

    #[test]
    fn a_signed_body_is_accepted_and_any_change_to_it_is_refused() {
        let secret = Secret::new(SECRET);
        let now = 1_700_000_000_000;
        let body = format!(r#"{{"spreadsheetId":"sheet-1","sheet":"Products","changeType":"EDIT","ts":{now}}}"#);
        let good = headers(&[("x-signature-256", &signature(SECRET, body.as_bytes()))]);
        let notify = signed(&good, body.as_bytes(), &secret, now + 1000).unwrap();
        assert_eq!((notify.spreadsheet.as_str(), notify.sheet.as_str(), notify.source.as_str()), ("sheet-1", "Products", "apps_script"));

        let tampered = body.replace("sheet-1", "sheet-2");
        assert!(matches!(signed(&good, tampered.as_bytes(), &secret, now), Err(Error::WebhookRefused(_))));
        let wrong_key = headers(&[("x-signature-256", &signature("other", body.as_bytes()))]);
        assert!(matches!(signed(&wrong_key, body.as_bytes(), &secret, now), Err(Error::WebhookRefused(_))));
        assert!(matches!(signed(&HeaderMap::new(), body.as_bytes(), &secret, now), Err(Error::WebhookRefused(_))));
    }

    #[test]
    fn a_signed_body_older_than_five_minutes_is_a_replay() {
        let secret = Secret::new(SECRET);
        let sent = 1_700_000_000_000i64;
        let body = format!(r#"{{"spreadsheetId":"sheet-1","ts":{sent}}}"#);
        let good = headers(&[("x-signature-256", &signature(SECRET, body.as_bytes()))]);
        assert!(signed(&good, body.as_bytes(), &secret, sent + 299_000).is_ok());
        assert!(matches!(signed(&good, body.as_bytes(), &secret, sent + 301_000), Err(Error::WebhookRefused(_))));
    }

    #[test]
    fn a_signed_body_without_a_spreadsheet_is_a_bad_request() {
        let secret = Secret::new(SECRET);
        let body = br#"{"sheet":"Products"}"#;
        let good = headers(&[("x-signature-256", &signature(SECRET, body))]);
        assert!(matches!(signed(&good, body, &secret, 0), Err(Error::BadRequest { field: Some(field), .. }) if field == "spreadsheetId"));
    }
}
