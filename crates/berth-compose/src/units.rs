//! Durations and byte sizes as compose files write them, and Go's duration formatting.

/// Parses a Go/compose duration: `1m30s`, `1.5h`, `10ms`, `2d` (days and weeks as
/// go-str2duration accepts them), `0`. Returns nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let s = s.trim();
    let invalid = || format!("time: invalid duration {:?}", orig);
    if s.is_empty() {
        return Err(invalid());
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(invalid());
        }
        let num: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            "" => return Err(format!("time: missing unit in duration {:?}", orig)),
            _ => {
                return Err(format!(
                    "time: unknown unit {:?} in duration {:?}",
                    unit, orig
                ))
            }
        };
        total += num * mult;
    }
    let v = total.round() as i64;
    Ok(if neg { -v } else { v })
}

/// Go's `time.Duration.String()`: `1h2m3s`, `1m30s`, `500ms`, `0s`.
pub fn format_go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: the largest unit of ns, µs, ms with a fraction.
        let (unit, div) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let rem = u % 3_600_000_000_000;
        let m = rem / 60_000_000_000;
        let s_ns = rem % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s_ns, 1_000_000_000));
        out.push('s');
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

/// `v / div` with the fraction's trailing zeros dropped (Go's fmtFrac).
fn frac(v: u64, div: u64) -> String {
    let int = v / div;
    let f = v % div;
    if f == 0 {
        return int.to_string();
    }
    let digits = div.to_string().len() - 1;
    let fraction = format!("{f:0digits$}");
    format!("{int}.{}", fraction.trim_end_matches('0'))
}

/// Parses a size as docker's `units.RAMInBytes`: `512`, `64m`, `1gb`, `1.5G`, `10k`.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let invalid = || format!("invalid size: '{s}'");
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    if num_len == 0 {
        return Err(invalid());
    }
    let num: f64 = t[..num_len].parse().map_err(|_| invalid())?;
    let suffix = t[num_len..].trim().to_ascii_lowercase();
    let mult: f64 = match suffix.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(invalid()),
    };
    Ok((num * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_as_go() {
        assert_eq!(
            format_go_duration(parse_duration("1m30s").unwrap()),
            "1m30s"
        );
        assert_eq!(format_go_duration(parse_duration("120s").unwrap()), "2m0s");
        assert_eq!(format_go_duration(parse_duration("1h").unwrap()), "1h0m0s");
        assert_eq!(format_go_duration(parse_duration("1.5s").unwrap()), "1.5s");
        assert_eq!(format_go_duration(parse_duration("10ms").unwrap()), "10ms");
        assert_eq!(format_go_duration(parse_duration("0").unwrap()), "0s");
        assert_eq!(format_go_duration(parse_duration("1d").unwrap()), "24h0m0s");
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn sizes_parse_as_docker() {
        assert_eq!(parse_bytes("64m").unwrap(), 67108864);
        assert_eq!(parse_bytes("1gb").unwrap(), 1073741824);
        assert_eq!(parse_bytes("50M").unwrap(), 52428800);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert!(parse_bytes("12x").is_err());
    }
}
