//! One timestamp format everywhere: RFC 3339, UTC, milliseconds, `Z`
//! (e.g. `2024-05-01T12:00:00.000Z`). Fixed width, so SQLite text order is time order,
//! which the keyset pagination of the timeline relies on.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

pub fn format(t: OffsetDateTime) -> String {
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .expect("UTC timestamps within year 0..9999 always format")
}

/// Accepts what clients send in `Upload-Metadata`: RFC 3339 or unix milliseconds.
pub fn parse_client(value: &str) -> Option<String> {
    let value = value.trim();
    let parsed = if let Ok(ms) = value.parse::<i64>() {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?
    } else {
        OffsetDateTime::parse(value, &Rfc3339).ok()?
    };
    (0..=9999)
        .contains(&parsed.to_offset(time::UtcOffset::UTC).year())
        .then(|| format(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc3339_and_unix_ms() {
        assert_eq!(
            parse_client("2024-05-01T14:00:00+02:00").as_deref(),
            Some("2024-05-01T12:00:00.000Z")
        );
        assert_eq!(
            parse_client("1714564800123").as_deref(),
            Some("2024-05-01T12:00:00.123Z")
        );
        assert_eq!(parse_client("yesterday"), None);
    }
}
