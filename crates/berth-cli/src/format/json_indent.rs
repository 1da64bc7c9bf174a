//! Go's json.Indent over raw JSON bytes: keeps the daemon's field order and escapes.

/// Re-indents `src` with `indent` per level; empty objects/arrays stay `{}`/`[]`.
pub fn indent(src: &[u8], indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let text = String::from_utf8_lossy(src);
    let chars: Vec<char> = text.chars().collect();
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                        out.push(chars[i]);
                    } else if chars[i] == '"' {
                        break;
                    }
                    i += 1;
                }
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if j < chars.len() && chars[j] == close {
                    out.push(close);
                    i = j;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn indents_like_go() {
        let src = br#"[{"Id":"x","A":[],"B":{},"C":[1,2],"D":{"e":"a,b:{c}"}}]"#;
        let want = "[\n    {\n        \"Id\": \"x\",\n        \"A\": [],\n        \"B\": {},\n        \"C\": [\n            1,\n            2\n        ],\n        \"D\": {\n            \"e\": \"a,b:{c}\"\n        }\n    }\n]";
        assert_eq!(super::indent(src, "    "), want);
    }

    #[test]
    fn keeps_escapes() {
        assert_eq!(
            super::indent(br#"{"a":"\u003c\"x"}"#, "  "),
            "{\n  \"a\": \"\\u003c\\\"x\"\n}"
        );
    }
}
