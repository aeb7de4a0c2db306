//! Service-account access tokens: the OAuth2 JWT-bearer grant.
//!
//! A JWT signed RS256 with the key file's private key is exchanged at the
//! key file's `token_uri` (never a hard-coded URL: tests and other
//! universes point it elsewhere). The token is cached and renewed before
//! `expires_in` runs out; there is no refresh token, a new JWT is signed.
//! Neither the private key nor a token is ever logged or put in an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// The scopes sheets-sync needs: Sheets reads and Drive metadata (probe and
/// push channels). The Drive scope does not cover Sheets, so both.
pub const SCOPES: &str = "https://www.googleapis.com/auth/spreadsheets.readonly https://www.googleapis.com/auth/drive.metadata.readonly";

/// The essential fields of a service-account key file.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// The account, e.g. `sync@project.iam.gserviceaccount.com`; sheets
    /// must be shared with it.
    pub client_email: String,
    /// Where tokens are issued.
    pub token_uri: String,
    /// Key id, sent as the JWT `kid` like Google's own libraries do.
    #[serde(default)]
    pub private_key_id: Option<String>,
    private_key: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("private_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Parses a key file's JSON; `origin` names it in errors.
    pub fn from_json(json: &str, origin: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Credentials {
            path: origin.to_owned(),
            // serde's message names the field, never the value.
            message: format!("not a service-account key file ({e})"),
        })
    }

    /// Reads a key file (`GOOGLE_SHEETS_CREDENTIALS_PATH`).
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let origin = path.display().to_string();
        let json = std::fs::read_to_string(path).map_err(|e| Error::Credentials { path: origin.clone(), message: e.to_string() })?;
        Self::from_json(&json, &origin)
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: String,
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// Issues and caches access tokens for one service account.
pub struct TokenProvider {
    client_email: String,
    token_uri: String,
    kid: Option<String>,
    key: EncodingKey,
    http: reqwest::Client,
    // An async mutex: concurrent callers wait for one token request instead
    // of each signing and fetching their own.
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// A provider for `key`, sending token requests with `http`.
    pub fn new(key: &ServiceAccountKey, http: reqwest::Client) -> Result<Self> {
        let encoding = EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|e| Error::Credentials { path: key.client_email.clone(), message: format!("private_key is not an RSA PEM key ({e})") })?;
        Ok(Self {
            client_email: key.client_email.clone(),
            token_uri: key.token_uri.clone(),
            kid: key.private_key_id.clone(),
            key: encoding,
            http,
            cached: Mutex::new(None),
        })
    }

    /// The service account's e-mail, for error messages.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// A valid access token, from the cache while it has time left.
    pub async fn token(&self) -> Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let (token, expires_in) = self.fetch().await?;
        // Renew a minute early (or halfway, for very short lifetimes) so a
        // request never leaves with a token about to expire.
        let margin = Duration::from_secs(60).min(expires_in / 2);
        *cached = Some(Cached { token: token.clone(), renew_at: Instant::now() + expires_in - margin });
        Ok(token)
    }

    /// Forgets `stale` (the API answered 401 to it) so the next call to
    /// [`TokenProvider::token`] fetches a fresh one.
    pub async fn invalidate(&self, stale: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == stale) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(String, Duration)> {
        let auth_error = |message: String| Error::Auth { client_email: self.client_email.clone(), message };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let claims = Claims { iss: &self.client_email, scope: SCOPES, aud: &self.token_uri, iat: now, exp: now + 3600 };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.kid.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| auth_error(format!("could not sign the JWT ({e})")))?;
        let response = self
            .http
            .post(&self.token_uri)
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)])
            .send()
            .await
            .map_err(|source| Error::Transport { what: format!("a token from {}", self.token_uri), source })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|source| Error::Transport { what: format!("a token from {}", self.token_uri), source })?;
        if !status.is_success() {
            let message = match serde_json::from_slice::<TokenError>(&body) {
                Ok(e) if e.error_description.is_empty() => e.error,
                Ok(e) => format!("{}: {}", e.error, e.error_description),
                Err(_) => format!("HTTP {status}"),
            };
            return Err(auth_error(message));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| auth_error(format!("malformed token answer ({e})")))?;
        Ok((token.access_token, Duration::from_secs(token.expires_in)))
    }
}
