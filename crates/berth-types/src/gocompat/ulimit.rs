//! Ulimits as docker's go-units names and parses them (`--ulimit nofile=1024:2048`).

/// go-units' `ulimitNameMapping`: the names `--ulimit` accepts and their `RLIMIT_*` numbers.
/// `as` is left out, as go-units leaves it out for docker.
pub const ULIMITS: &[(&str, i32)] = &[
    ("core", 4),
    ("cpu", 0),
    ("data", 2),
    ("fsize", 1),
    ("locks", 10),
    ("memlock", 8),
    ("msgqueue", 12),
    ("nice", 13),
    ("nofile", 7),
    ("nproc", 6),
    ("rss", 5),
    ("rtprio", 14),
    ("rttime", 15),
    ("sigpending", 11),
    ("stack", 3),
];

/// The kernel's (and the OCI spec's) `RLIMIT_AS`, which the API still lets through.
pub const RLIMIT_AS: (&str, i32) = ("as", 9);

/// Whether `name` is a resource limit a container can be given: go-units' names, and `as`
/// (dockerd passes an API request's names to the runtime as `RLIMIT_<NAME>`).
pub fn is_rlimit_name(name: &str) -> bool {
    name == RLIMIT_AS.0 || ULIMITS.iter().any(|(n, _)| *n == name)
}

/// One `--ulimit` value; -1 is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Why a `--ulimit` was refused; `Display` is go-units' (and strconv's) wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UlimitError {
    #[error("invalid ulimit argument: {0}")]
    Argument(String),
    #[error("invalid ulimit type: {0}")]
    Type(String),
    #[error("too many limit value arguments - {0}, can only have up to two, `soft[:hard]`")]
    TooMany(String),
    #[error("strconv.ParseInt: parsing \"{0}\": invalid syntax")]
    Syntax(String),
    #[error("strconv.ParseInt: parsing \"{0}\": value out of range")]
    Range(String),
    #[error("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {0}")]
    SoftUnlimited(i64),
    #[error("ulimit soft limit must be less than or equal to hard limit: {0} > {1}")]
    SoftAboveHard(i64, i64),
}

/// go-units `ParseUlimit` as the docker CLI (28) has it: `name=soft[:hard]`, -1 for unlimited,
/// the hard limit the soft one when not given. (Later go-units also read `infinity`; the docker
/// CLI does not: `strconv.ParseInt: parsing "infinity": invalid syntax`.)
pub fn parse_ulimit(val: &str) -> Result<Ulimit, UlimitError> {
    let Some((name, limits)) = val.split_once('=') else {
        return Err(UlimitError::Argument(val.to_string()));
    };
    if !ULIMITS.iter().any(|(n, _)| *n == name) {
        return Err(UlimitError::Type(name.to_string()));
    }
    let (soft, hard) = match limits.split(':').collect::<Vec<_>>().as_slice() {
        [soft, hard] => {
            let hard = limit_value(hard)?;
            (limit_value(soft)?, hard)
        }
        [soft] => {
            let soft = limit_value(soft)?;
            (soft, soft)
        }
        _ => return Err(UlimitError::TooMany(limits.to_string())),
    };
    check_limits(soft, hard)?;
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// go-units' rule for a soft and a hard limit: -1 (unlimited) is above every number.
pub fn check_limits(soft: i64, hard: i64) -> Result<(), UlimitError> {
    if hard != -1 {
        if soft == -1 {
            return Err(UlimitError::SoftUnlimited(hard));
        }
        if soft > hard {
            return Err(UlimitError::SoftAboveHard(soft, hard));
        }
    }
    Ok(())
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
fn limit_value(s: &str) -> Result<i64, UlimitError> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UlimitError::Syntax(s.to_string()));
    }
    s.parse().map_err(|_| UlimitError::Range(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, soft: i64, hard: i64) -> Result<Ulimit, UlimitError> {
        Ok(Ulimit {
            name: name.into(),
            soft,
            hard,
        })
    }

    /// go-units' `TestParseUlimit*` cases (without `infinity`, which the docker CLI refuses).
    #[test]
    fn parse_ulimit_as_go_units() {
        let err = |v: &str| parse_ulimit(v).map_err(|e| e.to_string());
        assert_eq!(parse_ulimit("nofile=512:1024"), ok("nofile", 512, 1024));
        assert_eq!(parse_ulimit("nofile=1024"), ok("nofile", 1024, 1024));
        assert_eq!(parse_ulimit("nofile=-1:-1"), ok("nofile", -1, -1));
        assert_eq!(parse_ulimit("nofile=-1"), ok("nofile", -1, -1));
        assert_eq!(parse_ulimit("nofile=1024:-1"), ok("nofile", 1024, -1));
        assert_eq!(parse_ulimit("cpu=2:4"), ok("cpu", 2, 4));
        assert_eq!(parse_ulimit("cpu=6"), ok("cpu", 6, 6));
        // TestParseUlimitBadFormat, TestParseUlimitHardLessThanSoft.
        for bad in [
            "nofile:1024:1024",
            "nofile",
            "nofile=",
            "nofile=:",
            "nofile=:1024",
            "nofile=-1:1024",
        ] {
            assert!(parse_ulimit(bad).is_err(), "{bad}");
        }
        assert_eq!(
            err("notarealtype=1024:1024"),
            Err("invalid ulimit type: notarealtype".into())
        );
        assert_eq!(err("as=1"), Err("invalid ulimit type: as".into()));
        assert_eq!(err("nofile"), Err("invalid ulimit argument: nofile".into()));
        assert_eq!(
            err("nofile=asd"),
            Err("strconv.ParseInt: parsing \"asd\": invalid syntax".into())
        );
        assert_eq!(
            err("nofile=1024:asd"),
            Err("strconv.ParseInt: parsing \"asd\": invalid syntax".into())
        );
        assert_eq!(
            err("nofile=infinity"),
            Err("strconv.ParseInt: parsing \"infinity\": invalid syntax".into())
        );
        assert_eq!(
            err("nofile=99999999999999999999"),
            Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range".into())
        );
        assert_eq!(
            err("nofile=1024:1:50"),
            Err("too many limit value arguments - 1024:1:50, can only have up to two, `soft[:hard]`".into())
        );
        assert_eq!(
            err("nofile=1024:1"),
            Err("ulimit soft limit must be less than or equal to hard limit: 1024 > 1".into())
        );
        assert_eq!(
            err("nofile=-1:1024"),
            Err("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 1024".into())
        );
    }

    #[test]
    fn rlimit_names() {
        assert!(is_rlimit_name("nofile"));
        assert!(is_rlimit_name("as"));
        assert!(!is_rlimit_name("bogus"));
        assert_eq!(ULIMITS.len(), 15);
    }
}
