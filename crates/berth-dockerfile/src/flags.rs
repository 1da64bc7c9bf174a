//! Instruction flags (`--from=...`, `--link`, `--mount=...`), checked as BuildKit's BFlags.

use crate::error::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    Bool,
    String,
    /// May repeat (`--mount`, `--exclude`).
    Strings,
}

/// The values given for one instruction's flags.
#[derive(Debug, Default)]
pub(crate) struct FlagValues {
    values: Vec<(&'static str, Vec<String>)>,
}

impl FlagValues {
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.all(name).last().cloned()
    }
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }
    pub(crate) fn all(&self, name: &str) -> &[String] {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }
}

/// Checks `args` (as written, each starting with `--`) against the allowed flags.
pub(crate) fn parse_flags(
    args: &[String],
    allowed: &[(&'static str, FlagKind)],
) -> Result<FlagValues, ErrorKind> {
    let mut out = FlagValues::default();
    for arg in args {
        let Some(body) = arg.strip_prefix("--") else {
            return Err(ErrorKind::FlagWithoutDashes(arg.clone()));
        };
        if body.is_empty() {
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(static_name, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
            return Err(ErrorKind::UnknownFlag(name.to_string()));
        };
        let seen = out.values.iter().position(|(n, _)| *n == static_name);
        if seen.is_some() && kind != FlagKind::Strings {
            return Err(ErrorKind::DuplicateFlag(name.to_string()));
        }
        let stored = match kind {
            FlagKind::Bool => match value {
                Some("") => return Err(ErrorKind::MissingFlagValue(name.to_string())),
                None => "true".to_string(),
                Some(v) if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => {
                    v.to_ascii_lowercase()
                }
                Some(v) => return Err(ErrorKind::ExpectingBool(name.to_string(), v.to_string())),
            },
            FlagKind::String | FlagKind::Strings => match value {
                Some(v) => v.to_string(),
                None => return Err(ErrorKind::MissingFlagValue(name.to_string())),
            },
        };
        match seen {
            Some(i) => out.values[i].1.push(stored),
            None => out.values.push((static_name, vec![stored])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[(&str, FlagKind)] = &[
        ("from", FlagKind::String),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::Strings),
    ];

    fn parse(args: &[&str]) -> Result<FlagValues, ErrorKind> {
        parse_flags(
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ALLOWED,
        )
    }

    #[test]
    fn values_and_kinds() {
        let f = parse(&["--from=build", "--link", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("build"));
        assert!(f.bool("link"));
        assert_eq!(f.all("exclude"), ["a", "b"]);
        assert!(!parse(&["--link=FALSE"]).unwrap().bool("link"));
    }

    #[test]
    fn errors_use_buildkit_wording() {
        let msg = |a: &[&str]| parse(a).unwrap_err().to_string();
        assert_eq!(msg(&["--nope=1"]), "Unknown flag: nope");
        assert_eq!(
            msg(&["--from=a", "--from=b"]),
            "Duplicate flag specified: from"
        );
        assert_eq!(msg(&["--from"]), "Missing a value on flag: from");
        assert_eq!(msg(&["--link="]), "Missing a value on flag: link");
        assert_eq!(
            msg(&["--link=yes"]),
            "Expecting boolean value for flag link, not: yes"
        );
    }
}
