//! Go's `time.ParseDuration`, for HEALTHCHECK's `--interval` and friends.

/// Nanoseconds of a Go duration string (`1m30s`, `1.5h`, `100ms`, `-2s`); `None` when invalid.
pub(crate) fn parse_go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration as p;

    #[test]
    fn go_durations() {
        assert_eq!(p("30s"), Some(30_000_000_000));
        assert_eq!(p("1m30s"), Some(90_000_000_000));
        assert_eq!(p("1.5h"), Some(5_400_000_000_000));
        assert_eq!(p("100ms"), Some(100_000_000));
        assert_eq!(p("10us"), Some(10_000));
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("-2s"), Some(-2_000_000_000));
        assert_eq!(p("10"), None);
        assert_eq!(p("abc"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("5x"), None);
    }
}
