//! Dates as Cahier writes them in files: RFC 3339 in UTC, to the second.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `1795387031000` → `2026-11-23T09:17:11Z`. Milliseconds are dropped.
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => t.format(&Rfc3339).unwrap_or_else(|_| secs.to_string()),
        Err(_) => secs.to_string(),
    }
}

/// Parses an RFC 3339 date-time (any offset) or a bare `YYYY-MM-DD` (midnight UTC)
/// into milliseconds since the epoch, truncated to the second.
pub fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp() * 1000);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(s, &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}
