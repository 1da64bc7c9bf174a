//! Times as the docker CLI reads (`--since 10m`, RFC 3339) and prints them.

use berth_types::gocompat::duration::parse_duration;
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TimeError {
    #[error("failed to parse value as time or duration: {0:?}")]
    Invalid(String),
}

fn format_unix(t: DateTime<Utc>) -> String {
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}

/// docker's timetypes.GetTimestamp: a duration means "that long before `now`"; a value without
/// '-' is already a unix timestamp; otherwise an RFC 3339 date (local time when no zone).
pub fn get_timestamp(value: &str, now: DateTime<Utc>) -> Result<String, TimeError> {
    // As docker's GetTimestamp: "0" is the epoch, not a zero duration.
    if let Some(nanos) = parse_duration(value).ok().filter(|_| value != "0") {
        return Ok(format_unix(now - chrono::Duration::nanoseconds(nanos)));
    }
    if !value.contains('-') {
        let valid = value.split('.').count() <= 2
            && value
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if valid {
            return Ok(value.to_string());
        }
        return Err(TimeError::Invalid(value.to_string()));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(format_unix(t.with_timezone(&Utc)));
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(value, layout) {
            if let Some(t) = Local.from_local_datetime(&n).single() {
                return Ok(format_unix(t.with_timezone(&Utc)));
            }
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|n| Local.from_local_datetime(&n).single())
        {
            return Ok(format_unix(t.with_timezone(&Utc)));
        }
    }
    Err(TimeError::Invalid(value.to_string()))
}

/// Go's time.Time.String() in local time: "2024-05-01 12:00:00 +0000 UTC".
pub fn go_time_string(unix_secs: i64) -> String {
    let t = Local
        .timestamp_opt(unix_secs, 0)
        .single()
        .unwrap_or_else(|| Local.timestamp_nanos(0));
    let offset = t.format("%z").to_string();
    let zone = if offset == "+0000" {
        "UTC".to_string()
    } else {
        offset.clone()
    };
    format!("{} {offset} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
}

/// jsonmessage.RFC3339NanoFixed in local time (events lines).
pub fn rfc3339_nano_fixed(unix_nanos: i64) -> String {
    let t = Local.timestamp_nanos(unix_nanos);
    let s = t.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
    match s.strip_suffix("+00:00") {
        Some(head) => format!("{head}Z"),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(get_timestamp("10m", now).unwrap(), "1704067200.000000000");
        assert_eq!(get_timestamp("1.5s", now).unwrap(), "1704067798.500000000");
        assert_eq!(get_timestamp("0", now).unwrap(), "0");
        assert_eq!(get_timestamp("1704067200", now).unwrap(), "1704067200");
        assert_eq!(get_timestamp("1704067200.5", now).unwrap(), "1704067200.5");
        assert_eq!(
            get_timestamp("2024-01-01T00:00:00Z", now).unwrap(),
            "1704067200.000000000"
        );
        assert_eq!(
            get_timestamp("2024-01-01T01:00:00+01:00", now).unwrap(),
            "1704067200.000000000"
        );
        assert!(get_timestamp("yesterday", now).is_err());
    }
}
