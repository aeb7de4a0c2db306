//! API keys: `X-API-Key: K` or `Authorization: Bearer K`, any of the keys in
//! `API_KEY`. Keys are compared as SHA-256 digests in constant time, against
//! every configured key, so neither the content nor the length of a key
//! leaks through timing. A key is never logged.

use http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use sheetmesh_common::Secret;
use subtle::ConstantTimeEq as _;

use crate::error::Error;

/// Which configured key a request used (a request extension, for the rate
/// limiter); the index into `API_KEY`, never the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub usize);

/// The accepted keys, as digests.
#[derive(Debug)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl ApiKeys {
    /// From the configured keys.
    pub fn new(keys: &[Secret]) -> Self {
        Self { digests: keys.iter().map(|key| digest(key.expose())).collect() }
    }

    /// The index of the key `presented` matches, checking every key.
    pub fn find(&self, presented: &str) -> Option<KeyId> {
        let presented = digest(presented);
        let mut found = None;
        for (index, digest) in self.digests.iter().enumerate() {
            if bool::from(digest.ct_eq(&presented)) {
                found = Some(KeyId(index));
            }
        }
        found
    }
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// The key a request presents, if any.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|value| value.to_str().ok()) {
        return Some(key.trim());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Which key the request presents: 401 with `WWW-Authenticate` unless it is
/// one of `keys`.
pub fn authenticate(keys: &ApiKeys, headers: &HeaderMap) -> Result<KeyId, Error> {
    presented(headers).and_then(|key| keys.find(key)).ok_or(Error::Unauthenticated)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn any_configured_key_is_found_and_others_are_not() {
        let keys = ApiKeys::new(&[Secret::new("alpha"), Secret::new("beta")]);
        assert_eq!(keys.find("alpha"), Some(KeyId(0)));
        assert_eq!(keys.find("beta"), Some(KeyId(1)));
        assert_eq!(keys.find("alph"), None);
        assert_eq!(keys.find(""), None);
    }

    #[test]
    fn keys_are_read_from_either_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer k1"));
        assert_eq!(presented(&headers), Some("k1"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic k1"));
        assert_eq!(presented(&headers), None);
        headers.insert("x-api-key", HeaderValue::from_static("k2"));
        assert_eq!(presented(&headers), Some("k2"));
    }
}
