//! The caller's deadline, from the `grpc-timeout` header.

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// The time the caller allows for this call (`grpc-timeout`), if it set one.
/// Lets a handler that waits (for a lease, a sync) stop in time to answer
/// instead of being cut off.
pub fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 {
        return None;
    }
    let (amount, unit) = value.split_at(value.len() - 1);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_of_the_grpc_timeout_header_is_read() {
        for (header, expected) in
            [("2S", Duration::from_secs(2)), ("150m", Duration::from_millis(150)), ("1M", Duration::from_secs(60)), ("7u", Duration::from_micros(7))]
        {
            let mut metadata = MetadataMap::new();
            metadata.insert("grpc-timeout", header.parse().unwrap());
            assert_eq!(grpc_timeout(&metadata), Some(expected), "{header}");
        }
        let mut metadata = MetadataMap::new();
        assert_eq!(grpc_timeout(&metadata), None);
        metadata.insert("grpc-timeout", "soon".parse().unwrap());
        assert_eq!(grpc_timeout(&metadata), None);
    }
}
