//! Docker CLI string helpers: ID truncation, ellipsis, Go's strconv.Quote.

/// The 12-character short form of an ID (`sha256:` stripped).
pub fn truncate_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// Cuts `s` to `max` columns, ending in "…" when cut (docker's formatter.Ellipsis).
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = chars[..max - 1].iter().collect();
    out.push('…');
    out
}

/// Go's strconv.Quote.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(
            truncate_id("sha256:c8072aa6a3e70d058ce9f06"),
            "c8072aa6a3e7"
        );
        assert_eq!(truncate_id("abc"), "abc");
    }

    #[test]
    fn ellipsis_cuts_with_marker() {
        assert_eq!(
            ellipsis("sh -c 'sleep 1000; echo'", 20),
            "sh -c 'sleep 1000; …"
        );
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(ellipsis("exactly-twenty-chars", 20), "exactly-twenty-chars");
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("sh -c 'x'"), "\"sh -c 'x'\"");
        assert_eq!(go_quote("a\"b\\c\n\x01é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }
}
