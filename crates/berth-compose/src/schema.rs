//! Validation against the Compose Specification JSON schema (the one Docker Compose 2.40
//! embeds, `compose-spec.json`, Apache-2.0, from github.com/compose-spec/compose-spec), with
//! compose's error wording: `services.web additional properties 'foo' not allowed`,
//! `services.web.restart must be a string`, `... value must be one of 'a', 'b'`.
//!
//! The schema uses a small part of JSON Schema: `type`, `properties`, `patternProperties`,
//! `additionalProperties`, `items`, `oneOf`, `enum`, `required`, `minimum`,
//! `maximum`, `pattern`, `$ref` to `#/definitions/*`; that is what is interpreted here.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as J;

use crate::node::{Node, Value};

const SPEC: &str = include_str!("compose-spec.json");

struct Schema {
    root: J,
    regexes: std::sync::Mutex<std::collections::HashMap<String, Regex>>,
}

fn schema() -> Option<&'static Schema> {
    static S: OnceLock<Option<Schema>> = OnceLock::new();
    S.get_or_init(|| {
        serde_json::from_str(SPEC).ok().map(|root| Schema {
            root,
            regexes: Default::default(),
        })
    })
    .as_ref()
}

/// A validation failure: `path` dotted (sequence indexes as numbers), `message` after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub message: String,
    /// compose's ranking: the instance depth, one more for additional properties.
    pub specificity: usize,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.path, self.message)
    }
}

/// Validates a whole compose file.
pub fn validate(node: &Node) -> Result<(), SchemaError> {
    let Some(s) = schema() else {
        return Ok(());
    };
    let mut path = Vec::new();
    s.check(node, &s.root, &mut path)
}

fn type_matches(t: &str, node: &Node) -> bool {
    match (t, &node.value) {
        ("null", Value::Null) => true,
        ("boolean", Value::Bool(_)) => true,
        ("integer", Value::Int(_)) => true,
        ("integer", Value::Float(f)) => f.fract() == 0.0,
        ("number", Value::Int(_) | Value::Float(_)) => true,
        ("string", Value::String(_)) => true,
        ("array", Value::Seq(_)) => true,
        ("object", Value::Map(_)) => true,
        _ => false,
    }
}

fn human_type(t: &str) -> &str {
    match t {
        "object" => "mapping",
        other => other,
    }
}

fn json_eq(node: &Node, v: &J) -> bool {
    node.to_json() == *v
}

fn fmt_value(v: &J) -> String {
    match v {
        J::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

impl Schema {
    fn resolve<'a>(&'a self, mut s: &'a J) -> &'a J {
        for _ in 0..16 {
            match s.get("$ref").and_then(J::as_str) {
                Some(r) => {
                    let Some(name) = r.strip_prefix("#/definitions/") else {
                        return s;
                    };
                    match self.root.get("definitions").and_then(|d| d.get(name)) {
                        Some(d) => s = d,
                        None => return s,
                    }
                }
                None => return s,
            }
        }
        s
    }

    fn regex_match(&self, pattern: &str, text: &str) -> bool {
        let Ok(mut cache) = self.regexes.lock() else {
            return true;
        };
        if !cache.contains_key(pattern) {
            match Regex::new(pattern) {
                Ok(r) => {
                    cache.insert(pattern.to_string(), r);
                }
                Err(_) => return true,
            }
        }
        cache.get(pattern).is_some_and(|r| r.is_match(text))
    }

    fn err(path: &[String], message: String) -> SchemaError {
        SchemaError {
            path: path.join("."),
            message,
            specificity: path.len(),
        }
    }

    /// Keeps the most specific error (the first one on a tie), as compose-go does.
    fn keep(best: &mut Option<SchemaError>, e: SchemaError) {
        if best.as_ref().is_none_or(|b| e.specificity > b.specificity) {
            *best = Some(e);
        }
    }

    fn check(&self, node: &Node, schema: &J, path: &mut Vec<String>) -> Result<(), SchemaError> {
        let schema = self.resolve(schema);
        if let Some(one_of) = schema.get("oneOf").and_then(J::as_array) {
            return self.check_one_of(node, one_of, schema, path);
        }
        // type
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                J::String(s) => vec![s.as_str()],
                J::Array(a) => a.iter().filter_map(J::as_str).collect(),
                _ => vec![],
            };
            if !types.is_empty() && !types.iter().any(|t| type_matches(t, node)) {
                let mut names: Vec<&str> = types.iter().map(|t| human_type(t)).collect();
                let text = if names.len() == 1 {
                    names[0].to_string()
                } else {
                    names.sort();
                    let last = names.pop().unwrap_or_default();
                    format!("{} or {last}", names.join(", "))
                };
                return Err(Self::err(path, format!("must be a {text}")));
            }
        }
        if let Some(en) = schema.get("enum").and_then(J::as_array) {
            if !en.iter().any(|v| json_eq(node, v)) {
                let list: Vec<String> = en.iter().map(fmt_value).collect();
                return Err(Self::err(
                    path,
                    format!("value must be one of {}", list.join(", ")),
                ));
            }
        }
        match &node.value {
            Value::Map(m) => {
                let props = schema.get("properties").and_then(J::as_object);
                let patterns = schema.get("patternProperties").and_then(J::as_object);
                let additional = schema.get("additionalProperties");
                let mut best: Option<SchemaError> = None;
                let mut unknown = Vec::new();
                for (k, v) in m {
                    let mut matched = false;
                    if let Some(ps) = props.and_then(|p| p.get(k)) {
                        matched = true;
                        path.push(k.clone());
                        let r = self.check(v, ps, path);
                        path.pop();
                        if let Err(e) = r {
                            Self::keep(&mut best, e);
                        }
                    }
                    if let Some(pats) = patterns {
                        for (pat, ps) in pats {
                            if self.regex_match(pat, k) {
                                matched = true;
                                path.push(k.clone());
                                let r = self.check(v, ps, path);
                                path.pop();
                                if let Err(e) = r {
                                    Self::keep(&mut best, e);
                                }
                            }
                        }
                    }
                    if !matched {
                        match additional {
                            Some(J::Bool(false)) => unknown.push(format!("'{k}'")),
                            Some(a @ J::Object(_)) => {
                                path.push(k.clone());
                                let r = self.check(v, a, path);
                                path.pop();
                                if let Err(e) = r {
                                    Self::keep(&mut best, e);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                if !unknown.is_empty() {
                    let mut e = Self::err(
                        path,
                        format!("additional properties {} not allowed", unknown.join(", ")),
                    );
                    e.specificity += 1;
                    Self::keep(&mut best, e);
                }
                if let Some(req) = schema.get("required").and_then(J::as_array) {
                    let missing: Vec<String> = req
                        .iter()
                        .filter_map(J::as_str)
                        .filter(|r| !m.contains_key(*r))
                        .map(|r| format!("'{r}'"))
                        .collect();
                    if !missing.is_empty() {
                        let word = if missing.len() == 1 {
                            "property"
                        } else {
                            "properties"
                        };
                        Self::keep(
                            &mut best,
                            Self::err(path, format!("missing {word} {}", missing.join(", "))),
                        );
                    }
                }
                if let Some(e) = best {
                    return Err(e);
                }
            }
            Value::Seq(items) => {
                if let Some(is) = schema.get("items") {
                    for (i, it) in items.iter().enumerate() {
                        path.push(i.to_string());
                        let r = self.check(it, is, path);
                        path.pop();
                        r?;
                    }
                }
                // uniqueItems is not checked: compose validates after de-duplicating.
            }
            Value::Int(_) | Value::Float(_) => {
                let n = match node.value {
                    Value::Int(i) => i as f64,
                    Value::Float(f) => f,
                    _ => 0.0,
                };
                if let Some(min) = schema.get("minimum").and_then(J::as_f64) {
                    if n < min {
                        return Err(Self::err(
                            path,
                            format!("must be greater than or equal to {min}"),
                        ));
                    }
                }
                if let Some(max) = schema.get("maximum").and_then(J::as_f64) {
                    if n > max {
                        return Err(Self::err(
                            path,
                            format!("must be less than or equal to {max}"),
                        ));
                    }
                }
            }
            Value::String(s) => {
                if let Some(p) = schema.get("pattern").and_then(J::as_str) {
                    if !self.regex_match(p, s) {
                        return Err(Self::err(path, format!("does not match pattern '{p}'")));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_one_of(
        &self,
        node: &Node,
        one_of: &[J],
        parent: &J,
        path: &mut Vec<String>,
    ) -> Result<(), SchemaError> {
        let mut errors = Vec::new();
        for branch in one_of {
            match self.check(node, branch, path) {
                Ok(()) => {
                    // Keywords beside oneOf on the same schema still apply.
                    let mut rest = parent.clone();
                    if let Some(o) = rest.as_object_mut() {
                        o.remove("oneOf");
                    }
                    return self.check(node, &rest, path);
                }
                Err(e) => errors.push((self.resolve(branch), e)),
            }
        }
        // The most specific branch error, the first on a tie (compose-go).
        let mut best: Option<SchemaError> = None;
        for (_, e) in errors {
            Self::keep(&mut best, e);
        }
        match best {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse_yaml;

    fn v(text: &str) -> String {
        match validate(&parse_yaml(text).unwrap()) {
            Ok(()) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_keys_and_types() {
        assert_eq!(v("services:\n  web:\n    image: a\n"), "ok");
        assert_eq!(
            v("services:\n  web:\n    image: a\n    foo: 1\n    bar: 2\n"),
            "services.web additional properties 'foo', 'bar' not allowed"
        );
        assert_eq!(
            v("foo: 1\nservices: {}\n"),
            " additional properties 'foo' not allowed"
        );
        assert_eq!(
            v("services:\n  web:\n    restart: 5\n"),
            "services.web.restart must be a string"
        );
        assert_eq!(
            v("services:\n  web:\n    environment: 5\n"),
            "services.web.environment must be a mapping"
        );
        assert_eq!(
            v("services:\n  web:\n    networks: {front: {aliases: 3}}\n"),
            "services.web.networks.front.aliases must be a array"
        );
        assert_eq!(
            v("services:\n  web:\n    build: {dockerfile: x, foo: 1}\n"),
            "services.web.build additional properties 'foo' not allowed"
        );
    }

    #[test]
    fn enums_and_indexes() {
        assert_eq!(
            v("services:\n  web:\n    depends_on: {db: {condition: bad}}\n"),
            "services.web.depends_on.db.condition value must be one of 'service_started', 'service_healthy', 'service_completed_successfully'"
        );
        assert_eq!(
            v("services:\n  web:\n    volumes: [{type: bogus, target: /x}]\n"),
            "services.web.volumes.0.type value must be one of 'bind', 'volume', 'tmpfs', 'cluster', 'npipe', 'image'"
        );
        assert_eq!(
            v("services:\n  Web!:\n    image: a\n"),
            "services additional properties 'Web!' not allowed"
        );
    }
}
