//! Short syntaxes expanded to the long ones (compose-go `transform`/`format`), on the merged
//! tree, so the typed model reads one form only.

use indexmap::IndexMap;

use crate::model::{ServiceVolumeBind, ServiceVolumeConfig, ServiceVolumeVolume, VolumeType};
use crate::node::{Node, Value};

fn s(v: &str) -> Node {
    Node::string(v)
}
fn b(v: bool) -> Node {
    Node::new(Value::Bool(v))
}
fn map(m: IndexMap<String, Node>) -> Node {
    Node::new(Value::Map(m))
}
fn seq(v: Vec<Node>) -> Node {
    Node::new(Value::Seq(v))
}

const PROPAGATIONS: &[&str] = &[
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

/// Parses the volume short syntax `[source:]target[:options]` as compose-go's
/// `format.ParseVolume`.
pub fn parse_volume(spec: &str) -> Result<ServiceVolumeConfig, String> {
    let mut v = ServiceVolumeConfig::default();
    match spec.chars().count() {
        0 => return Err("invalid empty volume spec".to_string()),
        1 | 2 => {
            v.target = spec.to_string();
            v.kind = VolumeType::Volume;
            return Ok(v);
        }
        _ => {}
    }
    // compose-go reads a one-letter first part as a Windows drive (`c:/x`): it stays in the
    // following section.
    let mut parts: Vec<String> = spec.split(':').map(String::from).collect();
    if parts.len() > 1 && parts[0].len() == 1 && parts[0].chars().all(|c| c.is_alphabetic()) {
        let drive = parts.remove(0);
        parts[0] = format!("{drive}:{}", parts[0]);
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let n = parts.len();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == n;
        if part.is_empty() {
            return Err("empty section between colons".to_string());
        }
        if v.source.is_empty() && !last && i == 0 {
            v.source = part.to_string();
        } else if v.target.is_empty() {
            v.target = part.to_string();
        } else if !last {
            return Err("too many colons".to_string());
        } else {
            for opt in part.split(',') {
                match opt {
                    "ro" => v.read_only = true,
                    "rw" => v.read_only = false,
                    "nocopy" => {
                        v.volume.get_or_insert_with(Default::default).nocopy = true;
                    }
                    "z" | "Z" => {
                        v.bind.get_or_insert_with(Default::default).selinux = opt.to_string();
                    }
                    p if PROPAGATIONS.contains(&p) => {
                        v.bind.get_or_insert_with(Default::default).propagation = p.to_string();
                    }
                    _ => {}
                }
            }
        }
    }
    v.target = go_path_clean(&v.target);
    if is_file_path(&v.source) {
        v.kind = VolumeType::Bind;
        let bind = v.bind.get_or_insert_with(ServiceVolumeBind::default);
        bind.create_host_path = true;
        v.volume = None;
    } else {
        v.kind = VolumeType::Volume;
        if v.volume.is_none() {
            v.volume = Some(ServiceVolumeVolume::default());
        }
        v.bind = None;
    }
    Ok(v)
}

fn is_file_path(source: &str) -> bool {
    matches!(source.chars().next(), Some('.' | '/' | '~'))
}

/// One port spec (`[ip:][host[-range]:]container[-range][/proto]`) as entries, one per port,
/// as compose-go's `ParsePortConfig` (docker's `nat.ParsePortSpecs`).
pub fn parse_port(spec: &str) -> Result<Vec<IndexMap<String, Node>>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let (ip, host, container) = split_port_spec(rest)?;
    let parse_range = |r: &str| -> Result<(u32, u32), String> {
        let r = r.trim();
        let (a, b) = match r.split_once('-') {
            Some((a, b)) => (a, b),
            None => (r, r),
        };
        let a: u32 = a
            .parse()
            .map_err(|_| format!("invalid containerPort: {r}"))?;
        let b: u32 = b
            .parse()
            .map_err(|_| format!("invalid containerPort: {r}"))?;
        if b < a {
            return Err(format!("invalid port range: {r}"));
        }
        Ok((a, b))
    };
    let (cs, ce) = parse_range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host).map_err(|_| format!("invalid hostPort: {host}"))?)
    };
    if let Some((hs, he)) = host_range {
        if ce - cs != he - hs && ce != cs {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            ));
        }
    }
    let mut out = Vec::new();
    for (i, port) in (cs..=ce).enumerate() {
        let published = match host_range {
            None => String::new(),
            Some((hs, he)) if ce == cs && he != hs => format!("{hs}-{he}"),
            Some((hs, _)) => (hs + i as u32).to_string(),
        };
        let mut m = IndexMap::new();
        m.insert("mode".to_string(), s("ingress"));
        if !ip.is_empty() {
            m.insert("host_ip".to_string(), s(&ip));
        }
        m.insert("target".to_string(), Node::new(Value::Int(port as i64)));
        if !published.is_empty() {
            m.insert("published".to_string(), s(&published));
        }
        m.insert("protocol".to_string(), s(&proto));
        out.push(m);
    }
    Ok(out)
}

/// `ip:host:container`, `host:container`, `container`; IPv6 in brackets.
fn split_port_spec(rest: &str) -> Result<(String, &str, &str), String> {
    if let Some(after) = rest.strip_prefix('[') {
        let Some((ip, tail)) = after.split_once(']') else {
            return Err(format!("invalid port specification: {rest:?}"));
        };
        let tail = tail.strip_prefix(':').unwrap_or(tail);
        let (host, container) = tail.split_once(':').unwrap_or(("", tail));
        return Ok((ip.to_string(), host, container));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.len() {
        1 => Ok((String::new(), "", parts[0])),
        2 => Ok((String::new(), parts[0], parts[1])),
        3 => Ok((parts[0].to_string(), parts[1], parts[2])),
        _ => {
            // A bare IPv6 address: the last two parts are host and container.
            let container = parts[parts.len() - 1];
            let host = parts[parts.len() - 2];
            let ip = parts[..parts.len() - 2].join(":");
            Ok((ip, host, container))
        }
    }
}

/// Go's `path.Clean` (slash-separated, lexical).
pub fn go_path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The marker of a decoding error: `path` and message, split by the loader.
pub const DECODING: &str = "\u{0}decoding\u{0}";

fn decoding(path: &str, message: &str) -> String {
    format!("{DECODING}{path}\u{0}{message}")
}

/// Durations checked where compose decodes them, with its error.
fn check_durations(name: &str, m: &IndexMap<String, Node>) -> Result<(), String> {
    let check = |path: String, n: Option<&Node>| -> Result<(), String> {
        if let Some(Value::String(v)) = n.map(|n| &n.value) {
            crate::units::parse_duration(v).map_err(|e| decoding(&path, &e))?;
        }
        Ok(())
    };
    check(
        format!("services[{name}].stop_grace_period"),
        m.get("stop_grace_period"),
    )?;
    if let Some(hc) = m.get("healthcheck") {
        for k in ["interval", "timeout", "start_period", "start_interval"] {
            check(format!("services[{name}].healthcheck.{k}"), hc.get(k))?;
        }
    }
    if let Some(d) = m.get("deploy") {
        for (sect, keys) in [
            ("restart_policy", &["delay", "window"][..]),
            ("update_config", &["delay", "monitor"][..]),
            ("rollback_config", &["delay", "monitor"][..]),
        ] {
            if let Some(sv) = d.get(sect) {
                for k in keys {
                    check(format!("services[{name}].deploy.{sect}.{k}"), sv.get(k))?;
                }
            }
        }
    }
    Ok(())
}

/// Splits a string command as compose-go does (shellwords).
pub fn split_command(cmd: &str) -> Result<Vec<String>, String> {
    shell_split(cmd).ok_or_else(|| format!("invalid command line string: {cmd:?}"))
}

fn shell_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            x @ ('"' | '\\' | '$' | '`') => cur.push(x),
                            '\n' => {}
                            x => {
                                cur.push('\\');
                                cur.push(x);
                            }
                        },
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(x) => cur.push(x),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// A `k=v` list or a mapping as a mapping of strings; `allow_null` keeps `K` alone as null
/// (environment, build args), else it becomes `""` (labels).
fn to_string_map(node: &Node, allow_null: bool) -> Node {
    let mut out = IndexMap::new();
    match &node.value {
        Value::Map(m) => {
            for (k, v) in m {
                let val = match v.scalar_string() {
                    Some(sv) => s(&sv),
                    None if allow_null => Node::null(),
                    None => s(""),
                };
                out.insert(k.clone(), val);
            }
        }
        Value::Seq(items) => {
            for it in items {
                let Some(e) = it.scalar_string() else {
                    continue;
                };
                match e.split_once('=') {
                    Some((k, v)) => {
                        out.insert(k.to_string(), s(v));
                    }
                    None if allow_null => {
                        out.insert(e, Node::null());
                    }
                    None => {
                        out.insert(e, s(""));
                    }
                }
            }
        }
        _ => return node.clone(),
    }
    map(out)
}

fn to_string_list(node: &Node) -> Node {
    match &node.value {
        Value::Seq(items) => seq(items
            .iter()
            .map(|i| {
                i.scalar_string()
                    .map(|v| s(&v))
                    .unwrap_or_else(|| i.clone())
            })
            .collect()),
        Value::Null => seq(vec![]),
        _ => match node.scalar_string() {
            Some(v) => seq(vec![s(&v)]),
            None => node.clone(),
        },
    }
}

/// `extra_hosts`: a mapping (value or list of values) or a list of `host:ip`/`host=ip`, as
/// sorted `host=ip` strings.
fn to_hosts(node: &Node) -> Node {
    let mut out: Vec<String> = Vec::new();
    match &node.value {
        Value::Map(m) => {
            for (k, v) in m {
                match &v.value {
                    Value::Seq(items) => {
                        for it in items {
                            out.push(format!("{k}={}", it.scalar_string().unwrap_or_default()))
                        }
                    }
                    _ => out.push(format!("{k}={}", v.scalar_string().unwrap_or_default())),
                }
            }
        }
        Value::Seq(items) => {
            for it in items {
                let e = it.scalar_string().unwrap_or_default();
                if e.contains('=') {
                    out.push(e);
                } else if let Some((h, ip)) = e.split_once(':') {
                    out.push(format!("{h}={ip}"));
                } else {
                    out.push(e);
                }
            }
        }
        _ => {}
    }
    out.sort();
    seq(out.iter().map(|e| s(e)).collect())
}

fn file_ref(node: &Node, secret_default: bool) -> Node {
    match &node.value {
        Value::Map(m) => {
            let mut m = m.clone();
            if let Some(mode) = m.get("mode").cloned() {
                if let Some(st) = mode.as_str() {
                    if let Ok(v) = i64::from_str_radix(st, 8) {
                        m.insert("mode".into(), Node::new(Value::Int(v)));
                    }
                }
            }
            if secret_default && !m.contains_key("target") {
                if let Some(src) = m.get("source").and_then(Node::scalar_string) {
                    m.insert("target".into(), s(&format!("/run/secrets/{src}")));
                }
            }
            map(m)
        }
        _ => {
            let src = node.scalar_string().unwrap_or_default();
            let mut m = IndexMap::new();
            m.insert("source".to_string(), s(&src));
            if secret_default {
                m.insert("target".to_string(), s(&format!("/run/secrets/{src}")));
            }
            map(m)
        }
    }
}

/// Expands one service's short syntaxes. `name` is used in errors.
pub fn service(name: &str, node: &mut Node) -> Result<(), String> {
    let Some(m) = node.as_map_mut() else {
        return Err(format!("services.{name} must be a mapping"));
    };
    check_durations(name, m)?;
    if let Some(bld) = m.get_mut("build") {
        if let Some(ctx) = bld.scalar_string() {
            let mut bm = IndexMap::new();
            bm.insert("context".to_string(), s(&ctx));
            *bld = map(bm);
        }
        if let Some(bm) = bld.as_map_mut() {
            for k in ["args"] {
                if let Some(v) = bm.get_mut(k) {
                    *v = to_string_map(v, true);
                }
            }
            for k in ["labels", "additional_contexts"] {
                if let Some(v) = bm.get_mut(k) {
                    *v = to_string_map(v, false);
                }
            }
            for k in [
                "cache_from",
                "cache_to",
                "tags",
                "platforms",
                "no_cache_filter",
            ] {
                if let Some(v) = bm.get_mut(k) {
                    *v = to_string_list(v);
                }
            }
            if let Some(v) = bm.get_mut("extra_hosts") {
                *v = to_hosts(v);
            }
            if let Some(Value::Seq(items)) = bm.get_mut("secrets").map(|v| &mut v.value) {
                for it in items.iter_mut() {
                    *it = file_ref(it, false);
                }
            }
            if let Some(v) = bm.get_mut("ssh") {
                let entries: Vec<String> = match &v.value {
                    Value::Map(mm) => mm
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.scalar_string().unwrap_or_default()))
                        .collect(),
                    Value::Seq(items) => items.iter().filter_map(Node::scalar_string).collect(),
                    _ => v.scalar_string().into_iter().collect(),
                };
                *v = seq(entries.iter().map(|e| s(e)).collect());
            }
        }
    }
    for k in ["command", "entrypoint"] {
        if let Some(v) = m.get_mut(k) {
            if let Value::String(st) = &v.value {
                let words = split_command(st).map_err(|_| {
                    decoding(
                        &format!("services[{name}].{k}"),
                        "invalid command line string",
                    )
                })?;
                *v = seq(words.iter().map(|w| s(w)).collect());
            } else if let Value::Seq(_) = v.value {
                *v = to_string_list(v);
            }
        }
    }
    for k in ["environment"] {
        if let Some(v) = m.get_mut(k) {
            *v = to_string_map(v, true);
        }
    }
    for k in ["labels", "annotations", "sysctls", "storage_opt", "log_opt"] {
        if let Some(v) = m.get_mut(k) {
            *v = to_string_map(v, false);
        }
    }
    for k in [
        "dns",
        "dns_search",
        "tmpfs",
        "cap_add",
        "cap_drop",
        "dns_opt",
        "security_opt",
        "group_add",
        "label_file",
        "profiles",
        "external_links",
        "links",
        "volumes_from",
        "device_cgroup_rules",
    ] {
        if let Some(v) = m.get_mut(k) {
            *v = to_string_list(v);
        }
    }
    if let Some(v) = m.get_mut("extra_hosts") {
        *v = to_hosts(v);
    }
    if let Some(v) = m.get_mut("expose") {
        *v = to_string_list(v);
    }
    if let Some(v) = m.get_mut("env_file") {
        let items = match &v.value {
            Value::Seq(items) => items.clone(),
            _ => vec![v.clone()],
        };
        *v = seq(items
            .into_iter()
            .map(|it| match &it.value {
                Value::Map(mm) => {
                    let mut mm = mm.clone();
                    mm.entry("required".to_string()).or_insert_with(|| b(true));
                    map(mm)
                }
                _ => {
                    let mut mm = IndexMap::new();
                    mm.insert(
                        "path".to_string(),
                        s(&it.scalar_string().unwrap_or_default()),
                    );
                    mm.insert("required".to_string(), b(true));
                    map(mm)
                }
            })
            .collect());
    }
    if let Some(v) = m.get_mut("extends") {
        if let Some(svc) = v.scalar_string() {
            let mut mm = IndexMap::new();
            mm.insert("service".to_string(), s(&svc));
            *v = map(mm);
        }
    }
    if let Some(v) = m.get_mut("depends_on") {
        let mut out = IndexMap::new();
        match &v.value {
            Value::Seq(items) => {
                for it in items {
                    let mut d = IndexMap::new();
                    d.insert("condition".to_string(), s("service_started"));
                    d.insert("required".to_string(), b(true));
                    out.insert(it.scalar_string().unwrap_or_default(), map(d));
                }
            }
            Value::Map(mm) => {
                for (k, dv) in mm {
                    let mut d = dv.as_map().cloned().unwrap_or_default();
                    if d.get("condition")
                        .and_then(Node::as_str)
                        .is_none_or(str::is_empty)
                    {
                        d.insert("condition".to_string(), s("service_started"));
                    }
                    d.entry("required".to_string()).or_insert_with(|| b(true));
                    out.insert(k.clone(), map(d));
                }
            }
            _ => {}
        }
        *v = map(out);
    }
    if let Some(v) = m.get_mut("networks") {
        if let Value::Seq(items) = &v.value {
            let out: IndexMap<String, Node> = items
                .iter()
                .filter_map(Node::scalar_string)
                .map(|k| (k, Node::null()))
                .collect();
            *v = map(out);
        }
    }
    if let Some(v) = m.get_mut("ports") {
        let items = v.as_seq().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for it in items {
            match &it.value {
                Value::Map(pm) => {
                    let mut pm = pm.clone();
                    if let Some(p) = pm.get("published").and_then(Node::scalar_string) {
                        pm.insert("published".to_string(), s(&p));
                    }
                    if let Some(t) = pm.get("target").and_then(Node::scalar_string) {
                        if let Ok(n) = t.parse::<i64>() {
                            pm.insert("target".to_string(), Node::new(Value::Int(n)));
                        }
                    }
                    if pm
                        .get("mode")
                        .and_then(Node::as_str)
                        .is_none_or(str::is_empty)
                    {
                        pm.insert("mode".to_string(), s("ingress"));
                    }
                    if pm
                        .get("protocol")
                        .and_then(Node::as_str)
                        .is_none_or(str::is_empty)
                    {
                        pm.insert("protocol".to_string(), s("tcp"));
                    }
                    out.push(map(pm));
                }
                _ => {
                    let spec = it.scalar_string().unwrap_or_default();
                    for pm in parse_port(&spec)? {
                        out.push(map(pm));
                    }
                }
            }
        }
        *v = seq(out);
    }
    if let Some(v) = m.get_mut("volumes") {
        let items = v.as_seq().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for it in items {
            match &it.value {
                Value::Map(vm) => {
                    let mut vm = vm.clone();
                    if let Some(t) = vm.get("target").and_then(Node::as_str) {
                        let cleaned = go_path_clean(t);
                        vm.insert("target".to_string(), s(&cleaned));
                    }
                    if let Some(bm) = vm.get_mut("bind").and_then(Node::as_map_mut) {
                        bm.entry("create_host_path".to_string())
                            .or_insert_with(|| b(true));
                    }
                    out.push(map(vm));
                }
                _ => {
                    let spec = it.scalar_string().unwrap_or_default();
                    let parsed = parse_volume(&spec)?;
                    let j = serde_json::to_value(&parsed).map_err(|e| e.to_string())?;
                    out.push(Node::from_json(&j));
                }
            }
        }
        *v = seq(out);
    }
    for (k, secret) in [("secrets", true), ("configs", false)] {
        if let Some(Value::Seq(items)) = m.get_mut(k).map(|v| &mut v.value) {
            for it in items.iter_mut() {
                *it = file_ref(it, secret);
            }
        }
    }
    if let Some(hc) = m.get_mut("healthcheck").and_then(Node::as_map_mut) {
        if let Some(t) = hc.get_mut("test") {
            if let Some(st) = t.as_str() {
                let st = st.to_string();
                *t = seq(vec![s("CMD-SHELL"), s(&st)]);
            }
        }
    }
    if let Some(v) = m.get_mut("devices") {
        let items = v.as_seq().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for it in items {
            if let Some(spec) = it.as_str() {
                // compose-go reads a one-letter first part as a Windows drive (`c:/x`): it stays in the
                // following section.
                let mut parts: Vec<String> = spec.split(':').map(String::from).collect();
                if parts.len() > 1
                    && parts[0].len() == 1
                    && parts[0].chars().all(|c| c.is_alphabetic())
                {
                    let drive = parts.remove(0);
                    parts[0] = format!("{drive}:{}", parts[0]);
                }
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                let (src, tgt, perm) = match parts.len() {
                    1 => (parts[0], parts[0], "rwm"),
                    2 => (parts[0], parts[1], "rwm"),
                    3 => (parts[0], parts[1], parts[2]),
                    _ => {
                        return Err(format!(
                            "confusing device mapping, please use long syntax: {spec}"
                        ))
                    }
                };
                let mut dm = IndexMap::new();
                dm.insert("source".to_string(), s(src));
                dm.insert("target".to_string(), s(tgt));
                dm.insert("permissions".to_string(), s(perm));
                out.push(map(dm));
            } else {
                out.push(it);
            }
        }
        *v = seq(out);
    }
    if let Some(dep) = m.get_mut("deploy").and_then(Node::as_map_mut) {
        if let Some(l) = dep.get_mut("labels") {
            *l = to_string_map(l, false);
        }
        if let Some(res) = dep.get_mut("resources").and_then(Node::as_map_mut) {
            for k in ["limits", "reservations"] {
                if let Some(Value::Seq(devs)) = res
                    .get_mut(k)
                    .and_then(|r| r.get_mut("devices"))
                    .map(|d| &mut d.value)
                {
                    devs.iter_mut().for_each(device_count);
                }
            }
        }
    }
    if let Some(g) = m.get_mut("gpus") {
        if g.as_str() == Some("all") {
            let mut dm = IndexMap::new();
            dm.insert("count".to_string(), Node::new(Value::Int(-1)));
            *g = seq(vec![map(dm)]);
        } else if let Value::Seq(items) = &mut g.value {
            items.iter_mut().for_each(device_count);
        }
    }
    for k in ["post_start", "pre_stop"] {
        if let Some(Value::Seq(items)) = m.get_mut(k).map(|v| &mut v.value) {
            for it in items.iter_mut() {
                hook(it)?;
            }
        }
    }
    if let Some(dev) = m.get_mut("develop").and_then(Node::as_map_mut) {
        if let Some(Value::Seq(items)) = dev.get_mut("watch").map(|w| &mut w.value) {
            for it in items.iter_mut() {
                if let Some(wm) = it.as_map_mut() {
                    if let Some(e) = wm.get_mut("exec") {
                        hook(e)?;
                    }
                    for k in ["ignore", "include"] {
                        if let Some(v) = wm.get_mut(k) {
                            *v = to_string_list(v);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A device request's `count: all` is -1.
fn device_count(n: &mut Node) {
    if let Some(c) = n.get_mut("count") {
        match c.value.clone() {
            Value::String(v) if v == "all" => c.value = Value::Int(-1),
            Value::String(v) => {
                if let Ok(i) = v.parse::<i64>() {
                    c.value = Value::Int(i);
                }
            }
            _ => {}
        }
    }
}

/// A hook (`post_start`, `pre_stop`, watch `exec`): string command split, environment map.
fn hook(n: &mut Node) -> Result<(), String> {
    if let Some(hm) = n.as_map_mut() {
        if let Some(c) = hm.get_mut("command") {
            if let Value::String(st) = &c.value {
                let words = split_command(st)?;
                *c = seq(words.iter().map(|w| s(w)).collect());
            }
        }
        if let Some(e) = hm.get_mut("environment") {
            *e = to_string_map(e, true);
        }
    }
    Ok(())
}

/// Expands top-level resources: null → `{}`, labels lists → maps, legacy
/// `external: {name: x}` → `external: true, name: x`.
pub fn resources(root: &mut Node) {
    let Some(m) = root.as_map_mut() else {
        return;
    };
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let Some(section) = m.get_mut(kind).and_then(Node::as_map_mut) else {
            continue;
        };
        for (_, res) in section.iter_mut() {
            if res.is_null() {
                *res = Node::map();
            }
            let Some(rm) = res.as_map_mut() else {
                continue;
            };
            if let Some(l) = rm.get_mut("labels") {
                *l = to_string_map(l, false);
            }
            if let Some(ext) = rm.get("external").cloned() {
                if let Some(em) = ext.as_map() {
                    if let Some(n) = em.get("name").and_then(Node::scalar_string) {
                        rm.insert("name".to_string(), s(&n));
                    }
                    rm.insert("external".to_string(), b(true));
                }
            }
            if let Some(ipam) = rm.get_mut("ipam").and_then(Node::as_map_mut) {
                if let Some(Value::Seq(pools)) = ipam.get_mut("config").map(|c| &mut c.value) {
                    for p in pools.iter_mut() {
                        if let Some(pm) = p.as_map_mut() {
                            if let Some(a) = pm.get_mut("aux_addresses") {
                                *a = to_string_map(a, false);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_short_syntax() {
        let v = parse_volume("data:/data:ro,nocopy").unwrap();
        assert_eq!(v.kind, VolumeType::Volume);
        assert_eq!((v.source.as_str(), v.target.as_str()), ("data", "/data"));
        assert!(v.read_only && v.volume.unwrap().nocopy);
        let v = parse_volume("./src:/src:z,rshared").unwrap();
        assert_eq!(v.kind, VolumeType::Bind);
        let bind = v.bind.unwrap();
        assert_eq!(bind.selinux, "z");
        assert_eq!(bind.propagation, "rshared");
        assert!(bind.create_host_path);
        let v = parse_volume("/anon").unwrap();
        assert_eq!(v.kind, VolumeType::Volume);
        assert_eq!((v.source.as_str(), v.target.as_str()), ("", "/anon"));
        assert!(parse_volume("ab::c").is_err());
        // compose-go reads a one-letter source as a Windows drive.
        assert_eq!(parse_volume("d:/data").unwrap().target, "d:/data");
        assert!(parse_volume("ab:b:c:d").is_err());
    }

    #[test]
    fn port_short_syntax() {
        let p = parse_port("127.0.0.1:9000-9001:9000-9001/udp").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1]["published"].as_str(), Some("9001"));
        assert_eq!(p[1]["protocol"].as_str(), Some("udp"));
        assert_eq!(p[1]["host_ip"].as_str(), Some("127.0.0.1"));
        let p = parse_port("80").unwrap();
        assert!(!p[0].contains_key("published"));
        let p = parse_port("8000-8010:80").unwrap();
        assert_eq!(p[0]["published"].as_str(), Some("8000-8010"));
        let p = parse_port("[::1]:80:80").unwrap();
        assert_eq!(p[0]["host_ip"].as_str(), Some("::1"));
        assert!(parse_port("x:80").is_err());
    }

    #[test]
    fn command_split() {
        assert_eq!(
            split_command(r#"sh -c "echo 'a b'" x\ y"#).unwrap(),
            vec!["sh", "-c", "echo 'a b'", "x y"]
        );
        assert!(split_command("echo 'open").is_err());
    }
}
