//! Timestamps as clients must write them: RFC 3339 exactly (`2026-11-01T09:30:00Z`, an offset
//! instead of `Z`, optional fractions), without leap seconds, which no session can start on.

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Deserializer};

/// Parses an RFC 3339 timestamp, refusing the forms a lenient parser would also take (single
/// digit fields, `UTC` suffixes, second 60).
pub fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    let time = DateTime::parse_from_rfc3339(text).map_err(|error| error.to_string())?;
    if time.nanosecond() >= 1_000_000_000 {
        return Err("second 60 (a leap second) is not accepted".to_owned());
    }
    Ok(time.to_utc())
}

/// `deserialize_with` for a strict RFC 3339 timestamp.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    parse_rfc3339(&text).map_err(|error| {
        serde::de::Error::custom(format!(
            "timestamp must be RFC 3339 such as 2026-11-01T09:30:00Z, not '{}': {error}",
            text.chars().take(64).collect::<String>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offsets_and_fractions_is_accepted() {
        for text in [
            "2026-01-01T00:00:00Z",
            "2026-01-01T02:00:00+02:00",
            "2026-01-01T00:00:00.123456Z",
        ] {
            assert!(parse_rfc3339(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn lenient_forms_are_refused() {
        for text in [
            "2026-1-1T0:0:0Z",
            "2026-01-01T00:00:00UTC",
            "2026-01-01T00:00:00 UTC",
            "2026-01-01T12:00:60Z",
            "2026-01-01",
            "2026-01-01T00:00:00",
        ] {
            assert!(parse_rfc3339(text).is_err(), "{text}");
        }
    }
}
