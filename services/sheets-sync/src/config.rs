//! sheets-sync configuration.

use std::{path::PathBuf, time::Duration};

use sheetmesh_common::{
    Secret,
    config::{ClientOptions, ConfigError, Env, RedisConfig, ServerOptions},
};

use crate::source::google::{GoogleConfig, RetryPolicy};

/// Where the sheets come from.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// CSV/XLSX/XLS/ODS files in a directory (`SHEETS_DIR`).
    Local {
        /// The directory.
        dir: PathBuf,
        /// `SHEETS_DIR` was not set: if `./sheets` is missing, serve the
        /// sample workbook embedded in the binary.
        sample_fallback: bool,
    },
    /// The Google Sheets API (`GOOGLE_SHEETS_SPREADSHEET_ID` set).
    Google {
        /// `GOOGLE_SHEETS_CREDENTIALS_PATH`: the service-account key file.
        credentials_path: PathBuf,
        /// `GOOGLE_SHEETS_SPREADSHEET_ID`: one or more comma-separated ids.
        spreadsheets: Vec<String>,
        /// `GOOGLE_SHEETS_SHEET_NAMES`: comma-separated titles; empty = every grid sheet.
        sheet_names: Vec<String>,
        /// Base URLs, retries and timeout.
        api: GoogleConfig,
    },
}

/// Everything sheets-sync needs to start.
#[derive(Debug, Clone)]
pub struct SheetsSyncConfig {
    /// gRPC server behaviour.
    pub server: ServerOptions,
    /// How it dials the cache.
    pub client: ClientOptions,
    /// `CACHE_URL`: where tag invalidations go.
    pub cache_url: String,
    /// The sheet source.
    pub source: SourceConfig,
    /// Snapshots and change events on Redis; `None` = in memory.
    pub redis: Option<RedisConfig>,
    /// `SYNC_INTERVAL` (default 60 s): the polling fallback.
    pub sync_interval: Duration,
    /// `SYNC_DEBOUNCE` (default 1 s): notifications within this window cause one sync.
    pub debounce: Duration,
    /// `GOOGLE_DRIVE_WEBHOOK_URL`: the public HTTPS webhook for Drive push
    /// channels; unset = no channels (polling and Apps Script only).
    pub drive_webhook_url: Option<String>,
    /// `SHEETS_WEBHOOK_SECRET`: the token Drive channels echo back.
    pub webhook_secret: Option<Secret>,
    /// `DATA_DIR` (default `./data`): where the embedded sample is unpacked.
    pub data_dir: PathBuf,
}

/// The sample workbook shipped in the binary, used when no source is
/// configured and `./sheets` does not exist (a container, a copied binary).
pub const SAMPLE_WORKBOOK: &[u8] = include_bytes!("../../../sheets/inventory.xlsx");
/// Its file name.
pub const SAMPLE_WORKBOOK_NAME: &str = "inventory.xlsx";

fn list(value: Option<String>) -> Vec<String> {
    value.map(|value| value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

impl SheetsSyncConfig {
    /// Reads the sheets-sync variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let server = ServerOptions::from_env(env)?;
        let client = ClientOptions::from_env(env)?;
        let spreadsheets = list(env.get("GOOGLE_SHEETS_SPREADSHEET_ID"));
        let source = if spreadsheets.is_empty() {
            SourceConfig::Local { dir: PathBuf::from(env.string_or("SHEETS_DIR", "./sheets")), sample_fallback: env.get("SHEETS_DIR").is_none() }
        } else {
            let credentials_path = env.get("GOOGLE_SHEETS_CREDENTIALS_PATH").map(PathBuf::from).ok_or_else(|| {
                ConfigError::new("GOOGLE_SHEETS_CREDENTIALS_PATH", None, "the path of a service-account key file (required with GOOGLE_SHEETS_SPREADSHEET_ID)")
            })?;
            let url = |name: &str, default: &str| -> Result<String, ConfigError> {
                let value = env.string_or(name, default);
                if value.starts_with("http://") || value.starts_with("https://") {
                    Ok(value.trim_end_matches('/').to_owned())
                } else {
                    Err(ConfigError::new(name, Some(&value), "an http:// or https:// URL"))
                }
            };
            let api = GoogleConfig {
                sheets_api_url: url("GOOGLE_SHEETS_API_URL", "https://sheets.googleapis.com")?,
                drive_api_url: url("GOOGLE_DRIVE_API_URL", "https://www.googleapis.com")?,
                retry: RetryPolicy::default(),
                timeout: server.request_timeout,
            };
            SourceConfig::Google { credentials_path, spreadsheets, sheet_names: list(env.get("GOOGLE_SHEETS_SHEET_NAMES")), api }
        };
        let drive_webhook_url = env.get("GOOGLE_DRIVE_WEBHOOK_URL");
        if let Some(url) = &drive_webhook_url
            && !url.starts_with("https://")
        {
            return Err(ConfigError::new("GOOGLE_DRIVE_WEBHOOK_URL", Some(url), "an https:// URL (Google only calls HTTPS webhooks)"));
        }
        let webhook_secret = env.secret("SHEETS_WEBHOOK_SECRET");
        if drive_webhook_url.is_some() && webhook_secret.is_none() {
            return Err(ConfigError::new("SHEETS_WEBHOOK_SECRET", None, "a secret (required with GOOGLE_DRIVE_WEBHOOK_URL)"));
        }
        Ok(Self {
            server,
            client,
            cache_url: env.string_or("CACHE_URL", "http://127.0.0.1:50053"),
            source,
            redis: RedisConfig::from_env(env)?,
            sync_interval: env.duration_or("SYNC_INTERVAL", Duration::from_secs(60), Duration::from_secs(1), Duration::from_secs(24 * 3600))?,
            debounce: env.duration_or("SYNC_DEBOUNCE", Duration::from_secs(1), Duration::ZERO, Duration::from_secs(60))?,
            drive_webhook_url,
            webhook_secret,
            data_dir: PathBuf::from(env.string_or("DATA_DIR", "./data")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_google_the_local_directory_is_the_source() {
        let config = SheetsSyncConfig::from_env(&Env::from_pairs([("SHEETS_DIR", "/tmp/x")])).unwrap();
        assert!(matches!(config.source, SourceConfig::Local { ref dir, sample_fallback: false } if dir == &PathBuf::from("/tmp/x")));
        assert_eq!(config.sync_interval, Duration::from_secs(60));
    }

    #[test]
    fn a_spreadsheet_id_needs_credentials() {
        let error = SheetsSyncConfig::from_env(&Env::from_pairs([("GOOGLE_SHEETS_SPREADSHEET_ID", "abc")])).unwrap_err();
        assert_eq!(error.var, "GOOGLE_SHEETS_CREDENTIALS_PATH");
        let env = Env::from_pairs([
            ("GOOGLE_SHEETS_SPREADSHEET_ID", "a, b"),
            ("GOOGLE_SHEETS_CREDENTIALS_PATH", "/k.json"),
            ("GOOGLE_SHEETS_SHEET_NAMES", "Products,"),
        ]);
        let config = SheetsSyncConfig::from_env(&env).unwrap();
        let SourceConfig::Google { spreadsheets, sheet_names, .. } = config.source else { panic!("expected google") };
        assert_eq!((spreadsheets, sheet_names), (vec!["a".to_owned(), "b".to_owned()], vec!["Products".to_owned()]));
    }

    #[test]
    fn drive_push_needs_https_and_the_secret() {
        let env = Env::from_pairs([("GOOGLE_DRIVE_WEBHOOK_URL", "http://x")]);
        assert_eq!(SheetsSyncConfig::from_env(&env).unwrap_err().var, "GOOGLE_DRIVE_WEBHOOK_URL");
        let env = Env::from_pairs([("GOOGLE_DRIVE_WEBHOOK_URL", "https://x/v1/webhooks/sheets")]);
        assert_eq!(SheetsSyncConfig::from_env(&env).unwrap_err().var, "SHEETS_WEBHOOK_SECRET");
    }
}
