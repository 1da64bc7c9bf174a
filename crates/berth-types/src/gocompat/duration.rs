//! Go's `time.ParseDuration` and `time.Duration.String()`, in nanoseconds (an `i64`, as Go's
//! `time.Duration`). Everything a docker user types as a duration goes through here:
//! `--health-interval 1m30s`, `HEALTHCHECK --interval=30s`, `--since 10m`, `until=24h` filters,
//! `commit --change "HEALTHCHECK --timeout=5s ..."`.
//!
//! The grammar is Go's `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with the units `ns`, `us` (`µs`, `μs`),
//! `ms`, `s`, `m`, `h`; a lone `0` needs no unit. Values are computed in integers as Go does (the
//! fraction only through a float64 scaled by its unit), so rounding and overflow match Go's.

/// Nanoseconds per unit, by Go's unit names.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 micro sign
    ("μs", 1_000), // U+03BC Greek mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// One nanosecond over `i64::MAX`: the magnitude of `i64::MIN`.
const LIMIT: u64 = 1 << 63;

/// Why a duration was refused; `Display` is Go's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("time: invalid duration {}", quote(.0))]
    Invalid(String),
    #[error("time: missing unit in duration {}", quote(.0))]
    MissingUnit(String),
    #[error("time: unknown unit {} in duration {}", quote(.unit), quote(.input))]
    UnknownUnit { unit: String, input: String },
}

/// Go's `time.ParseDuration`: nanoseconds of `s` (`1m30s`, `1.5h`, `-2s`, `100ms`, `0`).
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(s.to_string());
    let mut rest = s;
    let mut negative = false;
    if let Some(c) = rest.bytes().next().filter(|c| *c == b'-' || *c == b'+') {
        negative = c == b'-';
        rest = &rest[1..];
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, after) = leading_int(rest).ok_or_else(invalid)?;
        let pre = after.len() != rest.len();
        rest = after;
        let (mut fraction, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (f, sc, after) = leading_fraction(after_dot);
            post = after.len() != after_dot.len();
            (fraction, scale, rest) = (f, sc, after);
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = rest
            .bytes()
            .position(|c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(s.to_string()));
        }
        // The unit ends at an ASCII byte (or the end), so this is a char boundary.
        let (unit_name, after) = rest.split_at(unit_len);
        rest = after;
        let unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit_name)
            .map(|(_, n)| *n)
            .ok_or_else(|| DurationError::UnknownUnit {
                unit: unit_name.to_string(),
                input: s.to_string(),
            })?;
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // As Go: float64 is precise enough for a fraction of the largest unit.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 2^63, so its negation fits.
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `leadingInt`: the leading digits, `None` on overflow past 2^63.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let mut x: u64 = 0;
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    for c in s[..len].bytes() {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > LIMIT {
            return None;
        }
    }
    Some((x, &s[len..]))
}

/// Go's `leadingFraction`: the digits after the point and their scale; digits past what fits
/// are consumed but add no precision.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    for c in s[..len].bytes() {
        if overflow {
            continue;
        }
        if x > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > LIMIT {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[len..])
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn format_duration(nanos: i64) -> String {
    let negative = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        if u == 0 {
            return "0s".into();
        }
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let frac = fraction(&mut u, prec);
        out.push_str(&u.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let frac = fraction(&mut u, 9);
        let secs = u % 60;
        u /= 60;
        if u > 0 {
            let minutes = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&format!("{secs}{frac}s"));
    }
    if negative {
        out.insert(0, '-');
    }
    out
}

/// Go's `fmtFrac`: divides `v` by 10^prec and returns the fraction as `.ddd` without trailing
/// zeros (empty when it is zero).
fn fraction(v: &mut u64, prec: u32) -> String {
    let mut digits = Vec::new();
    let mut printed = false;
    for _ in 0..prec {
        let digit = *v % 10;
        printed = printed || digit != 0;
        if printed {
            digits.push(char::from(b'0' + digit as u8));
        }
        *v /= 10;
    }
    if !printed {
        return String::new();
    }
    digits.push('.');
    digits.iter().rev().collect()
}

/// Go's `time.quote`: double quotes, `"` and `\` escaped, bytes of non-ASCII and control
/// characters as `\xNN`.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c.is_ascii() && c >= ' ' {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;
    const MIN: i64 = 60 * S;
    const H: i64 = 60 * MIN;

    /// Go's `parseDurationTests` (time/time_test.go).
    #[test]
    fn parse_duration_as_go() {
        for (input, want) in [
            // simple
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            // sign
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            // decimal
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            // different units
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12µs", 12 * US),
            ("12μs", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * MIN),
            ("16h", 16 * H),
            // composite durations
            ("3h30m", 3 * H + 30 * MIN),
            ("10.5s4m", 4 * MIN + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * MIN + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * MIN + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * MIN + 14 * S + 425 * MS),
            // large value
            ("52763797000ns", 52763797000 * NS),
            // more than 9 digits after decimal point, golang.org/issue/6617
            ("0.3333333333333333333h", 20 * MIN),
            // 1<<53+1 cannot be stored precisely in a float64
            ("9007199254740993ns", (1 << 53) + 1),
            // largest duration that can be represented by int64 in nanoseconds
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            // largest negative round trip value, golang.org/issue/48629
            ("-2562047h47m16.854775808s", i64::MIN),
            // huge string; issue 15011.
            ("0.100000000000000000000h", 6 * MIN),
            // the first overflow check in leadingFraction
            (
                "0.830103483285477580700h",
                49 * MIN + 48 * S + 372539827 * NS,
            ),
            // What docker users write.
            ("1m30s", 90 * S),
            ("1.5h", 90 * MIN),
        ] {
            assert_eq!(parse_duration(input), Ok(want), "{input}");
        }
    }

    /// Go's `parseDurationErrorTests`, with the full messages.
    #[test]
    fn parse_duration_errors_as_go() {
        for (input, quoted) in [
            ("", r#""""#),
            ("-", r#""-""#),
            ("s", r#""s""#),
            (".", r#"".""#),
            ("-.", r#""-.""#),
            (".s", r#"".s""#),
            ("+.s", r#""+.s""#),
            ("\u{FFFD}", r#""\xef\xbf\xbd""#),
            (
                "\u{FFFD} hello \u{FFFD} world",
                r#""\xef\xbf\xbd hello \xef\xbf\xbd world""#,
            ),
            // overflow
            ("9223372036854775810ns", r#""9223372036854775810ns""#),
            ("9223372036854775808ns", r#""9223372036854775808ns""#),
            ("-9223372036854775809ns", r#""-9223372036854775809ns""#),
            ("9223372036854776us", r#""9223372036854776us""#),
            ("3000000h", r#""3000000h""#),
            ("9223372036854775.808us", r#""9223372036854775.808us""#),
            (
                "9223372036854ms775us808ns",
                r#""9223372036854ms775us808ns""#,
            ),
        ] {
            let err = parse_duration(input).expect_err(input);
            assert_eq!(err.to_string(), format!("time: invalid duration {quoted}"));
        }
        assert_eq!(
            parse_duration("3").map_err(|e| e.to_string()),
            Err(r#"time: missing unit in duration "3""#.into())
        );
        assert_eq!(
            parse_duration("1d").map_err(|e| e.to_string()),
            Err(r#"time: unknown unit "d" in duration "1d""#.into())
        );
        assert_eq!(
            parse_duration("x").map_err(|e| e.to_string()),
            Err(r#"time: invalid duration "x""#.into())
        );
        assert_eq!(
            parse_duration("5x").map_err(|e| e.to_string()),
            Err(r#"time: unknown unit "x" in duration "5x""#.into())
        );
    }

    /// Go's `durationTests` for `Duration.String()`, and their negations.
    #[test]
    fn format_duration_as_go() {
        for (want, d) in [
            ("0s", 0),
            ("1ns", NS),
            ("1.1µs", 1100 * NS),
            ("2.2ms", 2200 * US),
            ("3.3s", 3300 * MS),
            ("4m5s", 4 * MIN + 5 * S),
            ("4m5.001s", 4 * MIN + 5001 * MS),
            ("5h6m7.001s", 5 * H + 6 * MIN + 7001 * MS),
            ("8m0.000000001s", 8 * MIN + NS),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
        ] {
            assert_eq!(format_duration(d), want, "{d}");
            if d > 0 {
                assert_eq!(format_duration(-d), format!("-{want}"), "{d}");
            }
        }
    }

    /// Go's `TestParseDurationRoundTrip`.
    #[test]
    fn round_trips() {
        for d in [i64::MAX, i64::MIN, 0, 90 * S, 1500 * US, -3 * H] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d}");
        }
    }
}
