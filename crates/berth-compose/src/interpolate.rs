//! `${VAR}` substitution as compose-go's `template` package does it.

use std::collections::BTreeMap;

use crate::node::{Node, Value};

/// A substitution failure: the message compose prints after `error while interpolating <path>: `,
/// and for a malformed template, the whole string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String, pub Option<String>);

fn err(msg: String) -> TemplateError {
    TemplateError(msg, None)
}

/// Looks a variable up; `None` when unset.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl Lookup for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}
fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Substitutes every `$VAR`/`${...}` in `s`; `$$` is a literal `$`.
pub fn substitute(s: &str, env: &dyn Lookup) -> Result<String, TemplateError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // Find the matching brace, counting nested `${`.
                let start = i + 2;
                let mut depth = 1;
                let mut j = start;
                while j < chars.len() {
                    if chars[j] == '$' && chars.get(j + 1) == Some(&'{') {
                        depth += 1;
                        j += 2;
                        continue;
                    }
                    if chars[j] == '}' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(TemplateError(
                        format!("Invalid template: {s:?}"),
                        Some(s.to_string()),
                    ));
                }
                let inner: String = chars[start..j].iter().collect();
                out.push_str(&braced(&inner, s, env)?);
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&env.get(&name).unwrap_or_default());
                i = j;
            }
            _ => {
                // A lone `$` (end of string, or before a non-name character) stays as is.
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A variable a template names (`config --variables`, compose-go's `ExtractVariables`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variable {
    pub name: String,
    /// After `:-` or `-`.
    pub default_value: String,
    /// After `:+` or `+`.
    pub presence_value: String,
    /// `:?` or `?`.
    pub required: bool,
}

/// The variables of `s` in order of appearance, the ones nested in a default or alternate value
/// after their outer one; `$$` names none.
pub fn variables(s: &str) -> Vec<Variable> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => i += 2,
            Some('{') => {
                let start = i + 2;
                let mut depth = 1;
                let mut j = start;
                while j < chars.len() {
                    if chars[j] == '$' && chars.get(j + 1) == Some(&'{') {
                        depth += 1;
                        j += 2;
                        continue;
                    }
                    if chars[j] == '}' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return out;
                }
                let inner: String = chars[start..j].iter().collect();
                let name_len = inner
                    .char_indices()
                    .find(|&(idx, c)| {
                        !(if idx == 0 {
                            is_name_start(c)
                        } else {
                            is_name_char(c)
                        })
                    })
                    .map_or(inner.len(), |(idx, _)| idx);
                if name_len > 0 {
                    let mut v = Variable {
                        name: inner[..name_len].to_string(),
                        ..Default::default()
                    };
                    let rest = &inner[name_len..];
                    let arg = [":-", ":?", ":+", "-", "?", "+"]
                        .iter()
                        .find_map(|op| rest.strip_prefix(op).map(|a| (*op, a)));
                    let nested = match arg {
                        Some((":-" | "-", a)) => {
                            v.default_value = a.to_string();
                            a
                        }
                        Some((":+" | "+", a)) => {
                            v.presence_value = a.to_string();
                            a
                        }
                        Some((_, a)) => {
                            v.required = true;
                            a
                        }
                        None => "",
                    };
                    out.push(v);
                    out.extend(variables(nested));
                }
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                out.push(Variable {
                    name: chars[i + 1..j].iter().collect(),
                    ..Default::default()
                });
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// The inside of `${...}`: `NAME`, `NAME:-d`, `NAME-d`, `NAME:?e`, `NAME?e`, `NAME:+a`, `NAME+a`.
fn braced(inner: &str, whole: &str, env: &dyn Lookup) -> Result<String, TemplateError> {
    let invalid = || {
        TemplateError(
            format!("Invalid template: {whole:?}"),
            Some(whole.to_string()),
        )
    };
    let name_len = inner
        .char_indices()
        .find(|&(idx, c)| {
            !(if idx == 0 {
                is_name_start(c)
            } else {
                is_name_char(c)
            })
        })
        .map(|(idx, _)| idx)
        .unwrap_or(inner.len());
    if name_len == 0 {
        return Err(invalid());
    }
    let name = &inner[..name_len];
    let rest = &inner[name_len..];
    let value = env.get(name);
    if rest.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(invalid());
    };
    let set_non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op {
        ":-" => match value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => substitute(arg, env),
        },
        "-" => match value {
            Some(v) => Ok(v),
            None => substitute(arg, env),
        },
        ":+" => {
            if set_non_empty {
                substitute(arg, env)
            } else {
                Ok(String::new())
            }
        }
        "+" => {
            if value.is_some() {
                substitute(arg, env)
            } else {
                Ok(String::new())
            }
        }
        ":?" | "?" => {
            let ok = if op == ":?" {
                set_non_empty
            } else {
                value.is_some()
            };
            if ok {
                Ok(value.unwrap_or_default())
            } else {
                let msg = substitute(arg, env)?;
                Err(err(if msg.is_empty() {
                    format!("required variable {name} is missing a value")
                } else {
                    format!("required variable {name} is missing a value: {msg}")
                }))
            }
        }
        _ => Err(invalid()),
    }
}

/// What a value at some path must be cast to after substitution.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cast {
    Int,
    Float,
    Bool,
}

/// Paths whose interpolated strings compose-go casts (`interpolateTypeCastMapping`). `*` is any
/// map key, `[]` any sequence index.
const CASTS: &[(&str, Cast)] = &[
    ("configs.*.external", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("services.*.build.privileged", Cast::Bool),
    ("services.*.build.pull", Cast::Bool),
    ("services.*.build.no_cache", Cast::Bool),
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.depends_on.*.required", Cast::Bool),
    ("services.*.depends_on.*.restart", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.deploy.resources.limits.pids", Cast::Int),
    ("services.*.develop.watch.[].initial_sync", Cast::Bool),
    ("services.*.env_file.[].required", Cast::Bool),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.use_api_socket", Cast::Bool),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("services.*.volumes.[].bind.create_host_path", Cast::Bool),
    ("services.*.networks.*.priority", Cast::Int),
    ("services.*.networks.*.gw_priority", Cast::Int),
    ("services.*.attach", Cast::Bool),
];

fn matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.len()
        && parts
            .iter()
            .zip(path)
            .all(|(p, s)| *p == "*" && s != "[]" || *p == s.as_str())
}

fn cast_for(path: &[String]) -> Option<Cast> {
    CASTS
        .iter()
        .find(|(p, _)| matches(p, path))
        .map(|(_, c)| *c)
}

/// Interpolates every string value of `node` (not keys), then casts the values at the paths
/// compose casts. `path` names `node` (dotted, `[]` for sequence items).
pub fn interpolate_node(
    node: &mut Node,
    path: &mut Vec<String>,
    env: &dyn Lookup,
) -> Result<(), (String, TemplateError)> {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                path.push(k.clone());
                let r = interpolate_node(v, path, env);
                path.pop();
                r?;
            }
        }
        Value::Seq(items) => {
            for v in items.iter_mut() {
                path.push("[]".to_string());
                let r = interpolate_node(v, path, env);
                path.pop();
                r?;
            }
        }
        Value::String(s) => {
            let out = substitute(s, env).map_err(|e| (path.join("."), e))?;
            *s = out;
        }
        _ => {}
    }
    if let Some(cast) = cast_for(path) {
        if let Value::String(s) = &node.value {
            let s = s.clone();
            let fail = |msg: String| {
                (
                    path.join("."),
                    err(format!("failed to cast to expected type: {msg}")),
                )
            };
            node.value =
                match cast {
                    Cast::Int => Value::Int(s.parse::<i64>().map_err(|_| {
                        fail(format!("strconv.Atoi: parsing {s:?}: invalid syntax"))
                    })?),
                    Cast::Float => Value::Float(s.parse::<f64>().map_err(|_| {
                        fail(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
                    })?),
                    Cast::Bool => Value::Bool(
                        crate::node::parse_bool(&s)
                            .or(match s.as_str() {
                                "1" | "t" | "T" => Some(true),
                                "0" | "f" | "F" => Some(false),
                                _ => None,
                            })
                            .ok_or_else(|| {
                                fail(format!("strconv.ParseBool: parsing {s:?}: invalid syntax"))
                            })?,
                    ),
                };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [("A", "a"), ("EMPTY", ""), ("B", "b")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sub(s: &str) -> Result<String, String> {
        substitute(s, &env()).map_err(|e| e.0)
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(sub("x$A-${B}y").unwrap(), "xa-by");
        assert_eq!(sub("${UNSET}").unwrap(), "");
        assert_eq!(sub("$$A and $$$A").unwrap(), "$A and $a");
        assert_eq!(sub("cost: 5$").unwrap(), "cost: 5$");
    }

    #[test]
    fn defaults() {
        assert_eq!(sub("${UNSET:-d}").unwrap(), "d");
        assert_eq!(sub("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(sub("${EMPTY-d}").unwrap(), "");
        assert_eq!(sub("${UNSET-d}").unwrap(), "d");
        assert_eq!(sub("${A:-d}").unwrap(), "a");
        assert_eq!(sub("${UNSET:-${B:-x}-y}").unwrap(), "b-y");
        assert_eq!(sub("${UNSET:-${NOPE:-deep}}").unwrap(), "deep");
    }

    #[test]
    fn alternatives() {
        assert_eq!(sub("${A:+alt}").unwrap(), "alt");
        assert_eq!(sub("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(sub("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(sub("${UNSET+alt}").unwrap(), "");
    }

    #[test]
    fn required() {
        assert_eq!(
            sub("${UNSET:?need it}").unwrap_err(),
            "required variable UNSET is missing a value: need it"
        );
        assert_eq!(
            sub("${EMPTY:?}").unwrap_err(),
            "required variable EMPTY is missing a value"
        );
        assert_eq!(sub("${EMPTY?boom}").unwrap(), "");
        assert_eq!(
            sub("${UNSET?boom}").unwrap_err(),
            "required variable UNSET is missing a value: boom"
        );
    }

    #[test]
    fn invalid_templates() {
        assert!(sub("${").unwrap_err().starts_with("Invalid template"));
        assert!(sub("${A B}").unwrap_err().starts_with("Invalid template"));
        assert!(sub("${}").unwrap_err().starts_with("Invalid template"));
    }

    #[test]
    fn variables_with_defaults_alternates_requirements_and_nesting() {
        let v = variables("a $A ${B:-b} ${C?no c} $$D ${E:+e} ${F:-${G-g}} ${H}");
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C", "E", "F", "G", "H"]);
        assert_eq!(v[1].default_value, "b");
        assert!(v[2].required);
        assert_eq!(v[3].presence_value, "e");
        assert_eq!(v[4].default_value, "${G-g}");
        assert_eq!(v[5].default_value, "g");
        assert!(variables("$$HOME and ${unterminated").is_empty());
    }
}
