//! Go's `encoding/json` rules applied to berth's answers.
//!
//! berth renders responses from serde models whose unset fields are skipped (the bollard
//! models skip every `None`), while dockerd writes Go structs: every field without `omitempty`
//! is sent, with its zero value when unset (`null` for a nil slice, map or pointer, `""`, `0`,
//! `false`, a struct's own fields), and an `omitempty` field is left out when empty. [`encode`]
//! rewrites a serialized answer the way Go would have written the Go type dockerd uses for it,
//! from `go-types.json`: moby's `api/types` (v27.3.1, API 1.47) read by `scripts/go-types`,
//! with the few fields dockerd 20.10 (API 1.41) still sent unconditionally.
//!
//! Only the shape changes: a value berth set is kept (a set `omitempty` field is dropped only
//! when it is empty, as Go would), and fields the Go type does not know are left alone.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Map, Value};

/// A Go response type, named `package.Type` as in moby's `api/types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoType(pub &'static str);

pub const CONTAINER_JSON: GoType = GoType("types.ContainerJSON");
pub const CONTAINER_SUMMARY: GoType = GoType("types.Container");
pub const CONTAINER_WAIT: GoType = GoType("container.WaitResponse");
pub const CONTAINER_UPDATE: GoType = GoType("container.ContainerUpdateOKBody");
pub const CONTAINER_PRUNE: GoType = GoType("container.PruneReport");
pub const CONTAINER_STATS: GoType = GoType("container.StatsResponse");
pub const EXEC_INSPECT: GoType = GoType("backend.ExecInspect");
pub const IMAGE_INSPECT: GoType = GoType("types.ImageInspect");
pub const IMAGE_SUMMARY: GoType = GoType("image.Summary");
pub const IMAGE_PRUNE: GoType = GoType("image.PruneReport");
pub const BUILD_CACHE_PRUNE: GoType = GoType("types.BuildCachePruneReport");
pub const INFO: GoType = GoType("system.Info");
pub const VERSION: GoType = GoType("types.Version");
pub const DISK_USAGE: GoType = GoType("types.DiskUsage");
pub const VOLUME: GoType = GoType("volume.Volume");
pub const VOLUME_LIST: GoType = GoType("volume.ListResponse");
pub const NETWORK: GoType = GoType("network.Inspect");

/// Every [`GoType`] constant above (checked against `go-types.json` by the tests).
pub const ALL: &[GoType] = &[
    CONTAINER_JSON,
    CONTAINER_SUMMARY,
    CONTAINER_WAIT,
    CONTAINER_UPDATE,
    CONTAINER_PRUNE,
    CONTAINER_STATS,
    EXEC_INSPECT,
    IMAGE_INSPECT,
    IMAGE_SUMMARY,
    IMAGE_PRUNE,
    BUILD_CACHE_PRUNE,
    INFO,
    VERSION,
    DISK_USAGE,
    VOLUME,
    VOLUME_LIST,
    NETWORK,
];

/// A Go type as `go-types.json` writes it.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Str,
    Num,
    Bool,
    /// `time.Time`: a struct, never empty; its zero value is written as below.
    Time,
    /// An interface, or a type with its own `MarshalJSON`: left as it is.
    Any,
    Ptr(Box<Ty>),
    Slice(Box<Ty>),
    Array(usize, Box<Ty>),
    Map(Box<Ty>),
    Struct(String),
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "s" => Ty::Str,
            "n" => Ty::Num,
            "b" => Ty::Bool,
            "t" => Ty::Time,
            "a" => Ty::Any,
            _ => {
                if let Some(rest) = s.strip_prefix('*') {
                    Ty::Ptr(Box::new(Ty::parse(rest)?))
                } else if let Some(rest) = s.strip_prefix("[]") {
                    Ty::Slice(Box::new(Ty::parse(rest)?))
                } else if let Some(rest) = s.strip_prefix("{}") {
                    Ty::Map(Box::new(Ty::parse(rest)?))
                } else if let Some(rest) = s.strip_prefix("T:") {
                    Ty::Struct(rest.to_string())
                } else if let Some(rest) = s.strip_prefix('[') {
                    let (n, elem) = rest.split_once(']')?;
                    Ty::Array(n.parse().ok()?, Box::new(Ty::parse(elem)?))
                } else {
                    return None;
                }
            }
        })
    }

    /// Go's `isEmptyValue`, seen through the JSON berth wrote.
    fn is_empty(&self, v: &Value) -> bool {
        match (self, v) {
            (Ty::Str, Value::String(s)) => s.is_empty(),
            (Ty::Num, Value::Number(n)) => n.as_f64() == Some(0.0),
            (Ty::Bool, Value::Bool(b)) => !b,
            (Ty::Ptr(_) | Ty::Any, Value::Null) => true,
            (Ty::Slice(_) | Ty::Map(_), Value::Null) => true,
            (Ty::Slice(_), Value::Array(a)) => a.is_empty(),
            (Ty::Map(_), Value::Object(o)) => o.is_empty(),
            (Ty::Array(n, _), _) => *n == 0,
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Field {
    name: String,
    omitempty: bool,
    ty: Ty,
    /// dockerd 20.10 sent it even when empty, before this API version.
    sent_before: Option<String>,
}

impl Field {
    /// Whether Go writes this field when it is unset.
    fn always_sent(&self, version: &str) -> bool {
        !self.omitempty
            || matches!(self.ty, Ty::Struct(_) | Ty::Time)
            || matches!(self.ty, Ty::Array(n, _) if n > 0)
            || self
                .sent_before
                .as_deref()
                .is_some_and(|before| older(version, before))
    }
}

/// Whether dotted version `a` is older than `b`.
fn older(a: &str, b: &str) -> bool {
    let key = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    key(a) < key(b)
}

type Table = HashMap<String, Vec<Field>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| parse_table(include_str!("go-types.json")))
}

fn parse_table(text: &str) -> Table {
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut out = Table::new();
    let Some(types) = doc["types"].as_object() else {
        return out;
    };
    for (name, fields) in types {
        let fields = fields
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| {
                        Some(Field {
                            name: f["name"].as_str()?.to_string(),
                            omitempty: f["omitempty"].as_bool().unwrap_or(false),
                            ty: Ty::parse(f["type"].as_str()?)?,
                            sent_before: f["sent_before"].as_str().map(str::to_string),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(name.clone(), fields);
    }
    out
}

/// Whether `go-types.json` describes `t`.
pub fn known(t: GoType) -> bool {
    table().contains_key(t.0)
}

/// `value` serialized, then written as Go writes `t` (each element of a list of `t`) at API
/// `version`.
pub fn to_value<T: Serialize>(
    value: &T,
    t: GoType,
    version: &str,
) -> Result<Value, serde_json::Error> {
    let mut v = serde_json::to_value(value)?;
    match &mut v {
        Value::Array(items) => {
            for item in items {
                encode(item, t, version);
            }
        }
        other => encode(other, t, version),
    }
    Ok(v)
}

/// Rewrites `value` as Go's `encoding/json` writes `t` at API `version`: unset fields without
/// `omitempty` get their zero value, empty `omitempty` fields go.
pub fn encode(value: &mut Value, t: GoType, version: &str) {
    fill(table(), &Ty::Struct(t.0.to_string()), value, version);
}

fn fill(table: &Table, ty: &Ty, value: &mut Value, version: &str) {
    match (ty, value) {
        (Ty::Struct(name), Value::Object(obj)) => {
            let Some(fields) = table.get(name) else {
                return;
            };
            for f in fields {
                match obj.get_mut(&f.name) {
                    None if f.always_sent(version) => {
                        obj.insert(f.name.clone(), zero(table, &f.ty, version));
                    }
                    None => {}
                    Some(v) if !f.always_sent(version) && f.ty.is_empty(v) => {
                        obj.remove(&f.name);
                    }
                    Some(v) => fill(table, &f.ty, v, version),
                }
            }
        }
        (Ty::Ptr(inner), v) => fill(table, inner, v, version),
        (Ty::Slice(elem) | Ty::Array(_, elem), Value::Array(items)) => {
            for item in items {
                fill(table, elem, item, version);
            }
        }
        (Ty::Map(elem), Value::Object(obj)) => {
            for item in obj.values_mut() {
                fill(table, elem, item, version);
            }
        }
        _ => {}
    }
}

/// Go's zero value of `ty`, as `encoding/json` writes it.
fn zero(table: &Table, ty: &Ty, version: &str) -> Value {
    match ty {
        Ty::Str => Value::String(String::new()),
        Ty::Num => Value::from(0),
        Ty::Bool => Value::Bool(false),
        Ty::Time => Value::String(ZERO_TIME.into()),
        Ty::Any | Ty::Ptr(_) | Ty::Slice(_) | Ty::Map(_) => Value::Null,
        Ty::Array(n, elem) => Value::Array((0..*n).map(|_| zero(table, elem, version)).collect()),
        Ty::Struct(name) => {
            let mut obj = Map::new();
            for f in table.get(name).map(Vec::as_slice).unwrap_or_default() {
                if f.always_sent(version) {
                    obj.insert(f.name.clone(), zero(table, &f.ty, version));
                }
            }
            Value::Object(obj)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_and_field_type_is_described() {
        let text = include_str!("go-types.json");
        let doc: Value = serde_json::from_str(text).expect("go-types.json parses");
        for (name, fields) in doc["types"].as_object().expect("types") {
            for f in fields.as_array().expect("fields") {
                let t = f["type"].as_str().expect("type");
                let ty = Ty::parse(t).unwrap_or_else(|| panic!("{name}.{}: {t}", f["name"]));
                let mut refs = vec![&ty];
                while let Some(r) = refs.pop() {
                    match r {
                        Ty::Struct(s) => assert!(table().contains_key(s), "{name}: {s}"),
                        Ty::Ptr(i) | Ty::Slice(i) | Ty::Map(i) | Ty::Array(_, i) => refs.push(i),
                        _ => {}
                    }
                }
            }
        }
        for t in ALL {
            assert!(known(*t), "{t:?}");
        }
    }

    #[test]
    fn unset_fields_get_go_zero_values() {
        let mut v = json!({"Id": "abc", "HostConfig": {"Memory": 5}, "Config": null});
        encode(&mut v, CONTAINER_JSON, "1.41");
        assert_eq!(v["Id"], "abc");
        assert_eq!(v["ExecIDs"], Value::Null);
        assert_eq!(v["HostConfig"]["Memory"], 5);
        assert_eq!(v["HostConfig"]["Binds"], Value::Null);
        assert_eq!(v["HostConfig"]["CpuShares"], 0);
        assert_eq!(v["HostConfig"]["Privileged"], false);
        assert_eq!(v["HostConfig"]["ConsoleSize"], json!([0, 0]));
        assert_eq!(
            v["HostConfig"]["RestartPolicy"],
            json!({"Name": "", "MaximumRetryCount": 0})
        );
        // A struct value is always written; a nil pointer is null.
        assert_eq!(v["GraphDriver"], json!({"Name": "", "Data": null}));
        assert_eq!(v["Config"], Value::Null);
        assert_eq!(v["State"], Value::Null);
        // omitempty fields stay out.
        assert!(v.get("SizeRw").is_none());
        assert!(v["HostConfig"].get("Mounts").is_none());
    }

    #[test]
    fn empty_omitempty_fields_go_and_set_ones_stay() {
        let mut v = json!({"Version": "1", "Experimental": false, "KernelVersion": "6.1"});
        encode(&mut v, VERSION, "1.47");
        assert!(v.get("Experimental").is_none());
        assert_eq!(v["KernelVersion"], "6.1");
        let mut v = json!({"Version": "1", "Experimental": true});
        encode(&mut v, VERSION, "1.47");
        assert_eq!(v["Experimental"], true);
        // Unknown fields are not touched.
        let mut v = json!({"Extra": [], "Components": []});
        encode(&mut v, VERSION, "1.47");
        assert_eq!(v["Extra"], json!([]));
        assert!(v.get("Components").is_none());
    }

    #[test]
    fn fields_dockerd_20_10_sent_depend_on_the_version() {
        let mut old = json!({"HostConfig": {}});
        encode(&mut old, CONTAINER_JSON, "1.41");
        assert_eq!(old["HostConfig"]["KernelMemory"], 0);
        let mut new = json!({"HostConfig": {}});
        encode(&mut new, CONTAINER_JSON, "1.42");
        assert!(new["HostConfig"].get("KernelMemory").is_none());
        let mut wait = json!({"StatusCode": 0});
        encode(&mut wait, CONTAINER_WAIT, "1.47");
        assert_eq!(wait["Error"], Value::Null);
    }

    #[test]
    fn nested_lists_and_maps_are_filled() {
        let mut v = json!({"NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.0.0.2"}}}});
        encode(&mut v, CONTAINER_JSON, "1.41");
        let ep = &v["NetworkSettings"]["Networks"]["bridge"];
        assert_eq!(ep["IPAddress"], "10.0.0.2");
        assert_eq!(ep["Aliases"], Value::Null);
        assert_eq!(ep["GlobalIPv6PrefixLen"], 0);
        assert_eq!(v["NetworkSettings"]["SecondaryIPAddresses"], Value::Null);
        let mut list = json!([{"Id": "x", "Ports": [{"PrivatePort": 80}]}]);
        for item in list.as_array_mut().expect("array") {
            encode(item, CONTAINER_SUMMARY, "1.41");
        }
        assert_eq!(list[0]["Ports"][0]["Type"], "");
        assert!(list[0]["Ports"][0].get("IP").is_none());
    }
}
