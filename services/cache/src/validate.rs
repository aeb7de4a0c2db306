//! The limits on what callers may store. Every check returns a sentence a
//! caller can act on; nothing is written when one fails.

use std::time::Duration;

use crate::CacheError;

/// Input limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest value in bytes (default 1 MiB).
    pub max_value_bytes: usize,
    /// Longest key in bytes (512).
    pub max_key_bytes: usize,
    /// Longest TTL (30 days).
    pub max_ttl: Duration,
    /// Most tags on one entry (32).
    pub max_tags: usize,
    /// Most keys in one GetMany/Delete (1000).
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_value_bytes: 1024 * 1024, max_key_bytes: 512, max_ttl: Duration::from_secs(30 * 24 * 3600), max_tags: 32, max_batch: 1000 }
    }
}

/// The longest lease or lease wait (10 minutes).
pub const MAX_LEASE: Duration = Duration::from_secs(600);
/// Lease duration when the caller gives none.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

impl Limits {
    /// A key: 1 to `max_key_bytes` bytes, no control characters.
    pub fn key(&self, key: &str) -> Result<(), CacheError> {
        if key.is_empty() {
            return Err(CacheError::InvalidArgument("key must not be empty".to_owned()));
        }
        if key.len() > self.max_key_bytes {
            return Err(CacheError::InvalidArgument(format!("key is {} bytes; the limit is {}", key.len(), self.max_key_bytes)));
        }
        if key.chars().any(char::is_control) {
            return Err(CacheError::InvalidArgument("key must not contain control characters".to_owned()));
        }
        Ok(())
    }

    /// A batch of keys: 1 to `max_batch`, each valid.
    pub fn keys(&self, keys: &[String]) -> Result<(), CacheError> {
        if keys.is_empty() {
            return Err(CacheError::InvalidArgument("at least one key is required".to_owned()));
        }
        if keys.len() > self.max_batch {
            return Err(CacheError::InvalidArgument(format!("{} keys in one call; the limit is {}", keys.len(), self.max_batch)));
        }
        keys.iter().try_for_each(|key| self.key(key))
    }

    /// A value no larger than `max_value_bytes`.
    pub fn value(&self, value: &[u8]) -> Result<(), CacheError> {
        if value.len() > self.max_value_bytes {
            return Err(CacheError::InvalidArgument(format!("value is {} bytes; the limit is {} bytes", value.len(), self.max_value_bytes)));
        }
        Ok(())
    }

    /// A TTL in milliseconds: at least 1, at most `max_ttl`.
    pub fn ttl(&self, ttl_ms: u64) -> Result<Duration, CacheError> {
        if ttl_ms == 0 {
            return Err(CacheError::InvalidArgument("ttl_ms is required and must be at least 1 millisecond".to_owned()));
        }
        let ttl = Duration::from_millis(ttl_ms);
        if ttl > self.max_ttl {
            return Err(CacheError::InvalidArgument(format!("ttl_ms {ttl_ms} is over the limit of {} ms (30 days)", self.max_ttl.as_millis())));
        }
        Ok(ttl)
    }

    /// Tags on an entry: at most `max_tags`, each well-formed, no duplicates
    /// needed (duplicates are dropped).
    pub fn entry_tags(&self, tags: &[String]) -> Result<Vec<String>, CacheError> {
        if tags.len() > self.max_tags {
            return Err(CacheError::InvalidArgument(format!("{} tags on one entry; the limit is {}", tags.len(), self.max_tags)));
        }
        let mut unique: Vec<String> = Vec::with_capacity(tags.len());
        for tag in tags {
            tag_syntax(tag)?;
            if !unique.contains(tag) {
                unique.push(tag.clone());
            }
        }
        Ok(unique)
    }

    /// Tags to invalidate: 1 to 100, each well-formed.
    pub fn invalidation_tags(&self, tags: &[String]) -> Result<(), CacheError> {
        if tags.is_empty() {
            return Err(CacheError::InvalidArgument("at least one tag is required".to_owned()));
        }
        if tags.len() > 100 {
            return Err(CacheError::InvalidArgument(format!("{} tags in one call; the limit is 100", tags.len())));
        }
        tags.iter().try_for_each(|tag| tag_syntax(tag))
    }
}

/// A lease or wait duration in milliseconds: 0 = `default`, else at most
/// [`MAX_LEASE`].
pub fn lease_duration(field: &str, millis: u64, default: Duration) -> Result<Duration, CacheError> {
    match millis {
        0 => Ok(default),
        millis if Duration::from_millis(millis) <= MAX_LEASE => Ok(Duration::from_millis(millis)),
        millis => Err(CacheError::InvalidArgument(format!("{field} {millis} is over the limit of {} ms", MAX_LEASE.as_millis()))),
    }
}

/// `kind:value`: kind of lowercase ASCII letters, digits, `_` or `-`; value
/// non-empty; at most 512 bytes; no control characters. A tag that breaks
/// this is unknown to every caller, so it is refused rather than silently
/// matching nothing.
fn tag_syntax(tag: &str) -> Result<(), CacheError> {
    let valid = match tag.split_once(':') {
        Some((kind, value)) => {
            !kind.is_empty()
                && kind.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-')
                && !value.is_empty()
                && tag.len() <= 512
                && !tag.chars().any(char::is_control)
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(CacheError::InvalidArgument(format!(
            "tag {:?} is not of the form kind:value (for example sheet:inventory/Products)",
            tag.chars().take(80).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<impl std::fmt::Debug, CacheError>) -> String {
        match result.unwrap_err() {
            CacheError::InvalidArgument(message) => message,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn keys_must_be_present_short_and_printable() {
        let limits = Limits::default();
        assert_eq!(message(limits.key("")), "key must not be empty");
        assert!(message(limits.key(&"k".repeat(513))).contains("limit is 512"));
        assert!(message(limits.key("a\nb")).contains("control"));
        assert!(limits.key("answer:ünïcode/é").is_ok());
    }

    #[test]
    fn ttl_zero_and_huge_are_refused() {
        let limits = Limits::default();
        assert!(message(limits.ttl(0)).contains("at least 1 millisecond"));
        assert!(message(limits.ttl(u64::MAX)).contains("30 days"));
        assert_eq!(limits.ttl(1500).unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn tags_need_a_kind_and_a_value() {
        let limits = Limits::default();
        assert!(limits.entry_tags(&["sheet:inv/Products".to_owned(), "sheet:inv/Products".to_owned()]).unwrap().len() == 1);
        for bad in ["products", ":x", "sheet:", "Sheet:x", "a b:c"] {
            assert!(message(limits.entry_tags(&[bad.to_owned()])).contains("kind:value"), "{bad}");
        }
        assert!(message(limits.invalidation_tags(&[])).contains("at least one tag"));
    }

    #[test]
    fn oversized_values_are_refused_with_the_limit() {
        let limits = Limits { max_value_bytes: 10, ..Limits::default() };
        assert_eq!(message(limits.value(&[0; 11])), "value is 11 bytes; the limit is 10 bytes");
        assert!(limits.value(&[0; 10]).is_ok());
    }
}
