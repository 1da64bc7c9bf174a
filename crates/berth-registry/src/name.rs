//! Repository names and tags, validated as the Distribution Spec's grammar says.
//!
//! name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
//! tag:  `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`

use crate::error::RegistryError;

/// The reference registry's limit on a whole name.
const MAX_NAME_LEN: usize = 255;

/// Checks a repository name; anything else (`..`, upper case, empty components) is NAME_INVALID.
pub fn validate_name(name: &str) -> Result<(), RegistryError> {
    let valid =
        !name.is_empty() && name.len() <= MAX_NAME_LEN && name.split('/').all(valid_component);
    if valid {
        Ok(())
    } else {
        Err(RegistryError::NameInvalid(format!(
            "invalid repository name {name:?}"
        )))
    }
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or one or more `-`.
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false; // empty run: leading/trailing/doubled separator
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
}

/// Checks a tag.
pub fn validate_tag(tag: &str) -> Result<(), RegistryError> {
    let bytes = tag.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && bytes.len() <= 128 {
        Ok(())
    } else {
        Err(RegistryError::TagInvalid(format!("invalid tag {tag:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/busybox", "a.b_c__d---e/f0", "x/y/z"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "../etc", "a/../b", "A", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", ".",
            "a/.b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags() {
        assert!(validate_tag("latest").is_ok());
        assert!(validate_tag("_v1.2-rc").is_ok());
        assert!(validate_tag(".x").is_err());
        assert!(validate_tag("").is_err());
        assert!(validate_tag(&"a".repeat(129)).is_err());
    }
}
