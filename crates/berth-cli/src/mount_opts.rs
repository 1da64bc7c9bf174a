//! `--mount` values, parsed as docker's `opts/mount.go` does, with its error wording.

use std::collections::HashMap;

use berth_api::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountTypeEnum,
    MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

use crate::container_opts::{parse_ram, OptsError};

fn go_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

/// Splits one CSV record (docker reads the value with encoding/csv).
fn csv_fields(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn parse(spec: &str) -> Result<Mount, String> {
    let mut m = Mount {
        typ: Some(MountTypeEnum::VOLUME),
        ..Default::default()
    };
    let mut volume: Option<MountVolumeOptions> = None;
    let mut bind: Option<MountBindOptions> = None;
    let mut tmpfs: Option<MountTmpfsOptions> = None;
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut driver_opts: HashMap<String, String> = HashMap::new();
    let mut driver_name: Option<String> = None;
    let set_kv = |map: &mut HashMap<String, String>, v: &str| {
        let (k, val) = v.split_once('=').unwrap_or((v, ""));
        if !k.is_empty() {
            map.insert(k.to_string(), val.to_string());
        }
    };
    for field in csv_fields(spec) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => m.read_only = Some(true),
                "volume-nocopy" => volume.get_or_insert_with(Default::default).no_copy = Some(true),
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Default::default).non_recursive = Some(true)
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match key.as_str() {
            "type" => {
                m.typ = Some(
                    val.to_ascii_lowercase()
                        .parse()
                        .unwrap_or(MountTypeEnum::EMPTY),
                );
                if m.typ == Some(MountTypeEnum::EMPTY) && !val.is_empty() {
                    return Err(format!("invalid mount type: {val}"));
                }
            }
            "source" | "src" => {
                m.source = Some(if val == "." || val.starts_with("./") {
                    std::env::current_dir()
                        .map(|d| d.join(&val).display().to_string())
                        .unwrap_or(val)
                } else {
                    val
                })
            }
            "target" | "dst" | "destination" => m.target = Some(val),
            "readonly" | "ro" => m.read_only = Some(go_bool(&key, &val)?),
            "consistency" => m.consistency = Some(val.to_ascii_lowercase()),
            "bind-propagation" => {
                let p: MountBindOptionsPropagationEnum = val
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                bind.get_or_insert_with(Default::default).propagation = Some(p);
            }
            "bind-nonrecursive" => {
                bind.get_or_insert_with(Default::default).non_recursive = Some(go_bool(&key, &val)?)
            }
            "volume-nocopy" => {
                volume.get_or_insert_with(Default::default).no_copy = Some(
                    go_bool(&key, &val)
                        .map_err(|_| format!("invalid value for volume-nocopy: {val}"))?,
                )
            }
            "volume-label" => {
                volume.get_or_insert_with(Default::default);
                set_kv(&mut labels, &val)
            }
            "volume-driver" => {
                volume.get_or_insert_with(Default::default);
                driver_name = Some(val)
            }
            "volume-opt" => {
                volume.get_or_insert_with(Default::default);
                set_kv(&mut driver_opts, &val)
            }
            "tmpfs-size" => {
                let size =
                    parse_ram(&val).map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.get_or_insert_with(Default::default).size_bytes = Some(size)
            }
            "tmpfs-mode" => {
                let mode = i64::from_str_radix(&val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.get_or_insert_with(Default::default).mode = Some(mode)
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let typ = m.typ.unwrap_or(MountTypeEnum::EMPTY);
    if typ == MountTypeEnum::EMPTY {
        return Err("type is required".into());
    }
    if m.target.as_deref().is_none_or(str::is_empty) {
        return Err("target is required".into());
    }
    if let Some(mut v) = volume {
        if typ != MountTypeEnum::VOLUME {
            return Err(format!(
                "cannot mix 'volume-*' options with mount type '{typ}'"
            ));
        }
        v.labels = Some(labels);
        v.driver_config = Some(MountVolumeOptionsDriverConfig {
            name: driver_name,
            options: (!driver_opts.is_empty()).then_some(driver_opts),
        });
        m.volume_options = Some(v);
    }
    if bind.is_some() && typ != MountTypeEnum::BIND {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{typ}'"
        ));
    }
    if tmpfs.is_some() && typ != MountTypeEnum::TMPFS {
        return Err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{typ}'"
        ));
    }
    m.bind_options = bind;
    m.tmpfs_options = tmpfs;
    Ok(m)
}

/// One `--mount` flag value; errors read as docker's flag errors.
pub fn parse_mount(spec: &str) -> Result<Mount, OptsError> {
    parse(spec).map_err(|e| OptsError::Flag(spec.into(), "--mount".into(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_docker() {
        let m = parse("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared").expect("bind");
        assert_eq!(m.typ, Some(MountTypeEnum::BIND));
        assert_eq!(
            (m.source.as_deref(), m.target.as_deref()),
            (Some("/a"), Some("/b"))
        );
        assert_eq!(m.read_only, Some(true));
        let v = parse("source=v1,target=/d,volume-nocopy,volume-opt=type=tmpfs,volume-label=a=b")
            .expect("volume");
        let vo = v.volume_options.expect("opts");
        assert_eq!(vo.no_copy, Some(true));
        assert_eq!(
            vo.labels.expect("labels").get("a").map(String::as_str),
            Some("b")
        );
        let t = parse("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").expect("tmpfs");
        let to = t.tmpfs_options.expect("tmpfs");
        assert_eq!((to.size_bytes, to.mode), (Some(1 << 20), Some(0o1770)));
        assert!(parse("type=bind,src=/a,dst=/b,consistency=cached").is_ok());
        assert_eq!(
            parse("type=bind,src=/a,dst=/b,foo=bar").expect_err("key"),
            "unexpected key 'foo' in 'foo=bar'"
        );
        assert_eq!(
            parse("type=volume").expect_err("target"),
            "target is required"
        );
        assert_eq!(
            parse("type=bind,src=/a,dst=/b,tmpfs-size=1m").expect_err("mix"),
            "cannot mix 'tmpfs-*' options with mount type 'bind'"
        );
        assert_eq!(
            parse_mount("type=volume,dst=/x,bogus=1").expect_err("flag").to_string(),
            "invalid argument \"type=volume,dst=/x,bogus=1\" for \"--mount\" flag: unexpected key 'bogus' in 'bogus=1'"
        );
    }
}
