//! `.env` files as compose-go's `dotenv` reads them.
//!
//! `KEY=VALUE` lines; `export ` prefix allowed; `#` comments (inline after whitespace for
//! unquoted values); single quotes literal; double quotes with `\n`, `\t`, `\"`, `\\` escapes
//! and multi-line values; unquoted and double-quoted values interpolate `${VAR}` from the
//! variables read so far, then the lookup. A bare `KEY` takes its value from the lookup (and is
//! skipped when unset).

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::interpolate::{substitute, Lookup};

struct Chain<'a> {
    local: &'a IndexMap<String, String>,
    outer: &'a dyn Lookup,
}

impl Lookup for Chain<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.outer
            .get(name)
            .or_else(|| self.local.get(name).cloned())
    }
}

/// Parses `text` (named `file` in errors); `lookup` supplies the environment for bare keys
/// and interpolation (it wins over earlier lines, as in compose).
pub fn parse(
    text: &str,
    file: &str,
    lookup: &dyn Lookup,
) -> Result<IndexMap<String, String>, String> {
    let mut out: IndexMap<String, String> = IndexMap::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line_no = 1;
    while i < chars.len() {
        // Skip blank space and newlines.
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t' || chars[i] == '\r') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        if chars[i] == '\n' {
            line_no += 1;
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        // Key.
        let start = i;
        while i < chars.len() && !matches!(chars[i], '=' | ':' | '\n') {
            i += 1;
        }
        let mut key: String = chars[start..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        if let Some(k) = key.strip_prefix("export ") {
            key = k.trim().to_string();
        }
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!(
                "failed to read {file}: line {line_no}: unexpected character {:?} in variable name {:?}",
                key.chars().find(|c| c.is_whitespace()).unwrap_or(' '),
                key
            ));
        }
        if i >= chars.len() || chars[i] == '\n' {
            // A bare key: its value comes from the environment.
            if let Some(v) = lookup.get(&key) {
                out.insert(key, v);
            }
            continue;
        }
        i += 1; // '=' or ':'
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        let value = match chars.get(i) {
            Some(&q) if q == '\'' || q == '"' => {
                i += 1;
                let mut v = String::new();
                let mut closed = false;
                while i < chars.len() {
                    let c = chars[i];
                    if c == q {
                        closed = true;
                        i += 1;
                        break;
                    }
                    if c == '\n' {
                        line_no += 1;
                    }
                    if q == '"' && c == '\\' && i + 1 < chars.len() {
                        let n = chars[i + 1];
                        match n {
                            'n' => v.push('\n'),
                            't' => v.push('\t'),
                            'r' => v.push('\r'),
                            '"' => v.push('"'),
                            '\\' => v.push('\\'),
                            '$' => v.push_str("$$"),
                            other => {
                                v.push('\\');
                                v.push(other);
                            }
                        }
                        i += 2;
                        continue;
                    }
                    v.push(c);
                    i += 1;
                }
                if !closed {
                    return Err(format!(
                        "failed to read {file}: line {line_no}: unterminated quoted value"
                    ));
                }
                // Rest of line: only a comment allowed.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                if q == '"' {
                    let chain = Chain {
                        local: &out,
                        outer: lookup,
                    };
                    substitute(&v, &chain).map_err(|e| e.0)?
                } else {
                    v
                }
            }
            _ => {
                let start = i;
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                // An inline comment starts at ` #`.
                let mut v = raw.as_str();
                if let Some(pos) = raw.find(" #").or_else(|| raw.find("\t#")) {
                    v = &raw[..pos];
                }
                let v = v.trim();
                let chain = Chain {
                    local: &out,
                    outer: lookup,
                };
                substitute(v, &chain).map_err(|e| e.0)?
            }
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// Reads `path` and parses it.
pub fn read_file(
    path: &std::path::Path,
    lookup: &dyn Lookup,
) -> Result<IndexMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read {}: {}", path.display(), e))?;
    parse(&text, &path.display().to_string(), lookup)
}

/// Helper: an empty lookup.
pub fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_syntax() {
        let env: BTreeMap<String, String> = [("HOST".to_string(), "h".to_string())]
            .into_iter()
            .collect();
        let text = "# comment\nA=1\nexport B = two words # c\nC='lit ${A}'\nD=\"x\\ny ${A}\"\nE=${A}-${HOST}\nHOST\nMISSING\nF=\"multi\nline\"\nG=a#b\nH=\n";
        let m = parse(text, ".env", &env).unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "lit ${A}");
        assert_eq!(m["D"], "x\ny 1");
        assert_eq!(m["E"], "1-h");
        assert_eq!(m["HOST"], "h");
        assert!(!m.contains_key("MISSING"));
        assert_eq!(m["F"], "multi\nline");
        assert_eq!(m["G"], "a#b");
        assert_eq!(m["H"], "");
    }
}
