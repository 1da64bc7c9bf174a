//! docker's go-units: human-readable sizes as it parses them, `RAMInBytes` (binary multiples:
//! `10m` = 10 MiB) and `FromHumanSize` (decimal multiples: `10m` = 10 MB); as it prints them,
//! `HumanSize` (decimal, `%.4g`: "1.23MB") and `BytesSize` (binary: "1.944GiB"); and
//! `HumanDuration` ("2 minutes", "About an hour").
//!
//! The grammar is go-units' `(?i)^(\d+(\.\d+)*) ?([kmgtp])?i?b?$`: a number, at most one space,
//! an optional unit letter, an optional `i` and an optional `b`, so `10m`, `10MB`, `10MiB`,
//! `10 mb`, `1.5m` and `32` are accepted; `-1`, ` 32 `, `32m b` and `32bm` are not. A number with
//! several dots matches the pattern but is not a float (`1.2.3`): go's `strconv.ParseFloat`
//! error, as dockerd reports it.

/// Why a size was refused; `Display` is go-units' (and strconv's) wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size: '{0}'")]
    Invalid(String),
    #[error("strconv.ParseFloat: parsing \"{0}\": invalid syntax")]
    Float(String),
}

/// go-units `RAMInBytes`: binary multiples (`k` = 1024).
pub fn ram_in_bytes(s: &str) -> Result<i64, SizeError> {
    parse(s, 1024)
}

/// go-units `FromHumanSize`: decimal multiples (`k` = 1000).
pub fn from_human_size(s: &str) -> Result<i64, SizeError> {
    parse(s, 1000)
}

fn parse(s: &str, base: i64) -> Result<i64, SizeError> {
    let invalid = || SizeError::Invalid(s.to_string());
    let bytes = s.as_bytes();
    // The number: digits, then any number of `.digits` groups.
    let mut i = 0;
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let n = digits(i);
    if n == 0 {
        return Err(invalid());
    }
    i += n;
    while i < bytes.len() && bytes[i] == b'.' {
        let n = digits(i + 1);
        if n == 0 {
            break;
        }
        i += 1 + n;
    }
    let number = &s[..i];
    let mut rest = &bytes[i..];
    if let Some(r) = rest.strip_prefix(b" ") {
        rest = r;
    }
    let mut exponent = 0;
    if let Some((&c, r)) = rest.split_first() {
        if let Some(p) = b"kmgtp".iter().position(|u| *u == c.to_ascii_lowercase()) {
            exponent = p as u32 + 1;
            rest = r;
        }
    }
    for optional in [b'i', b'b'] {
        if let Some((&c, r)) = rest.split_first() {
            if c.to_ascii_lowercase() == optional {
                rest = r;
            }
        }
    }
    if !rest.is_empty() {
        return Err(invalid());
    }
    let value: f64 = number
        .parse()
        .map_err(|_| SizeError::Float(number.to_string()))?;
    // Go converts with int64(float64): truncation, saturating here instead of undefined.
    Ok((value * (base as f64).powi(exponent as i32)) as i64)
}

const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units `getSizeAndUnit`.
fn size_and_unit(mut size: f64, base: f64, abbrs: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < abbrs.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, abbrs[i])
}

/// go-units `HumanSizeWithPrecision`: decimal units, `precision` significant digits ("4.26MB"
/// for 3).
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (v, unit) = size_and_unit(size, 1000.0, &DECIMAL_ABBRS);
    format!("{}{unit}", format_g(v, precision))
}

/// go-units `HumanSize`: decimal units, 4 significant digits ("1.049MB").
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// go-units `BytesSize`: binary units, 4 significant digits ("1.944GiB").
pub fn bytes_size(size: f64) -> String {
    let (v, unit) = size_and_unit(size, 1024.0, &BINARY_ABBRS);
    format!("{}{unit}", format_g(v, 4))
}

/// Go's `%.<precision>g`: that many significant digits, trailing zeros dropped, the exponent
/// form (`1e+04`) when the exponent is below -4 or at least the precision.
pub fn format_g(v: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if v == 0.0 {
        return "0".into();
    }
    // Rounded to `precision` significant digits by the exponent formatter, then laid out.
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = (precision as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `HumanDuration`: "Less than a second", "1 second", "About a minute", "3 hours",
/// "2 weeks", "3 years" (what `docker ps` shows after "Up " and before " ago").
pub fn human_duration(d: std::time::Duration) -> String {
    const HOUR: u128 = 3_600_000_000_000;
    let nanos = d.as_nanos();
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    } else if seconds == 1 {
        return "1 second".into();
    } else if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    } else if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // `d.Round(time.Hour)`: halves round up.
    let hours = (nanos + HOUR / 2) / HOUR;
    if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        // Years from the hours not rounded, as go-units.
        format!("{} years", nanos / HOUR / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KIB: i64 = 1024;
    const MIB: i64 = KIB * 1024;
    const GIB: i64 = MIB * 1024;
    const TIB: i64 = GIB * 1024;
    const PIB: i64 = TIB * 1024;
    const KB: i64 = 1000;
    const MB: i64 = KB * 1000;
    const GB: i64 = MB * 1000;
    const TB: i64 = GB * 1000;
    const PB: i64 = TB * 1000;

    /// go-units' `TestRAMInBytes` table.
    #[test]
    fn ram_in_bytes_as_go_units() {
        for (want, s) in [
            (32, "32"),
            (32, "32b"),
            (32, "32B"),
            (32 * KIB, "32k"),
            (32 * KIB, "32K"),
            (32 * KIB, "32kb"),
            (32 * KIB, "32Kb"),
            (32 * KIB, "32Kib"),
            (32 * KIB, "32KIB"),
            (32 * MIB, "32Mb"),
            (32 * GIB, "32Gb"),
            (32 * TIB, "32Tb"),
            (32 * PIB, "32Pb"),
            (32 * PIB, "32PB"),
            (32 * PIB, "32P"),
            (32, "32.3"),
            ((32.3 * MIB as f64) as i64, "32.3 mb"),
            ((0.3 * MIB as f64) as i64, "0.3MB"),
            // The spellings docker users write.
            (10 * MIB, "10m"),
            (10 * MIB, "10MB"),
            (10 * MIB, "10MiB"),
            (GIB, "1g"),
            (512 * KIB, "512k"),
            (MIB + MIB / 2, "1.5m"),
        ] {
            assert_eq!(ram_in_bytes(s), Ok(want), "{s}");
        }
        for s in [
            "", "hello", "-32", " 32 ", "32m b", "32bm", ".3kB", "10 MiB x",
        ] {
            assert_eq!(ram_in_bytes(s), Err(SizeError::Invalid(s.into())), "{s}");
        }
        assert_eq!(
            ram_in_bytes("1.2.3").map_err(|e| e.to_string()),
            Err("strconv.ParseFloat: parsing \"1.2.3\": invalid syntax".into())
        );
        assert_eq!(
            ram_in_bytes("lots").map_err(|e| e.to_string()),
            Err("invalid size: 'lots'".into())
        );
    }

    /// go-units' `TestFromHumanSize` table.
    #[test]
    fn from_human_size_as_go_units() {
        for (want, s) in [
            (32, "32"),
            (32, "32b"),
            (32, "32B"),
            (32 * KB, "32k"),
            (32 * KB, "32K"),
            (32 * KB, "32kb"),
            (32 * KB, "32Kb"),
            (32 * MB, "32Mb"),
            (32 * GB, "32Gb"),
            (32 * TB, "32Tb"),
            (32 * PB, "32Pb"),
            (32500, "32.5kB"),
            (32500, "32.5 kB"),
            (32, "32.5 B"),
            (300, "0.3 K"),
            (10 * MB, "10MiB"),
        ] {
            assert_eq!(from_human_size(s), Ok(want), "{s}");
        }
        for s in ["", "hello", "-32", ".3kB", " 32 ", "32m b", "32bm"] {
            assert!(from_human_size(s).is_err(), "{s}");
        }
    }

    /// go-units' `TestHumanSize`, `TestBytesSize` and the sizes the docker CLI shows.
    #[test]
    fn human_sizes_as_go_units() {
        for (want, size) in [
            ("1kB", 1000.0),
            ("1.024kB", 1024.0),
            ("1MB", 1000000.0),
            ("1.049MB", 1048576.0),
            ("2MB", 2.0 * MB as f64),
            ("3.42GB", 3.42 * GB as f64),
            ("5.372TB", 5.372 * TB as f64),
            ("2.22PB", 2.22 * PB as f64),
            ("1e+04YB", 10000000000000.0 * PB as f64),
        ] {
            assert_eq!(human_size(size), want, "{size}");
        }
        for (want, size) in [
            ("1KiB", 1024.0),
            ("1MiB", 1024.0 * 1024.0),
            ("1MiB", 1048576.0),
            ("2MiB", 2.0 * MIB as f64),
            ("3.42GiB", 3.42 * GIB as f64),
            ("5.372TiB", 5.372 * TIB as f64),
            ("2.22PiB", 2.22 * PIB as f64),
            (
                "1.049e+06YiB",
                (KIB * KIB * KIB * KIB * KIB) as f64 * PIB as f64,
            ),
        ] {
            assert_eq!(bytes_size(size), want, "{size}");
        }
        assert_eq!(human_size_with_precision(4_261_234.0, 3), "4.26MB");
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        assert_eq!(human_size_with_precision(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
        assert_eq!(format_g(123.456, 4), "123.5");
    }

    /// go-units' `TestHumanDuration` table.
    #[test]
    fn human_durations_as_go_units() {
        let s = Duration::from_secs;
        let (min, hour) = (60, 3600);
        let (day, week, month, year) = (24 * hour, 7 * 24 * hour, 30 * 24 * hour, 365 * 24 * hour);
        for (want, d) in [
            ("Less than a second", Duration::from_millis(450)),
            ("1 second", s(1)),
            ("45 seconds", s(45)),
            ("46 seconds", s(46)),
            ("59 seconds", s(59)),
            ("About a minute", s(60)),
            ("3 minutes", s(3 * min)),
            ("35 minutes", s(35 * min)),
            ("35 minutes", s(35 * min + 40)),
            ("45 minutes", s(45 * min)),
            ("45 minutes", s(45 * min + 40)),
            ("46 minutes", s(46 * min)),
            ("59 minutes", s(59 * min)),
            ("About an hour", s(hour)),
            ("About an hour", s(hour + 29 * min)),
            ("2 hours", s(hour + 31 * min)),
            ("2 hours", s(hour + 59 * min)),
            ("3 hours", s(3 * hour)),
            ("3 hours", s(3 * hour + 29 * min)),
            ("4 hours", s(3 * hour + 31 * min)),
            ("4 hours", s(3 * hour + 59 * min)),
            ("4 hours", s(3 * hour + 60 * min)),
            ("24 hours", s(24 * hour)),
            ("36 hours", s(day + 12 * hour)),
            ("2 days", s(2 * day)),
            ("7 days", s(7 * day)),
            ("13 days", s(13 * day + 5 * hour)),
            ("2 weeks", s(2 * week)),
            ("2 weeks", s(2 * week + 4 * day)),
            ("3 weeks", s(3 * week)),
            ("4 weeks", s(4 * week)),
            ("4 weeks", s(4 * week + 3 * day)),
            ("4 weeks", s(month)),
            ("6 weeks", s(month + 2 * week)),
            ("2 months", s(2 * month)),
            ("2 months", s(2 * month + 2 * week)),
            ("3 months", s(3 * month)),
            ("3 months", s(3 * month + week)),
            ("5 months", s(5 * month + 2 * week)),
            ("13 months", s(13 * month)),
            ("23 months", s(23 * month)),
            ("24 months", s(24 * month)),
            ("2 years", s(24 * month + 2 * week)),
            ("3 years", s(3 * year + 2 * month)),
        ] {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }
}
