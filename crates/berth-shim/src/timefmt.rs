//! UTC timestamps in RFC 3339 with nanoseconds, without pulling in a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// How the fractional seconds are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// Always nine digits (`.123000000`).
    Fixed,
    /// Go's `time.RFC3339Nano`: trailing zeros dropped, no dot when zero (dockerd's json-file).
    Trimmed,
}

/// Formats `t` as `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z`.
pub fn format_utc(t: SystemTime, fraction: Fraction) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let nanos = since.subsec_nanos();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    match fraction {
        Fraction::Fixed => out.push_str(&format!(".{nanos:09}")),
        Fraction::Trimmed if nanos != 0 => {
            let digits = format!("{nanos:09}");
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
        Fraction::Trimmed => {}
    }
    out.push('Z');
    out
}

/// Now, in the fixed nine-digit form used for exit statuses.
pub fn now_fixed() -> String {
    format_utc(SystemTime::now(), Fraction::Fixed)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_714_557_600, 123_456_789);
        assert_eq!(
            format_utc(t, Fraction::Trimmed),
            "2024-05-01T10:00:00.123456789Z"
        );
        let t = UNIX_EPOCH + Duration::new(1_714_557_600, 120_000_000);
        assert_eq!(format_utc(t, Fraction::Trimmed), "2024-05-01T10:00:00.12Z");
        assert_eq!(
            format_utc(t, Fraction::Fixed),
            "2024-05-01T10:00:00.120000000Z"
        );
        let t = UNIX_EPOCH + Duration::new(951_782_400, 0);
        assert_eq!(format_utc(t, Fraction::Trimmed), "2000-02-29T00:00:00Z");
    }
}
