//! Printing a project as `docker compose config` does: YAML (go-yaml style, two-space indent)
//! or JSON (Go's `json.MarshalIndent`, top-level keys sorted), `$` escaped as `$$`.

use indexmap::IndexMap;

use crate::model::Project;
use crate::node::{format_float, parse_yaml, Node, Value};

/// Output format of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// The project as an ordered tree, in compose's field order.
fn tree(project: &Project, format: Format, escape_dollars: bool) -> Node {
    let text = serde_json::to_string(project).unwrap_or_else(|_| "{}".to_string());
    let mut node = parse_yaml(&text).unwrap_or_else(|_| Node::map());
    if let Some(m) = node.as_map_mut() {
        // env_file is resolved into environment; compose prints neither the files nor the key.
        if let Some(services) = m.get_mut("services").and_then(Node::as_map_mut) {
            for svc in services.values_mut() {
                if let Some(sm) = svc.as_map_mut() {
                    sm.shift_remove("env_file");
                }
            }
        }
        if format == Format::Json {
            if let Some(services) = m.get_mut("services").and_then(Node::as_map_mut) {
                for svc in services.values_mut() {
                    strip_extensions(svc);
                }
            }
            // Go marshals the top level as a map: keys sorted.
            m.sort_keys();
        } else {
            if let Some(services) = m.get_mut("services").and_then(Node::as_map_mut) {
                for svc in services.values_mut() {
                    yaml_omit(svc, &["services"]);
                }
            }
            for kind in ["networks"] {
                if let Some(sec) = m.get_mut(kind).and_then(Node::as_map_mut) {
                    for n in sec.values_mut() {
                        if let Some(nm) = n.as_map_mut() {
                            drop_empty_map(nm, "ipam");
                        }
                    }
                }
            }
        }
    }
    if escape_dollars {
        escape(&mut node);
    }
    node
}

/// Renders the project.
pub fn render(project: &Project, format: Format, escape_dollars: bool) -> String {
    let node = tree(project, format, escape_dollars);
    match format {
        Format::Json => {
            let mut out = String::new();
            json(&node, 0, &mut out);
            out
        }
        Format::Yaml => {
            let mut out = String::new();
            yaml_map_body(node.as_map().cloned().unwrap_or_default(), 0, &mut out);
            out
        }
    }
}

/// Compose's `com.docker.compose.config-hash` of a service (`ServiceHash`): the SHA-256 of
/// Go's `json.Marshal` of the service without build, pull_policy, scale, deploy.replicas,
/// depends_on and profiles. `config --hash` prints it; `up` compares it to decide recreation.
pub fn service_hash(service: &crate::model::ServiceConfig) -> String {
    use sha2::Digest;
    let mut s = service.clone();
    s.build = None;
    s.pull_policy.clear();
    s.scale = None;
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    s.depends_on.clear();
    s.profiles.clear();
    hex::encode(sha2::Sha256::digest(go_json(&s).as_bytes()))
}

/// Go's `json.Marshal` of a model value: the model's field order (compose-go's), no spaces,
/// `<`, `>`, `&`, U+2028 and U+2029 escaped, `x-*` extensions left out (`json:"-"`).
pub fn go_json<T: serde::Serialize>(v: &T) -> String {
    // serde keeps the struct's field order; the ordered tree keeps it through the edits.
    let text = serde_json::to_string(v).unwrap_or_else(|_| "null".to_string());
    let mut node = parse_yaml(&text).unwrap_or_else(|_| Node::null());
    strip_extensions(&mut node);
    let mut out = String::with_capacity(text.len());
    json_compact(&node, &mut out);
    out
}

fn json_compact(n: &Node, out: &mut String) {
    match &n.value {
        Value::String(s) => json_string(s, out),
        Value::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json_compact(v, out);
            }
            out.push('}');
        }
        Value::Seq(s) => {
            out.push('[');
            for (i, v) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_compact(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&scalar_json(other)),
    }
}

fn strip_extensions(n: &mut Node) {
    match &mut n.value {
        Value::Map(m) => {
            m.retain(|k, _| !k.starts_with("x-"));
            for v in m.values_mut() {
                strip_extensions(v);
            }
        }
        Value::Seq(s) => s.iter_mut().for_each(strip_extensions),
        _ => {}
    }
}

fn drop_empty_map(m: &mut IndexMap<String, Node>, key: &str) {
    if m.get(key)
        .and_then(Node::as_map)
        .is_some_and(IndexMap::is_empty)
    {
        m.shift_remove(key);
    }
}

/// What go-yaml omits and encoding/json keeps: null command/entrypoint, empty struct fields.
fn yaml_omit(svc: &mut Node, _path: &[&str]) {
    let Some(m) = svc.as_map_mut() else {
        return;
    };
    for k in ["command", "entrypoint"] {
        if m.get(k).is_some_and(Node::is_null) {
            m.shift_remove(k);
        }
    }
    if let Some(Value::Seq(watch)) = m
        .get_mut("develop")
        .and_then(|d| d.get_mut("watch"))
        .map(|w| &mut w.value)
    {
        for w in watch.iter_mut() {
            if let Some(wm) = w.as_map_mut() {
                let zero = wm
                    .get("exec")
                    .and_then(Node::as_map)
                    .is_some_and(|e| e.len() == 1 && e.get("command").is_some_and(Node::is_null));
                if zero {
                    wm.shift_remove("exec");
                }
            }
        }
    }
    for h in ["post_start", "pre_stop"] {
        if let Some(Value::Seq(items)) = m.get_mut(h).map(|w| &mut w.value) {
            for it in items.iter_mut() {
                if let Some(hm) = it.as_map_mut() {
                    if hm.get("command").is_some_and(Node::is_null) {
                        hm.shift_remove("command");
                    }
                }
            }
        }
    }
    // compose-go's blkio device structs have no yaml tags: go-yaml lowercases their fields.
    if let Some(b) = m.get_mut("blkio_config").and_then(Node::as_map_mut) {
        for list in b.values_mut() {
            if let Value::Seq(items) = &mut list.value {
                for it in items.iter_mut() {
                    if let Some(im) = it.as_map_mut() {
                        let lowered: IndexMap<String, Node> =
                            im.drain(..).map(|(k, v)| (k.to_lowercase(), v)).collect();
                        *im = lowered;
                    }
                }
            }
        }
    }
    if let Some(d) = m.get_mut("deploy").and_then(Node::as_map_mut) {
        drop_empty_map(d, "resources");
        drop_empty_map(d, "placement");
    }
}

fn escape(n: &mut Node) {
    match &mut n.value {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Map(m) => m.values_mut().for_each(escape),
        Value::Seq(s) => s.iter_mut().for_each(escape),
        _ => {}
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn scalar_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float(*f),
        _ => String::new(),
    }
}

fn json(n: &Node, indent: usize, out: &mut String) {
    let pad = |k: usize| "  ".repeat(k);
    match &n.value {
        Value::String(s) => json_string(s, out),
        Value::Map(m) if m.is_empty() => out.push_str("{}"),
        Value::Seq(s) if s.is_empty() => out.push_str("[]"),
        Value::Map(m) => {
            out.push_str("{\n");
            let len = m.len();
            for (i, (k, v)) in m.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                json_string(k, out);
                out.push_str(": ");
                json(v, indent + 1, out);
                if i + 1 < len {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        Value::Seq(s) => {
            out.push_str("[\n");
            let len = s.len();
            for (i, v) in s.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                json(v, indent + 1, out);
                if i + 1 < len {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        other => out.push_str(&scalar_json(other)),
    }
}

/// How go-yaml (v3) writes a string scalar.
#[derive(Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, _frac) = match t.split_once('.') {
        Some((m, f)) if f.chars().all(|c| c.is_ascii_digit() || c == '_') => (m, Some(f)),
        Some(_) => return false,
        None => (t, None),
    };
    let mut parts = main.split(':');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && first.starts_with(|c: char| c.is_ascii_digit())
        && first.chars().all(|c| c.is_ascii_digit() || c == '_')
        && rest.iter().all(|r| {
            let b = r.as_bytes();
            match b.len() {
                1 => b[0].is_ascii_digit(),
                2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
                _ => false,
            }
        })
}

fn style(s: &str) -> Style {
    // Strings that would read back as another type are double-quoted.
    let reads_as_string = matches!(crate::node::resolve_plain(s), Value::String(_));
    if s.is_empty()
        || !reads_as_string
        || matches!(
            s,
            "y" | "Y"
                | "yes"
                | "Yes"
                | "YES"
                | "n"
                | "N"
                | "no"
                | "No"
                | "NO"
                | "on"
                | "On"
                | "ON"
                | "off"
                | "Off"
                | "OFF"
        )
        || is_base60_float(s)
    {
        return Style::Double;
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Style::Double;
    }
    let first = s.chars().next().unwrap_or(' ');
    let second = s.chars().nth(1);
    let mut plain = reads_as_string;
    if matches!(
        first,
        ',' | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) {
        plain = false;
    }
    if matches!(first, '-' | '?' | ':') && second.is_none_or(char::is_whitespace) {
        plain = false;
    }
    if s.starts_with(' ')
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
    {
        plain = false;
    }
    if plain {
        return Style::Plain;
    }
    Style::Single
}

#[cfg(test)]
fn needs_quotes(s: &str) -> bool {
    style(s) != Style::Plain
}

/// A string as go-yaml writes it (quoted only when it must be).
pub fn yaml_string(s: &str) -> String {
    if style(s) != Style::Plain {
        yaml_quote(s)
    } else {
        s.to_string()
    }
}

fn yaml_quote(s: &str) -> String {
    if style(s) == Style::Single {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn yaml_key(k: &str) -> String {
    if style(k) != Style::Plain {
        yaml_quote(k)
    } else {
        k.to_string()
    }
}

/// A scalar on one line, or `None` when it needs a block (multi-line string).
fn yaml_scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\n') => None,
        Value::String(s) => Some(if style(s) != Style::Plain {
            yaml_quote(s)
        } else {
            s.clone()
        }),
        other => Some(scalar_json(other)),
    }
}

fn block_string(s: &str, indent: usize, out: &mut String) {
    let chomp = if s.ends_with('\n') { "|" } else { "|-" };
    out.push_str(chomp);
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&"  ".repeat(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn yaml_value_after_key(v: &Node, indent: usize, out: &mut String) {
    match &v.value {
        Value::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Value::Seq(s) if s.is_empty() => out.push_str(" []\n"),
        Value::Map(m) => {
            out.push('\n');
            yaml_map_body(m.clone(), indent + 1, out);
        }
        Value::Seq(s) => {
            out.push('\n');
            yaml_seq_body(s, indent + 1, out);
        }
        Value::String(s) if s.contains('\n') => {
            out.push(' ');
            block_string(s, indent + 1, out);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

fn yaml_map_body(m: IndexMap<String, Node>, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&"  ".repeat(indent));
        out.push_str(&yaml_key(&k));
        out.push(':');
        yaml_value_after_key(&v, indent, out);
    }
}

fn yaml_seq_body(s: &[Node], indent: usize, out: &mut String) {
    for item in s {
        out.push_str(&"  ".repeat(indent));
        out.push('-');
        match &item.value {
            Value::Map(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                let mut first = true;
                for (k, v) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&"  ".repeat(indent + 1));
                    }
                    out.push_str(&yaml_key(k));
                    out.push(':');
                    yaml_value_after_key(v, indent + 1, out);
                }
            }
            Value::Seq(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_seq_body(inner, indent + 1, out);
            }
            _ => yaml_value_after_key(item, indent, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_as_go_yaml() {
        assert!(needs_quotes("1"));
        assert!(needs_quotes("Y"));
        assert!(needs_quotes("true"));
        assert!(needs_quotes(""));
        assert!(needs_quotes("0755"));
        assert!(!needs_quotes("1000:1000"));
        assert!(!needs_quotes("-f"));
        assert!(!needs_quotes("4000-4001"));
        assert!(!needs_quotes("0.0.0.0"));
        assert!(!needs_quotes("h=1.2.3.4"));
        assert!(needs_quotes("a: b"));
        assert!(needs_quotes("*x"));
        assert_eq!(yaml_quote("a: b"), "'a: b'");
        assert_eq!(yaml_quote("1"), "\"1\"");
        assert_eq!(yaml_quote("12:30"), "\"12:30\"");
        assert_eq!(yaml_quote(" x"), "' x'");
    }
}
