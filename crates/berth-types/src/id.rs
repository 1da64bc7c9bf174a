//! Container, exec and image ids: 64 lowercase hex characters, shown truncated to 12.

use rand::RngCore;

/// Length of the short form shown by `docker ps` and friends.
pub const SHORT_LEN: usize = 12;

/// A new random 256-bit id in hex, as dockerd generates for containers and execs.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The first 12 characters of an id (the whole id when it is shorter).
pub fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(SHORT_LEN)]
}

/// Whether `s` could be a (possibly truncated) hex id.
pub fn is_hex_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// dockerd's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (an optional leading `/`).
pub fn is_valid_container_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    let rest: Vec<char> = chars.collect();
    !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_64_hex_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 64);
        assert!(is_hex_prefix(&a));
        assert_ne!(a, b);
        assert_eq!(short(&a).len(), 12);
    }

    #[test]
    fn container_names_follow_dockerd_rule() {
        assert!(is_valid_container_name("web"));
        assert!(is_valid_container_name("/web_1.a-b"));
        assert!(!is_valid_container_name("w"));
        assert!(!is_valid_container_name("-web"));
        assert!(!is_valid_container_name("we b"));
        assert!(!is_valid_container_name(""));
    }
}
