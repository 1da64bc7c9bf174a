//! Merging compose files as compose-go's `override` package does: mappings merged key by key,
//! sequences appended then de-duplicated by identity (ports, volumes by target, ...), some keys
//! replaced (`command`, `entrypoint`, `healthcheck.test`), maps and lists of `k=v` combined,
//! `!reset` removing a value and `!override` replacing it.

use indexmap::IndexMap;

use crate::node::{MergeTag, Node, Value};

fn matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.len()
        && parts
            .iter()
            .zip(path)
            .all(|(p, s)| *p == "*" || *p == s.as_str())
}

#[derive(Clone, Copy)]
enum Special {
    Override,
    ToSequence,
    ExtraHosts,
    Build,
    DependsOn,
    ToMapping,
    Logging,
    Ulimit,
    IpamConfig,
}

const SPECIALS: &[(&str, Special)] = &[
    ("networks.*.ipam.config", Special::IpamConfig),
    ("networks.*.labels", Special::ToSequence),
    ("volumes.*.labels", Special::ToSequence),
    ("services.*.annotations", Special::ToSequence),
    ("services.*.build", Special::Build),
    ("services.*.build.args", Special::ToSequence),
    ("services.*.build.additional_contexts", Special::ToSequence),
    ("services.*.build.extra_hosts", Special::ExtraHosts),
    ("services.*.build.labels", Special::ToSequence),
    ("services.*.command", Special::Override),
    ("services.*.depends_on", Special::DependsOn),
    ("services.*.deploy.labels", Special::ToSequence),
    ("services.*.dns", Special::ToSequence),
    ("services.*.dns_opt", Special::ToSequence),
    ("services.*.dns_search", Special::ToSequence),
    ("services.*.entrypoint", Special::Override),
    ("services.*.env_file", Special::ToSequence),
    ("services.*.label_file", Special::ToSequence),
    ("services.*.environment", Special::ToSequence),
    ("services.*.extra_hosts", Special::ExtraHosts),
    ("services.*.healthcheck.test", Special::Override),
    ("services.*.labels", Special::ToSequence),
    ("services.*.volumes.*.volume.labels", Special::ToSequence),
    ("services.*.logging", Special::Logging),
    ("services.*.models", Special::ToMapping),
    ("services.*.networks", Special::ToMapping),
    ("services.*.sysctls", Special::ToSequence),
    ("services.*.tmpfs", Special::ToSequence),
    ("services.*.ulimits.*", Special::Ulimit),
];

fn special(path: &[String]) -> Option<Special> {
    SPECIALS
        .iter()
        .find(|(p, _)| matches(p, path))
        .map(|(_, s)| *s)
}

/// A merge failure (`cannot override services.web.ports`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError(pub String);

/// Merges `over` onto `base` (both whole files, or whole services under `path`).
pub fn merge(base: Node, over: Node, path: &mut Vec<String>) -> Result<Node, MergeError> {
    match over.tag {
        Some(MergeTag::Override) => return Ok(strip_tag(over)),
        Some(MergeTag::Reset) => return Ok(over),
        None => {}
    }
    if let Some(sp) = special(path) {
        return merge_special(sp, base, over, path);
    }
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Ok(Node {
            value: Value::Map(merge_maps(b, o, path)?),
            line: base.line,
            tag: None,
        }),
        (Value::Seq(mut b), Value::Seq(o)) => {
            b.extend(o);
            Ok(Node {
                value: Value::Seq(b),
                line: base.line,
                tag: None,
            })
        }
        (Value::Map(_), _) | (_, Value::Map(_)) => {
            Err(MergeError(format!("cannot override {}", path.join("."))))
        }
        (_, value) => Ok(Node {
            value,
            line: over.line,
            tag: None,
        }),
    }
}

fn strip_tag(mut n: Node) -> Node {
    n.tag = None;
    n
}

fn merge_maps(
    mut base: IndexMap<String, Node>,
    over: IndexMap<String, Node>,
    path: &mut Vec<String>,
) -> Result<IndexMap<String, Node>, MergeError> {
    for (k, v) in over {
        if v.tag == Some(MergeTag::Reset) {
            base.shift_remove(&k);
            continue;
        }
        match base.shift_remove_full(&k) {
            Some((idx, _, existing)) if !k.starts_with("x-") => {
                path.push(k.clone());
                let merged = merge(existing, v, path);
                path.pop();
                let merged = merged?;
                base.insert(k.clone(), merged);
                let last = base.len() - 1;
                base.move_index(last, idx);
            }
            Some((idx, _, _)) => {
                base.insert(k.clone(), strip_tag(v));
                let last = base.len() - 1;
                base.move_index(last, idx);
            }
            None => {
                base.insert(k, strip_tag(v));
            }
        }
    }
    Ok(base)
}

/// A mapping (`K: V`, `K:` alone) or list (`K=V`) as `K=V` strings, sorted for a mapping.
pub fn to_sequence(node: &Node) -> Vec<Node> {
    match &node.value {
        Value::Map(m) => {
            let mut entries: Vec<String> = Vec::new();
            for (k, v) in m {
                match &v.value {
                    Value::Null => entries.push(k.clone()),
                    Value::Seq(items) => {
                        for it in items {
                            entries.push(format!("{k}={}", it.scalar_string().unwrap_or_default()))
                        }
                    }
                    _ => entries.push(format!("{k}={}", v.scalar_string().unwrap_or_default())),
                }
            }
            entries.sort();
            entries.into_iter().map(Node::string).collect()
        }
        Value::Seq(items) => items.clone(),
        Value::Null => Vec::new(),
        _ => vec![node.clone()],
    }
}

/// A list of names as a mapping of `name: default`; a mapping as is.
fn to_mapping(node: Node, default: Option<&Node>) -> IndexMap<String, Node> {
    match node.value {
        Value::Map(m) => m,
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|i| i.scalar_string())
            .map(|k| (k, default.cloned().unwrap_or_else(Node::null)))
            .collect(),
        _ => IndexMap::new(),
    }
}

fn depends_default() -> Node {
    let mut m = IndexMap::new();
    m.insert("condition".to_string(), Node::string("service_started"));
    m.insert("required".to_string(), Node::new(Value::Bool(true)));
    Node::new(Value::Map(m))
}

fn merge_special(
    sp: Special,
    base: Node,
    over: Node,
    path: &mut Vec<String>,
) -> Result<Node, MergeError> {
    let line = base.line;
    let seq = |v: Vec<Node>| Node {
        value: Value::Seq(v),
        line,
        tag: None,
    };
    let map = |m: IndexMap<String, Node>| Node {
        value: Value::Map(m),
        line,
        tag: None,
    };
    match sp {
        Special::Override => Ok(strip_tag(over)),
        Special::ToSequence => {
            let mut s = to_sequence(&base);
            s.extend(to_sequence(&over));
            Ok(seq(s))
        }
        Special::ExtraHosts => {
            let mut s = to_sequence(&base);
            let seen: Vec<String> = s.iter().filter_map(Node::scalar_string).collect();
            for n in to_sequence(&over) {
                if !n.scalar_string().is_some_and(|v| seen.contains(&v)) {
                    s.push(n);
                }
            }
            Ok(seq(s))
        }
        Special::Build => {
            let as_map = |n: Node| -> IndexMap<String, Node> {
                match n.value {
                    Value::Map(m) => m,
                    Value::Null => IndexMap::new(),
                    other => {
                        let mut m = IndexMap::new();
                        m.insert("context".to_string(), Node::new(other));
                        m
                    }
                }
            };
            Ok(map(merge_maps(as_map(base), as_map(over), path)?))
        }
        Special::DependsOn => {
            let d = depends_default();
            Ok(map(merge_maps(
                to_mapping(base, Some(&d)),
                to_mapping(over, Some(&d)),
                path,
            )?))
        }
        Special::ToMapping => Ok(map(merge_maps(
            to_mapping(base, None),
            to_mapping(over, None),
            path,
        )?)),
        Special::Logging => {
            let (Value::Map(b), Value::Map(o)) = (&base.value, &over.value) else {
                return Ok(strip_tag(over));
            };
            let bd = b.get("driver").and_then(Node::scalar_string);
            let od = o.get("driver").and_then(Node::scalar_string);
            if bd.is_none() || od.is_none() || bd == od {
                let (Value::Map(b), Value::Map(o)) = (base.value, over.value) else {
                    return Err(MergeError("logging".into()));
                };
                Ok(map(merge_maps(b, o, path)?))
            } else {
                Ok(strip_tag(over))
            }
        }
        Special::Ulimit => match (base.value, over.value) {
            (Value::Map(b), Value::Map(o)) => Ok(map(merge_maps(b, o, path)?)),
            (_, o) => Ok(Node::new(o)),
        },
        Special::IpamConfig => {
            let (Value::Seq(b), Value::Seq(o)) = (base.value, over.value) else {
                return Err(MergeError(format!(
                    "{}: unexpected node kind",
                    path.join(".")
                )));
            };
            let subnet = |n: &Node| {
                n.get("subnet")
                    .and_then(Node::scalar_string)
                    .unwrap_or_default()
            };
            // compose-go's mergeIPAMConfig, quirks included: an override whose subnet is
            // already listed is merged into every other original too.
            let mut out: Vec<Node> = Vec::new();
            for original in &b {
                for over in &o {
                    if subnet(original) != subnet(over)
                        && !out.iter().any(|n| subnet(n) == subnet(over))
                    {
                        out.push(over.clone());
                        continue;
                    }
                    let merged = match (original.value.clone(), over.value.clone()) {
                        (Value::Map(x), Value::Map(y)) => {
                            Node::new(Value::Map(merge_maps(x, y, path)?))
                        }
                        _ => over.clone(),
                    };
                    let s = subnet(&merged);
                    match out.iter().position(|n| subnet(n) == s) {
                        Some(i) => out[i] = merged,
                        None => out.push(merged),
                    }
                }
            }
            Ok(seq(out))
        }
    }
}

#[derive(Clone, Copy)]
enum Indexer {
    KeyValue,
    Mount(&'static str),
    EnvFile,
    Expose,
    Ports,
    Volumes,
    Devices,
}

const UNIQUE: &[(&str, Indexer)] = &[
    ("networks.*.labels", Indexer::KeyValue),
    ("networks.*.ipam.options", Indexer::KeyValue),
    ("services.*.annotations", Indexer::KeyValue),
    ("services.*.build.args", Indexer::KeyValue),
    ("services.*.build.additional_contexts", Indexer::KeyValue),
    ("services.*.build.platform", Indexer::KeyValue),
    ("services.*.build.tags", Indexer::KeyValue),
    ("services.*.build.labels", Indexer::KeyValue),
    ("services.*.cap_add", Indexer::KeyValue),
    ("services.*.cap_drop", Indexer::KeyValue),
    ("services.*.configs", Indexer::Mount("")),
    ("services.*.deploy.labels", Indexer::KeyValue),
    ("services.*.dns", Indexer::KeyValue),
    ("services.*.dns_opt", Indexer::KeyValue),
    ("services.*.dns_search", Indexer::KeyValue),
    ("services.*.environment", Indexer::KeyValue),
    ("services.*.env_file", Indexer::EnvFile),
    ("services.*.expose", Indexer::Expose),
    ("services.*.labels", Indexer::KeyValue),
    ("services.*.links", Indexer::KeyValue),
    ("services.*.networks.*.aliases", Indexer::KeyValue),
    ("services.*.networks.*.link_local_ips", Indexer::KeyValue),
    ("services.*.ports", Indexer::Ports),
    ("services.*.profiles", Indexer::KeyValue),
    ("services.*.secrets", Indexer::Mount("/run/secrets")),
    ("services.*.sysctls", Indexer::KeyValue),
    ("services.*.tmpfs", Indexer::KeyValue),
    ("services.*.volumes", Indexer::Volumes),
    ("services.*.devices", Indexer::Devices),
];

fn index_of(ix: Indexer, n: &Node, path: &str, i: usize) -> Result<String, MergeError> {
    let scalar = n.scalar_string();
    match ix {
        Indexer::KeyValue => {
            let s = scalar
                .ok_or_else(|| MergeError(format!("{path}.[{i}]: unexpected non-scalar entry")))?;
            Ok(s.split_once('=').map(|(k, _)| k.to_string()).unwrap_or(s))
        }
        Indexer::Mount(default) => match &n.value {
            Value::Map(_) => {
                if let Some(t) = n.get("target").and_then(Node::scalar_string) {
                    return Ok(t);
                }
                match n.get("source").and_then(Node::scalar_string) {
                    Some(s) => Ok(format!("{default}/{s}")),
                    None => Err(MergeError(format!(
                        "{path}.[{i}]: missing target or source"
                    ))),
                }
            }
            _ => Ok(format!("{default}/{}", scalar.unwrap_or_default())),
        },
        Indexer::EnvFile => match &n.value {
            Value::Map(_) => n.get("path").and_then(Node::scalar_string).ok_or_else(|| {
                MergeError(format!(
                    "environment path attribute {path}.[{i}] is missing"
                ))
            }),
            _ => Ok(scalar.unwrap_or_default()),
        },
        Indexer::Expose => {
            scalar.ok_or_else(|| MergeError(format!("{path}.[{i}]: unsupported expose value")))
        }
        Indexer::Ports => match &n.value {
            Value::Map(_) => {
                let target = n
                    .get("target")
                    .and_then(Node::scalar_string)
                    .ok_or_else(|| {
                        MergeError(format!(
                            "service ports {path}.[{i}] is missing a target port"
                        ))
                    })?;
                let published = n
                    .get("published")
                    .and_then(Node::scalar_string)
                    .unwrap_or_default();
                let host = n
                    .get("host_ip")
                    .and_then(Node::scalar_string)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".to_string());
                let proto = n
                    .get("protocol")
                    .and_then(Node::scalar_string)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "tcp".to_string());
                Ok(format!("{host}:{published}:{target}/{proto}"))
            }
            _ => Ok(scalar.unwrap_or_default()),
        },
        Indexer::Volumes => match &n.value {
            Value::Map(_) => n
                .get("target")
                .and_then(Node::scalar_string)
                .ok_or_else(|| {
                    MergeError(format!(
                        "service volume {path}.[{i}] is missing a mount target"
                    ))
                }),
            Value::String(s) => crate::transform::parse_volume(s)
                .map(|v| v.target)
                .map_err(MergeError),
            _ => Ok(String::new()),
        },
        Indexer::Devices => match &n.value {
            Value::Map(_) => n
                .get("target")
                .and_then(Node::scalar_string)
                .ok_or_else(|| {
                    MergeError(format!(
                        "service device {path}.[{i}] is missing a mount target"
                    ))
                }),
            _ => {
                let s = scalar.unwrap_or_default();
                let parts: Vec<&str> = s.split(':').collect();
                Ok(if parts.len() == 1 {
                    parts[0].to_string()
                } else {
                    parts[1].to_string()
                })
            }
        },
    }
}

/// Removes redefinitions in the sequences compose de-duplicates; a later entry replaces an
/// earlier one with the same identity, in the earlier one's place.
pub fn enforce_unicity(node: &mut Node, path: &mut Vec<String>) -> Result<(), MergeError> {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                path.push(k.clone());
                let r = enforce_unicity(v, path);
                path.pop();
                r?;
            }
        }
        Value::Seq(items) => {
            if let Some((_, ix)) = UNIQUE.iter().find(|(p, _)| matches(p, path)) {
                let p = path.join(".");
                let mut out: Vec<Node> = Vec::with_capacity(items.len());
                let mut keys: std::collections::HashMap<String, usize> = Default::default();
                for (i, entry) in items.drain(..).enumerate() {
                    let key = index_of(*ix, &entry, &p, i)?;
                    match keys.get(&key) {
                        Some(&j) => out[j] = entry,
                        None => {
                            keys.insert(key, out.len());
                            out.push(entry);
                        }
                    }
                }
                *items = out;
            } else {
                for (i, v) in items.iter_mut().enumerate() {
                    path.push(format!("[{i}]"));
                    let r = enforce_unicity(v, path);
                    path.pop();
                    r?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Drops `!reset` nodes left in a single file (a reset with nothing to reset is an absence).
pub fn drop_resets(node: &mut Node) {
    match &mut node.value {
        Value::Map(m) => {
            m.retain(|_, v| v.tag != Some(MergeTag::Reset));
            for v in m.values_mut() {
                v.tag = None;
                drop_resets(v);
            }
        }
        Value::Seq(items) => {
            items.retain(|v| v.tag != Some(MergeTag::Reset));
            for v in items.iter_mut() {
                v.tag = None;
                drop_resets(v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse_yaml;

    fn m(a: &str, b: &str) -> serde_json::Value {
        let mut path = Vec::new();
        let mut n = merge(parse_yaml(a).unwrap(), parse_yaml(b).unwrap(), &mut path).unwrap();
        enforce_unicity(&mut n, &mut Vec::new()).unwrap();
        drop_resets(&mut n);
        n.to_json()
    }

    #[test]
    fn mappings_merge_and_commands_replace() {
        let j = m(
            "services:\n  web:\n    image: a\n    command: [a, b]\n    labels: {x: '1'}\n",
            "services:\n  web:\n    command: c\n    labels: [y=2]\n    tty: true\n",
        );
        let w = &j["services"]["web"];
        assert_eq!(w["image"], "a");
        assert_eq!(w["command"], "c");
        assert_eq!(w["tty"], true);
        assert_eq!(w["labels"], serde_json::json!(["x=1", "y=2"]));
    }

    #[test]
    fn sequences_dedup_by_identity() {
        let j = m(
            "services:\n  web:\n    ports: ['80:80', '443:443']\n    volumes: ['va:/data', './x:/x']\n    environment: {A: '1', B: '2'}\n    expose: ['1']\n",
            "services:\n  web:\n    ports: ['80:80']\n    volumes: ['vb:/data']\n    environment: [A=3]\n    expose: ['1', '2']\n",
        );
        let w = &j["services"]["web"];
        assert_eq!(w["ports"], serde_json::json!(["80:80", "443:443"]));
        assert_eq!(w["volumes"], serde_json::json!(["vb:/data", "./x:/x"]));
        assert_eq!(w["environment"], serde_json::json!(["A=3", "B=2"]));
        assert_eq!(w["expose"], serde_json::json!(["1", "2"]));
    }

    #[test]
    fn reset_and_override_tags() {
        let j = m(
            "services:\n  web:\n    image: a\n    ports: ['80:80']\n    environment: {A: '1'}\n",
            "services:\n  web:\n    ports: !reset []\n    environment: !override {B: '2'}\n",
        );
        let w = &j["services"]["web"];
        assert!(w.get("ports").is_none());
        assert_eq!(w["environment"], serde_json::json!({"B": "2"}));
    }

    #[test]
    fn depends_on_and_networks_lists_become_maps() {
        let j = m(
            "services:\n  web:\n    depends_on: [db]\n    networks: [a]\n",
            "services:\n  web:\n    depends_on: {cache: {condition: service_healthy}}\n    networks: {b: {aliases: [x]}}\n",
        );
        let w = &j["services"]["web"];
        assert_eq!(w["depends_on"]["db"]["condition"], "service_started");
        assert_eq!(w["depends_on"]["cache"]["condition"], "service_healthy");
        assert!(w["networks"]["a"].is_null());
        assert_eq!(w["networks"]["b"]["aliases"], serde_json::json!(["x"]));
    }

    #[test]
    fn logging_with_other_driver_replaces() {
        let j = m(
            "services:\n  web:\n    logging: {driver: json-file, options: {a: '1'}}\n",
            "services:\n  web:\n    logging: {driver: syslog}\n",
        );
        assert_eq!(
            j["services"]["web"]["logging"],
            serde_json::json!({"driver": "syslog"})
        );
        let j = m(
            "services:\n  web:\n    logging: {driver: json-file, options: {a: '1'}}\n",
            "services:\n  web:\n    logging: {options: {b: '2'}}\n",
        );
        assert_eq!(
            j["services"]["web"]["logging"]["options"],
            serde_json::json!({"a": "1", "b": "2"})
        );
    }
}
#[cfg(test)]
mod ipam_tests {
    use super::*;
    use crate::node::parse_yaml;

    #[test]
    fn ipam_config_merges_by_subnet() {
        let a = parse_yaml("networks:\n  n1:\n    ipam:\n      config:\n        - subnet: 10.1.0.0/16\n          gateway: 10.1.0.1\n").unwrap();
        let b = parse_yaml("networks:\n  n1:\n    ipam:\n      config:\n        - subnet: 10.1.0.0/16\n          ip_range: 10.1.5.0/24\n        - subnet: 10.2.0.0/16\n").unwrap();
        let r = merge(a, b, &mut Vec::new());
        let j = r.unwrap().to_json();
        assert_eq!(
            j["networks"]["n1"]["ipam"]["config"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            j["networks"]["n1"]["ipam"]["config"][0]["gateway"],
            "10.1.0.1"
        );
        assert_eq!(
            j["networks"]["n1"]["ipam"]["config"][0]["ip_range"],
            "10.1.5.0/24"
        );
    }
}
