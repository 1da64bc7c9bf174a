//! Human-readable sizes as docker's go-units (v0.4, the version dockerd 20.10 and the docker CLI
//! build with) parses them: `RAMInBytes` (binary multiples: `10m` = 10 MiB) and
//! `FromHumanSize` (decimal multiples: `10m` = 10 MB).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
