//! The untyped compose tree: YAML parsed with anchors, aliases, merge keys (`<<`) and the
//! `!reset`/`!override` tags kept, key order preserved, and the line of every node.

use indexmap::IndexMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A merge tag on a node: `!reset` drops the value from earlier files, `!override` replaces
/// it instead of merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    Reset,
    Override,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(IndexMap<String, Node>),
}

/// A value with its source line (1-based, 0 when synthesized) and merge tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub tag: Option<MergeTag>,
}

impl Node {
    pub fn new(value: Value) -> Self {
        Node {
            value,
            line: 0,
            tag: None,
        }
    }
    pub fn null() -> Self {
        Node::new(Value::Null)
    }
    pub fn string(s: impl Into<String>) -> Self {
        Node::new(Value::String(s.into()))
    }
    pub fn map() -> Self {
        Node::new(Value::Map(IndexMap::new()))
    }
    pub fn as_map(&self) -> Option<&IndexMap<String, Node>> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut IndexMap<String, Node>> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut().and_then(|m| m.get_mut(key))
    }
    /// The scalar as compose reads it into a string field (numbers and booleans printed).
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            _ => None,
        }
    }
    /// The JSON type name as the compose schema calls it.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "object",
        }
    }

    /// To JSON (tags and lines dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// From JSON (object order is serde_json's).
    pub fn from_json(v: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        Node::new(match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(Node::from_json).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
        })
    }
}

pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// YAML 1.1/1.2 booleans as go-yaml reads them for a string-typed check.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

/// A YAML syntax or structure error, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
    /// A key defined twice in one mapping (compose words it `failed to parse <file>: ...`).
    pub duplicate_key: bool,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "yaml: line {}: {}", self.line, self.message)
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        anchor: usize,
        line: usize,
        tag: Option<MergeTag>,
    },
    Map {
        entries: IndexMap<String, Node>,
        /// The line of each explicit key.
        key_lines: std::collections::HashMap<String, usize>,
        /// Entries from `<<` merge keys: applied under the explicit keys.
        merged: Vec<IndexMap<String, Node>>,
        key: Option<(String, usize)>,
        anchor: usize,
        line: usize,
        tag: Option<MergeTag>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Node>,
    docs: Vec<Node>,
    error: Option<YamlError>,
}

fn merge_tag(tag: &Option<Tag>) -> Option<MergeTag> {
    match tag {
        Some(t) if t.handle == "!" && t.suffix == "reset" => Some(MergeTag::Reset),
        Some(t) if t.handle == "!" && t.suffix == "override" => Some(MergeTag::Override),
        _ => None,
    }
}

/// Resolves a plain scalar as YAML's core schema (go-yaml v3) does.
pub(crate) fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let plain = s.replace('_', "");
    let (neg, digits) = match plain.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
    };
    let int = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = digits.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        // YAML 1.1 octal, as go-yaml reads `0755`.
        i64::from_str_radix(&digits[1..], 8).ok()
    } else if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        digits.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Value::Int(if neg { -i } else { i });
    }
    let looks_float = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && digits
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().any(|c| c.is_ascii_digit());
    if looks_float {
        if let Ok(f) = plain.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(s.to_string())
}

impl Builder {
    fn fail(&mut self, line: usize, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line,
                message: message.into(),
                duplicate_key: false,
            });
        }
    }

    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key_lines,
                merged,
                key,
                ..
            }) => match key.take() {
                None => {
                    let k = match &node.value {
                        Value::String(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => format_float(*f),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        _ => {
                            let line = node.line;
                            self.fail(line, "invalid map key: a mapping key must be a scalar");
                            return;
                        }
                    };
                    *key = Some((k, node.line));
                }
                Some((k, kline)) => {
                    if k == "<<" {
                        match node.value {
                            Value::Map(m) => merged.push(m),
                            Value::Seq(items) => {
                                for it in items {
                                    match it.value {
                                        Value::Map(m) => merged.push(m),
                                        _ => {
                                            self.fail(
                                                kline,
                                                "map merge requires map or sequence of maps as the value",
                                            );
                                            return;
                                        }
                                    }
                                }
                            }
                            _ => {
                                self.fail(
                                    kline,
                                    "map merge requires map or sequence of maps as the value",
                                );
                            }
                        }
                    } else if let Some(first) = key_lines.get(&k) {
                        let message = format!("mapping key {k:?} already defined at line {first}");
                        if self.error.is_none() {
                            self.error = Some(YamlError {
                                line: kline,
                                message,
                                duplicate_key: true,
                            });
                        }
                    } else {
                        key_lines.insert(k.clone(), kline);
                        entries.insert(k, node);
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::Scalar(v, style, anchor, tag) => {
                let mt = merge_tag(&tag);
                let value = match (&style, &tag) {
                    (TScalarStyle::Plain, None) => resolve_plain(&v),
                    (TScalarStyle::Plain, Some(t)) if mt.is_some() || t.handle == "!!" => {
                        match t.suffix.as_str() {
                            "str" => Value::String(v),
                            _ => resolve_plain(&v),
                        }
                    }
                    _ => Value::String(v),
                };
                let node = Node {
                    value,
                    line,
                    tag: mt,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                anchor,
                line,
                tag: merge_tag(&tag),
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                entries: IndexMap::new(),
                key_lines: Default::default(),
                merged: Vec::new(),
                key: None,
                anchor,
                line,
                tag: merge_tag(&tag),
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (node, anchor) = match frame {
                    Frame::Seq {
                        items,
                        anchor,
                        line,
                        tag,
                    } => (
                        Node {
                            value: Value::Seq(items),
                            line,
                            tag,
                        },
                        anchor,
                    ),
                    Frame::Map {
                        entries,
                        merged,
                        anchor,
                        line,
                        tag,
                        ..
                    } => {
                        let entries = if merged.is_empty() {
                            entries
                        } else {
                            // Explicit keys win; among merged maps the first one wins.
                            let mut out = IndexMap::new();
                            for m in merged {
                                for (k, v) in m {
                                    out.entry(k).or_insert(v);
                                }
                            }
                            for (k, v) in entries {
                                out.insert(k, v);
                            }
                            out
                        };
                        (
                            Node {
                                value: Value::Map(entries),
                                line,
                                tag,
                            },
                            anchor,
                        )
                    }
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let n = n.clone();
                    self.push_value(n);
                }
                None => self.fail(line, "unknown anchor"),
            },
            _ => {}
        }
    }
}

/// Parses one YAML document (an empty file is an empty mapping's absence: `Null`).
pub fn parse_yaml(text: &str) -> Result<Node, YamlError> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: Default::default(),
        docs: Vec::new(),
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        let info = e.info().to_string();
        return Err(YamlError {
            line: m.line(),
            message: info,
            duplicate_key: false,
        });
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.docs.into_iter().next().unwrap_or_else(Node::null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_merge_keys_and_tags() {
        let n = parse_yaml(
            "x: &a {k: 1, j: two}\ny:\n  <<: *a\n  k: 3\nz: !reset []\nw: !override {a: 1}\n",
        )
        .unwrap();
        let y = n.get("y").unwrap();
        assert_eq!(y.get("k").unwrap().value, Value::Int(3));
        assert_eq!(y.get("j").unwrap().value, Value::String("two".into()));
        assert_eq!(n.get("z").unwrap().tag, Some(MergeTag::Reset));
        assert_eq!(n.get("w").unwrap().tag, Some(MergeTag::Override));
    }

    #[test]
    fn scalars_resolve_as_yaml() {
        let n = parse_yaml("a: 0755\nb: '1'\nc: 1.5\nd: yes\ne: ~\nf: true\n").unwrap();
        assert_eq!(n.get("a").unwrap().value, Value::Int(0o755));
        assert_eq!(n.get("b").unwrap().value, Value::String("1".into()));
        assert_eq!(n.get("c").unwrap().value, Value::Float(1.5));
        assert_eq!(n.get("d").unwrap().value, Value::String("yes".into()));
        assert!(n.get("e").unwrap().is_null());
        assert_eq!(n.get("f").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse_yaml("services:\n  web:\n    image: a\n   bad: [\n").unwrap_err();
        assert!(e.line >= 3, "{e:?}");
        assert!(e.to_string().starts_with("yaml: line "));
    }
}
