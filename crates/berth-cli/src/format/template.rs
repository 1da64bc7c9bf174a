//! `--format` Go templates over JSON, with the docker CLI's functions and printing rules.

use std::collections::{BTreeMap, HashMap};

use gtmpl::{Context, Func, FuncError, Template, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: {0}")]
    Exec(String),
}

/// A parsed `--format` template.
pub struct FormatTemplate {
    template: Template,
    /// `table` directive given: rows are tab-aligned and a header row is printed.
    pub table: bool,
}

/// The `--format` value as docker expands its shorthands: `table`, `json`, `table TEMPLATE`.
pub struct Expanded {
    pub text: String,
    pub table: bool,
}

/// Expands `json` to `{{json .}}` and strips the `table` directive.
pub fn expand(format: &str, default_table: &str) -> Expanded {
    let f = format.trim_start();
    if f == "json" {
        return Expanded {
            text: "{{json .}}".into(),
            table: false,
        };
    }
    if f == "table" {
        return Expanded {
            text: default_table.into(),
            table: true,
        };
    }
    if let Some(rest) = f.strip_prefix("table ") {
        return Expanded {
            text: rest.into(),
            table: true,
        };
    }
    Expanded {
        text: format.into(),
        table: false,
    }
}

impl FormatTemplate {
    pub fn parse(text: &str, table: bool) -> Result<Self, TemplateError> {
        let mut template = Template::default();
        let funcs: Vec<(&str, Func)> = vec![
            ("json", json as Func),
            ("join", join),
            ("split", split),
            ("lower", lower),
            ("upper", upper),
            ("title", title),
            ("truncate", truncate),
            ("pad", pad),
            ("println", println),
            ("goprint", goprint),
            ("rangeable", rangeable),
        ];
        template.add_funcs(&funcs);
        let unescaped = unescape_tabs(text);
        template
            .parse(wrap_print_actions(&unescaped))
            .map_err(|e| TemplateError::Parse(e.to_string()))?;
        Ok(Self { template, table })
    }

    /// Renders over a JSON value.
    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.template
            .render(&Context::from(to_gtmpl(data)))
            .map_err(|e| TemplateError::Exec(e.to_string()))
    }
}

/// docker lets `\t` and `\n` be typed literally in `--format`.
fn unescape_tabs(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// A hidden key marking a list row (ps, images, history): `{{json .}}` escapes it like Go's
/// json.Marshal does for docker's formatter contexts.
pub const ROW_MARKER: &str = "\u{1}row";

/// JSON -> template value. Objects become maps so a missing key prints `<no value>` as in Go.
pub fn to_gtmpl(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        serde_json::Value::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// Template value -> JSON, keys sorted like Go's encoding of maps.
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                n.as_f64()
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Map(m) | Value::Object(m) => {
            let sorted: BTreeMap<&String, serde_json::Value> = m
                .iter()
                .filter(|(k, _)| k.as_str() != ROW_MARKER)
                .map(|(k, v)| (k, to_json(v)))
                .collect();
            serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
    }
}

/// Go's `%v` of a value: `[a b]`, `map[k:v]`, `<nil>`, `<no value>`.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) => go_float(f),
            None => n.to_string(),
        },
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Map(m) | Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> =
                m.iter().filter(|(k, _)| k.as_str() != ROW_MARKER).collect();
            let parts: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Function(_) => "<func>".into(),
    }
}

/// Go's `%v` for float64: shortest repr, exponent when the exponent is < -4 or >= 21.
fn go_float(f: f64) -> String {
    if f == f.trunc() && f.abs() < 1e21 {
        return format!("{f:.0}");
    }
    let s = format!("{f}");
    if f.abs() >= 1e21 || (f != 0.0 && f.abs() < 1e-4) {
        let e = format!("{f:e}");
        if let Some((m, exp)) = e.split_once('e') {
            let exp: i32 = exp.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            return format!("{m}e{sign}{:02}", exp.abs());
        }
    }
    s
}

fn arg_str(args: &[Value], i: usize) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Ok(go_print(v)),
        None => Err(FuncError::UnableToConvertFromValue),
    }
}

fn arg_int(args: &[Value], i: usize) -> Result<i64, FuncError> {
    match args.get(i) {
        Some(Value::Number(n)) => n.as_i64().ok_or(FuncError::UnableToConvertFromValue),
        Some(Value::String(s)) => s.parse().map_err(|_| FuncError::UnableToConvertFromValue),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn exactly(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::ExactlyXArgs(name.into(), n));
    }
    Ok(())
}

fn goprint(args: &[Value]) -> Result<Value, FuncError> {
    exactly("goprint", args, 1)?;
    Ok(Value::String(go_print(&args[0])))
}

/// Go ranges over nil as over nothing; gtmpl refuses, so `range` pipelines end in this.
fn rangeable(args: &[Value]) -> Result<Value, FuncError> {
    exactly("rangeable", args, 1)?;
    Ok(match &args[0] {
        Value::Nil | Value::NoValue => Value::Array(Vec::new()),
        other => other.clone(),
    })
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    exactly("json", args, 1)?;
    let text =
        serde_json::to_string(&to_json(&args[0])).map_err(|e| FuncError::Generic(e.to_string()))?;
    // docker's list rows marshal themselves with json.Marshal (HTML-escaped); everything else
    // goes through an encoder with escaping off
    let is_row = matches!(&args[0], Value::Map(m) if m.contains_key(ROW_MARKER));
    Ok(Value::String(if is_row {
        escape_html(&text)
    } else {
        text
    }))
}

/// Go's json.Marshal escapes <, > and & (inside strings, the only place they can occur).
fn escape_html(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    exactly("join", args, 2)?;
    let sep = arg_str(args, 1)?;
    match &args[0] {
        Value::Array(a) => Ok(Value::String(
            a.iter().map(go_print).collect::<Vec<_>>().join(&sep),
        )),
        Value::Nil => Ok(Value::String(String::new())),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    exactly("split", args, 2)?;
    let (s, sep) = (arg_str(args, 0)?, arg_str(args, 1)?);
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    exactly("lower", args, 1)?;
    Ok(Value::String(arg_str(args, 0)?.to_lowercase()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    exactly("upper", args, 1)?;
    Ok(Value::String(arg_str(args, 0)?.to_uppercase()))
}

/// strings.Title: upper-cases the first letter of each word.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    exactly("title", args, 1)?;
    let s = arg_str(args, 0)?;
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    Ok(Value::String(out))
}

/// Keeps the first `n` bytes, as docker's truncateWithLength does.
fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    exactly("truncate", args, 2)?;
    let s = arg_str(args, 0)?;
    let n = arg_int(args, 1)?.max(0) as usize;
    if s.len() < n {
        return Ok(Value::String(s));
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::String(s[..end].to_string()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    exactly("pad", args, 3)?;
    let s = arg_str(args, 0)?;
    let (pre, suf) = (
        arg_int(args, 1)?.max(0) as usize,
        arg_int(args, 2)?.max(0) as usize,
    );
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(pre),
        " ".repeat(suf)
    )))
}

/// fmt.Sprintln: operands separated by spaces, newline at the end.
fn println(args: &[Value]) -> Result<Value, FuncError> {
    let parts: Vec<String> = args.iter().map(go_print).collect();
    Ok(Value::String(format!("{}\n", parts.join(" "))))
}

const KEYWORDS: [&str; 10] = [
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// Appends `| goprint` to every action that prints its value, so values print the way Go
/// prints them (`[a b]`, `map[k:v]`, `<nil>`) instead of gtmpl's Debug forms.
pub fn wrap_print_actions(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = find_action_end(after) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        out.push_str("{{");
        out.push_str(&rewrite_action(inner));
        out.push_str("}}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The offset of the `}}` closing an action, skipping string and char literals.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn rewrite_action(inner: &str) -> String {
    let (lead, body, trail) = split_trim_markers(inner);
    let t = body.trim();
    let first_word = t
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let is_print = !t.is_empty()
        && !t.starts_with("/*")
        && !KEYWORDS.contains(&first_word)
        && !declares_variable(t);
    if is_print {
        format!("{lead}{body} | goprint{trail}")
    } else if first_word == "range" {
        format!("{lead}{body} | rangeable{trail}")
    } else {
        inner.to_string()
    }
}

/// Splits `- body -` trim markers off an action's text.
fn split_trim_markers(inner: &str) -> (&str, &str, &str) {
    let lead_len = if inner.starts_with("- ") { 2 } else { 0 };
    let trail_len = if inner.len() >= lead_len + 2 && inner.ends_with(" -") {
        2
    } else {
        0
    };
    let body_end = inner.len() - trail_len;
    (
        &inner[..lead_len],
        &inner[lead_len..body_end],
        &inner[body_end..],
    )
}

fn declares_variable(t: &str) -> bool {
    t.starts_with('$') && (t.contains(":=") || t.split_whitespace().nth(1) == Some("="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(tmpl: &str, data: serde_json::Value) -> String {
        FormatTemplate::parse(tmpl, false)
            .unwrap()
            .render(&data)
            .unwrap()
    }

    #[test]
    fn fields_and_nesting() {
        let d = json!({"ID": "abc", "State": {"Status": "running", "Pid": 42}});
        assert_eq!(
            render("{{.ID}} {{.State.Status}} {{.State.Pid}}", d),
            "abc running 42"
        );
    }

    #[test]
    fn go_printing_of_collections() {
        let d = json!({"Cmd": ["sh", "-c"], "Labels": {"b": "2", "a": "1"}, "N": null});
        assert_eq!(
            render("{{.Cmd}}|{{.Labels}}|{{.N}}|{{.Missing}}", d),
            "[sh -c]|map[a:1 b:2]|<nil>|<no value>"
        );
    }

    #[test]
    fn json_function_sorts_keys() {
        let d = json!({"b": 1, "a": [true, null], "c": "x<y"});
        assert_eq!(
            render("{{json .}}", d.clone()),
            r#"{"a":[true,null],"b":1,"c":"x<y"}"#
        );
        let mut row = d;
        row[ROW_MARKER] = json!(true);
        assert_eq!(
            render("{{json .}}|{{json .c}}", row),
            r#"{"a":[true,null],"b":1,"c":"x\u003cy"}|"x<y""#
        );
    }

    #[test]
    fn string_functions() {
        let d = json!({"S": "Hello world", "L": ["a", "b"]});
        assert_eq!(render("{{lower .S}}", d.clone()), "hello world");
        assert_eq!(render("{{upper .S}}", d.clone()), "HELLO WORLD");
        assert_eq!(
            render("{{title \"hello there\"}}", d.clone()),
            "Hello There"
        );
        assert_eq!(render("{{truncate .S 5}}", d.clone()), "Hello");
        assert_eq!(render("{{pad .S 1 2}}", d.clone()), " Hello world  ");
        assert_eq!(render("{{join .L \",\"}}", d.clone()), "a,b");
        assert_eq!(render("{{index (split .S \" \") 1}}", d.clone()), "world");
        assert_eq!(render("{{println .S}}", d.clone()), "Hello world\n");
        assert_eq!(render("{{.S | upper}}", d), "HELLO WORLD");
    }

    #[test]
    fn control_flow_is_untouched() {
        let d = json!({"L": ["a", "b"], "T": true});
        assert_eq!(render("{{range .L}}<{{.}}>{{end}}", d.clone()), "<a><b>");
        assert_eq!(render("{{if .T}}yes{{else}}no{{end}}", d.clone()), "yes");
        assert_eq!(render("{{$x := index .L 0}}{{$x}}", d.clone()), "a");
        assert_eq!(
            render(
                "{{range .Nothing}}x{{end}}|{{range $i, $e := .L}}{{$i}}{{$e}}{{end}}",
                d
            ),
            "|0a1b"
        );
    }

    #[test]
    fn expands_shorthands() {
        let e = expand("table {{.ID}}\t{{.Names}}", "");
        assert!(e.table);
        assert_eq!(e.text, "{{.ID}}\t{{.Names}}");
        assert_eq!(expand("json", "").text, "{{json .}}");
        assert!(!expand("{{.ID}}", "").table);
        assert_eq!(expand("table", "X").text, "X");
    }

    #[test]
    fn literal_escapes() {
        assert_eq!(render("{{.A}}\\t{{.B}}", json!({"A": 1, "B": 2})), "1\t2");
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(
            FormatTemplate::parse("{{.A", false).is_err()
                || FormatTemplate::parse("{{if}}", false).is_err()
        );
    }

    #[test]
    fn go_floats() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(1e22), "1e+22");
    }
}
