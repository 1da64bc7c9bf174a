//! The differential harness's comparator: what a response looks like to a client (status, content
//! type, framing, JSON shape) and the differences between dockerd's and berth's, minus the ones
//! docs/api.md lists as deliberate.
//!
//! JSON is compared by shape, not by value: field names, presence (null and missing differ: docker-py
//! and Compose read them differently) and type (null, bool, number, string, array, object), nested.
//! Arrays are compared by the merged shape of their elements; objects the API uses as maps (the
//! swagger's `additionalProperties`, or keyed by ids) by the merged shape of their values. A field
//! berth has and dockerd 20.10 (API 1.41) has not is expected when the swagger added it after
//! 1.41; one dockerd has and berth has not is expected when the swagger of the requested version
//! dropped it (tests/fixtures/api-fields.json, from moby's docs/api/v1.41..v1.47.yaml).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::http::Response;

/// How a body is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    Empty,
    /// One JSON document.
    Json,
    /// Several JSON documents one after another (progress, events, stats).
    JsonStream,
    /// docker's stdcopy multiplexing (8-byte headers, stream 1 or 2).
    Stdcopy,
    /// Raw bytes of a TTY or of a hijacked stream that is not multiplexed.
    Raw,
    Tar,
    Text,
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Framing::Empty => "empty",
            Framing::Json => "one JSON document",
            Framing::JsonStream => "a stream of JSON messages",
            Framing::Stdcopy => "stdcopy-multiplexed stream",
            Framing::Raw => "raw stream",
            Framing::Tar => "tar archive",
            Framing::Text => "plain text",
        };
        f.write_str(s)
    }
}

/// What a step expects its body to be, so raw output is not mistaken for JSON or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON, a JSON stream, text or nothing: whatever it parses as.
    Auto,
    /// A container's output: stdcopy or raw.
    Output,
    /// A tar archive.
    Tar,
    /// JSON messages, however many (progress, events).
    JsonStream,
}

/// A response as the comparator sees it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub content_type: Option<String>,
    pub framing: Framing,
    /// The JSON documents of the body (one for `Json`, each message for `JsonStream`).
    pub docs: Vec<Value>,
    /// Demultiplexed output per stream (0 raw, 1 stdout, 2 stderr), for output bodies.
    pub output: BTreeMap<u8, Vec<u8>>,
    /// The names in a tar body.
    pub tar_names: Vec<String>,
    /// JSON carried in a header (`X-Docker-Container-Path-Stat`).
    pub header_doc: Option<Value>,
}

impl Observed {
    pub fn from_response(r: &Response, kind: BodyKind) -> Self {
        let content_type = r
            .header("content-type")
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_string());
        let mut o = Observed {
            status: r.status,
            content_type,
            framing: Framing::Empty,
            docs: Vec::new(),
            output: BTreeMap::new(),
            tar_names: Vec::new(),
            header_doc: r.header("x-docker-container-path-stat").and_then(|h| {
                use base64_decode as b64;
                b64(h).and_then(|raw| serde_json::from_slice(&raw).ok())
            }),
        };
        let body = &r.body[..];
        if body.is_empty() {
            return o;
        }
        match kind {
            BodyKind::Output if r.status < 400 => {
                if let Some(frames) = demux(body) {
                    o.framing = Framing::Stdcopy;
                    o.output = frames;
                } else {
                    o.framing = Framing::Raw;
                    o.output.insert(0, body.to_vec());
                }
            }
            BodyKind::Tar if r.status < 400 => {
                let mut archive = tar::Archive::new(body);
                match archive.entries() {
                    Ok(entries) => {
                        o.framing = Framing::Tar;
                        for e in entries {
                            match e
                                .ok()
                                .and_then(|e| e.path().ok().map(|p| p.display().to_string()))
                            {
                                Some(name) => o.tar_names.push(name),
                                None => break,
                            }
                        }
                    }
                    Err(_) => o.framing = Framing::Raw,
                }
            }
            _ => {
                let text = String::from_utf8_lossy(body);
                let docs: Vec<Result<Value, _>> = serde_json::Deserializer::from_str(&text)
                    .into_iter::<Value>()
                    .collect();
                if !docs.is_empty() && docs.iter().all(|d| d.is_ok()) {
                    o.docs = docs.into_iter().flatten().collect();
                    o.framing = if o.docs.len() == 1 && kind != BodyKind::JsonStream {
                        Framing::Json
                    } else {
                        Framing::JsonStream
                    };
                } else {
                    o.framing = Framing::Text;
                }
            }
        }
        o
    }
}

/// stdcopy frames, when the whole body is exactly a sequence of them.
pub fn demux(mut body: &[u8]) -> Option<BTreeMap<u8, Vec<u8>>> {
    let mut out: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    while !body.is_empty() {
        if body.len() < 8 || !matches!(body[0], 0..=2) || body[1..4] != [0, 0, 0] {
            return None;
        }
        let len = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
        let payload = body.get(8..8 + len)?;
        out.entry(body[0]).or_default().extend_from_slice(payload);
        body = &body[8 + len..];
    }
    Some(out)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        if c == b'=' {
            break;
        }
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The swagger's per-version field changes (tests/fixtures/api-fields.json).
#[derive(Debug, Default)]
pub struct FieldVersions {
    /// endpoint -> path -> version it appeared in.
    added: BTreeMap<String, BTreeMap<String, String>>,
    /// endpoint -> path -> version it went away in.
    removed: BTreeMap<String, BTreeMap<String, String>>,
    /// endpoint -> paths that are maps (keys are data).
    maps: BTreeMap<String, BTreeSet<String>>,
}

impl FieldVersions {
    pub fn parse(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("api-fields.json: {e}"))?;
        let mut me = Self::default();
        let endpoints = v["endpoints"]
            .as_object()
            .ok_or("api-fields.json: no endpoints")?;
        for (ep, t) in endpoints {
            let table = |key: &str| -> BTreeMap<String, String> {
                t[key]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(p, v)| (p.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            me.added.insert(ep.clone(), table("added"));
            me.removed.insert(ep.clone(), table("removed"));
            let maps = t["maps"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            me.maps.insert(ep.clone(), maps);
        }
        Ok(me)
    }

    pub fn added_in(&self, endpoint: &str, path: &str) -> Option<&str> {
        self.added.get(endpoint)?.get(path).map(String::as_str)
    }

    pub fn removed_in(&self, endpoint: &str, path: &str) -> Option<&str> {
        self.removed.get(endpoint)?.get(path).map(String::as_str)
    }

    fn is_map(&self, endpoint: &str, path: &str) -> bool {
        self.maps.get(endpoint).is_some_and(|m| m.contains(path))
    }
}

/// `1.44` -> (1, 44), for comparing versions.
pub fn version_key(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diff {
    /// `GET /containers/{id}/json`
    pub endpoint: String,
    /// A JSON path (`NetworkSettings.Networks{}.Aliases`), or `(status)`, `(content-type)`,
    /// `(framing)`, `(stream)`, `(message kind)`, `(tar)`, `(header)`.
    pub path: String,
    pub dockerd: String,
    pub berth: String,
    /// The API version berth was asked at.
    pub version: String,
    /// The scenario step.
    pub step: String,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}  [v{} step {}]\n      dockerd: {}\n      berth:   {}",
            self.endpoint, self.path, self.version, self.step, self.dockerd, self.berth
        )
    }
}

/// The context of one comparison.
pub struct Ctx<'a> {
    pub endpoint: &'a str,
    pub step: &'a str,
    /// The version berth was asked at (dockerd always at 1.41).
    pub version: &'a str,
    pub fields: &'a FieldVersions,
    /// Compare these demultiplexed outputs byte for byte.
    pub compare_output: bool,
    /// Compare the names in tar bodies.
    pub compare_tar_names: bool,
}

impl Ctx<'_> {
    fn diff(&self, path: &str, dockerd: String, berth: String) -> Diff {
        Diff {
            endpoint: self.endpoint.to_string(),
            path: path.to_string(),
            dockerd,
            berth,
            version: self.version.to_string(),
            step: self.step.to_string(),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value for the report: its type, with the value itself only when it is short and not an id
/// or a time (so one difference seen at several versions stays one line).
fn describe(v: &Value) -> String {
    match v {
        Value::Array(a) if a.is_empty() => "empty array".into(),
        Value::Object(o) if o.is_empty() => "empty object".into(),
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(_) => "number".into(),
        Value::String(s) if s.len() <= 24 && !looks_like_id(s) && !s.contains(':') => {
            format!("string {s:?}")
        }
        Value::String(_) => "string".into(),
        Value::Array(a) => {
            let types: BTreeSet<&str> = a.iter().map(type_name).collect();
            format!(
                "array of {}",
                types.into_iter().collect::<Vec<_>>().join("|")
            )
        }
        Value::Object(o) => {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
            let more = if o.len() > 8 { ",..." } else { "" };
            format!("object {{{}{more}}}", keys.join(","))
        }
    }
}

/// An error message with ids and addresses blurred, for the report.
pub fn blur(msg: &str) -> String {
    msg.split(' ')
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if core.len() >= 12 && looks_like_id(core) {
                w.replace(core, "<id>")
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn looks_like_id(k: &str) -> bool {
    k.len() >= 12 && k.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares two responses to the same request; dockerd's first.
pub fn compare(ctx: &Ctx, d: &Observed, b: &Observed) -> Vec<Diff> {
    let mut out = Vec::new();
    if d.status != b.status {
        let show = |o: &Observed| {
            let msg = o
                .docs
                .first()
                .and_then(|v| v["message"].as_str())
                .map(|m| format!(": {}", blur(m)))
                .unwrap_or_default();
            format!("{}{msg}", o.status)
        };
        out.push(ctx.diff("(status)", show(d), show(b)));
        return out;
    }
    // API 1.42 gave stdcopy streams their own type; dockerd 20.10 (1.41) cannot send it.
    let multiplexed_ok = version_key(ctx.version) >= (1, 42)
        && b.framing == Framing::Stdcopy
        && d.content_type.as_deref() == Some("application/vnd.docker.raw-stream")
        && b.content_type.as_deref() == Some("application/vnd.docker.multiplexed-stream");
    if d.content_type != b.content_type
        && !multiplexed_ok
        && !(d.framing == Framing::Empty && b.framing == Framing::Empty)
    {
        out.push(ctx.diff(
            "(content-type)",
            format!("{:?}", d.content_type),
            format!("{:?}", b.content_type),
        ));
    }
    if d.framing != b.framing {
        out.push(ctx.diff("(framing)", d.framing.to_string(), b.framing.to_string()));
        return out;
    }
    match d.framing {
        Framing::Json => shape(ctx, "", &d.docs[0], &b.docs[0], &mut out),
        Framing::JsonStream => stream_kinds(ctx, &d.docs, &b.docs, &mut out),
        Framing::Stdcopy | Framing::Raw if ctx.compare_output && d.output != b.output => {
            let show = |o: &BTreeMap<u8, Vec<u8>>| {
                o.iter()
                    .map(|(s, v)| format!("{s}:{:?}", String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push(ctx.diff("(output)", show(&d.output), show(&b.output)));
        }
        Framing::Tar if ctx.compare_tar_names => {
            let dn: BTreeSet<_> = d
                .tar_names
                .iter()
                .map(|n| n.trim_end_matches('/'))
                .collect();
            let bn: BTreeSet<_> = b
                .tar_names
                .iter()
                .map(|n| n.trim_end_matches('/'))
                .collect();
            if dn != bn {
                out.push(ctx.diff("(tar)", format!("{dn:?}"), format!("{bn:?}")));
            }
        }
        _ => {}
    }
    match (&d.header_doc, &b.header_doc) {
        (Some(x), Some(y)) => shape(ctx, "(header)", x, y, &mut out),
        (None, None) => {}
        (x, y) => out.push(ctx.diff(
            "(header X-Docker-Container-Path-Stat)",
            format!("{:?}", x.is_some()),
            format!("{:?}", y.is_some()),
        )),
    }
    out
}

/// A JSON stream message's kind: for events their Type and Action, else its top-level keys.
fn kind(v: &Value) -> String {
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if let (Some(t), Some(a)) = (v["Type"].as_str(), v["Action"].as_str()) {
        let action = a.split(':').next().unwrap_or_default();
        return format!("event {t} {action}");
    }
    keys.join(",")
}

fn stream_kinds(ctx: &Ctx, d: &[Value], b: &[Value], out: &mut Vec<Diff>) {
    let group = |docs: &[Value]| {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        for doc in docs {
            let k = kind(doc);
            let merged = match m.remove(&k) {
                Some(prev) => merge(&prev, doc),
                None => doc.clone(),
            };
            m.insert(k, merged);
        }
        m
    };
    let (dg, bg) = (group(d), group(b));
    for (k, dv) in &dg {
        match bg.get(k) {
            Some(bv) => shape(ctx, &format!("[{k}]"), dv, bv, out),
            None => out.push(ctx.diff("(message kind)", format!("has {{{k}}}"), "none".into())),
        }
    }
    for k in bg.keys().filter(|k| !dg.contains_key(*k)) {
        out.push(ctx.diff("(message kind)", "none".into(), format!("has {{{k}}}")));
    }
}

/// The merged shape of two values of one array or map: objects get the union of their fields
/// (a field's value from the first that has it, merged further when both have it).
fn merge(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut m = x.clone();
            for (k, v) in y {
                let merged = match m.get(k) {
                    Some(prev) => merge(prev, v),
                    None => v.clone(),
                };
                m.insert(k.clone(), merged);
            }
            Value::Object(m)
        }
        (Value::Array(x), Value::Array(y)) => {
            let mut all = x.clone();
            all.extend(y.iter().cloned());
            Value::Array(all)
        }
        (Value::Null, other) | (other, Value::Null) => other.clone(),
        _ => a.clone(),
    }
}

fn merged_elements<'a>(items: impl Iterator<Item = &'a Value>) -> Option<Value> {
    items.fold(None, |acc, v| {
        Some(acc.map_or_else(|| v.clone(), |a| merge(&a, v)))
    })
}

/// Compares shapes at `path` (dockerd's value first).
pub fn shape(ctx: &Ctx, path: &str, d: &Value, b: &Value, out: &mut Vec<Diff>) {
    // A stream message's fields are looked up without the `[kind]` that names its kind.
    let lookup = |p: &str| -> String {
        match p.strip_prefix('[') {
            Some(rest) if !p.starts_with("[]") => rest
                .split_once(']')
                .map(|(_, r)| r.trim_start_matches('.').to_string())
                .unwrap_or_default(),
            _ => p.to_string(),
        }
    };
    match (d, b) {
        (Value::Object(x), Value::Object(y)) => {
            let is_map = ctx.fields.is_map(ctx.endpoint, &lookup(path))
                || (!x.is_empty() && x.keys().all(|k| looks_like_id(k)))
                || (!y.is_empty() && y.keys().all(|k| looks_like_id(k)));
            if is_map {
                let child = format!("{path}{{}}");
                match (merged_elements(x.values()), merged_elements(y.values())) {
                    (Some(dv), Some(bv)) => shape(ctx, &child, &dv, &bv, out),
                    (None, None) => {}
                    _ => out.push(ctx.diff(path, describe(d), describe(b))),
                }
                return;
            }
            for (k, dv) in x {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match y.get(k) {
                    Some(bv) => shape(ctx, &child, dv, bv, out),
                    None => {
                        let dropped = ctx
                            .fields
                            .removed_in(ctx.endpoint, &lookup(&child))
                            .is_some_and(|v| version_key(v) <= version_key(ctx.version));
                        if !dropped {
                            out.push(ctx.diff(&child, describe(dv), "missing".into()));
                        }
                    }
                }
            }
            for (k, bv) in y {
                if x.contains_key(k) {
                    continue;
                }
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if ctx.fields.added_in(ctx.endpoint, &lookup(&child)).is_none() {
                    out.push(ctx.diff(&child, "missing".into(), describe(bv)));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            let child = format!("{path}[]");
            match (merged_elements(x.iter()), merged_elements(y.iter())) {
                (Some(dv), Some(bv)) => shape(ctx, &child, &dv, &bv, out),
                (None, None) => {}
                _ => out.push(ctx.diff(path, describe(d), describe(b))),
            }
        }
        // Integers and floats are both JSON numbers to clients.
        _ if type_name(d) == type_name(b) => {}
        _ => out.push(ctx.diff(path, describe(d), describe(b))),
    }
}

/// A deliberate difference from docs/api.md's "Deliberate differences" table.
#[derive(Debug, Clone)]
pub struct Listed {
    /// `GET /containers/{id}/json`, or `*`.
    pub endpoint: String,
    /// A path; `*` at the end matches any suffix.
    pub path: String,
    /// The scenario step, or `*`.
    pub step: String,
    pub reason: String,
}

impl Listed {
    pub fn matches(&self, d: &Diff) -> bool {
        let ep = self.endpoint == "*" || self.endpoint == d.endpoint;
        let path = match self.path.strip_suffix('*') {
            Some(prefix) => d.path.starts_with(prefix),
            None => self.path == d.path,
        };
        let step = self.step == "*" || d.step.split(',').any(|s| s == self.step);
        ep && path && step
    }
}

/// The rows of the table under the heading `## Deliberate differences` in docs/api.md:
/// `| `endpoint` | `path` | `step` | reason |`. A row without a reason is an error.
pub fn parse_listed(api_md: &str) -> Result<Vec<Listed>, String> {
    let mut in_section = false;
    let mut out = Vec::new();
    for line in api_md.lines() {
        if line.starts_with("## ") {
            in_section = line.trim() == "## Deliberate differences";
            continue;
        }
        if !in_section || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells[0] == "Endpoint" || cells[0].starts_with("---") {
            continue;
        }
        let reason = cells.get(3..).map(|r| r.join("|")).unwrap_or_default();
        if cells.len() < 4 || reason.trim().is_empty() {
            return Err(format!(
                "docs/api.md: deliberate difference without a reason: {line}"
            ));
        }
        let unquote = |s: &str| s.trim_matches('`').replace("\\|", "|");
        out.push(Listed {
            endpoint: unquote(cells[0]),
            path: unquote(cells[1]),
            step: unquote(cells[2]),
            reason: reason.trim().to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> FieldVersions {
        FieldVersions::parse(
            r#"{"endpoints":{"GET /x":{"added":{"New":"1.44"},"removed":{"Old":"1.45"},"maps":["Labels"]}}}"#,
        )
        .expect("parses")
    }

    fn diffs(version: &str, d: Value, b: Value) -> Vec<String> {
        let f = fields();
        let ctx = Ctx {
            endpoint: "GET /x",
            step: "s",
            version,
            fields: &f,
            compare_output: true,
            compare_tar_names: true,
        };
        let mut out = Vec::new();
        shape(&ctx, "", &d, &b, &mut out);
        out.into_iter()
            .map(|d| format!("{} {} / {}", d.path, d.dockerd, d.berth))
            .collect()
    }

    #[test]
    fn missing_extra_and_null_fields_differ() {
        let got = diffs(
            "1.41",
            json!({"A": 1, "B": null, "C": {"D": "x"}}),
            json!({"B": [], "C": {"D": 2, "E": true}}),
        );
        assert_eq!(
            got,
            vec![
                "A number / missing",
                "B null / empty array",
                "C.D string \"x\" / number",
                "C.E missing / bool true"
            ]
        );
    }

    #[test]
    fn swagger_versions_excuse_added_and_removed_fields() {
        assert!(diffs("1.41", json!({}), json!({"New": 1})).is_empty());
        assert_eq!(
            diffs("1.44", json!({"Old": 1}), json!({})),
            vec!["Old number / missing"]
        );
        assert!(diffs("1.45", json!({"Old": 1}), json!({})).is_empty());
    }

    #[test]
    fn arrays_and_maps_compare_by_element_shape() {
        assert!(diffs(
            "1.41",
            json!({"L": [{"a": 1}, {"b": 2}], "Labels": {"x": "1"}}),
            json!({"L": [{"b": 3, "a": 4}], "Labels": {"y": "2", "z": "3"}})
        )
        .is_empty());
        assert_eq!(
            diffs("1.41", json!({"L": [{"a": 1}]}), json!({"L": [{"a": "1"}]})),
            vec!["L[].a number / string \"1\""]
        );
        let id = "a".repeat(64);
        let other = "b".repeat(64);
        assert_eq!(
            diffs(
                "1.41",
                json!({ "C": {id: {"Name": "x"}} }),
                json!({ "C": {other: {}} })
            ),
            vec!["C{}.Name string \"x\" / missing"]
        );
        assert_eq!(
            diffs("1.41", json!({"L": []}), json!({"L": [1]})),
            vec!["L empty array / array of number"]
        );
    }

    #[test]
    fn framing_and_streams_are_classified() {
        let resp = |ct: &str, body: &[u8]| Response {
            status: 200,
            headers: vec![("content-type".into(), ct.into())],
            body: body.to_vec(),
        };
        let mux = b"\x01\0\0\0\0\0\0\x04out\n\x02\0\0\0\0\0\0\x04err\n";
        let o = Observed::from_response(
            &resp("application/vnd.docker.raw-stream", mux),
            BodyKind::Output,
        );
        assert_eq!(o.framing, Framing::Stdcopy);
        assert_eq!(o.output.get(&2).map(Vec::as_slice), Some(&b"err\n"[..]));
        let raw = Observed::from_response(
            &resp("application/vnd.docker.raw-stream", b"out\r\n"),
            BodyKind::Output,
        );
        assert_eq!(raw.framing, Framing::Raw);
        let f = fields();
        let ctx = Ctx {
            endpoint: "POST /exec/{id}/start",
            step: "s",
            version: "1.41",
            fields: &f,
            compare_output: true,
            compare_tar_names: false,
        };
        let got = compare(&ctx, &o, &raw);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, "(framing)");
        let stream = Observed::from_response(
            &resp(
                "application/json",
                b"{\"status\":\"a\"}\r\n{\"status\":\"b\",\"id\":\"x\"}\r\n",
            ),
            BodyKind::Auto,
        );
        assert_eq!(stream.framing, Framing::JsonStream);
        let fewer = Observed::from_response(
            &resp(
                "application/json",
                b"{\"status\":\"a\"}\n{\"status\":\"c\"}\n",
            ),
            BodyKind::Auto,
        );
        let got = compare(&ctx, &stream, &fewer);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].dockerd, "has {id,status}");
    }

    #[test]
    fn statuses_are_compared_first() {
        let f = fields();
        let ctx = Ctx {
            endpoint: "GET /x",
            step: "s",
            version: "1.41",
            fields: &f,
            compare_output: false,
            compare_tar_names: false,
        };
        let r = |status| Response {
            status,
            headers: vec![],
            body: b"{\"message\":\"no\"}".to_vec(),
        };
        let got = compare(
            &ctx,
            &Observed::from_response(&r(404), BodyKind::Auto),
            &Observed::from_response(&r(500), BodyKind::Auto),
        );
        assert_eq!(got[0].dockerd, "404: no");
        assert_eq!(got[0].berth, "500: no");
    }

    #[test]
    fn listed_differences_need_a_reason() {
        let md = "# x\n## Deliberate differences\n\n| Endpoint | Path | Step | Reason |\n| --- | --- | --- | --- |\n| `GET /info` | `Runtimes*` | `*` | berth's runtimes |\n| `*` | `(status)` | `*` | |\n";
        assert!(parse_listed(md).is_err());
        let ok = parse_listed(&md.replace("| `*` | `(status)` | `*` | |\n", "")).expect("parses");
        assert_eq!(ok.len(), 1);
        let d = Diff {
            endpoint: "GET /info".into(),
            path: "Runtimes{}.path".into(),
            dockerd: String::new(),
            berth: String::new(),
            version: "1.41".into(),
            step: "info".into(),
        };
        assert!(ok[0].matches(&d));
        let one_step = Listed {
            step: "other".into(),
            ..ok[0].clone()
        };
        assert!(!one_step.matches(&d));
    }
}
