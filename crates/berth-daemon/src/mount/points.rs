//! A container's mount points: parsing `-v` (HostConfig.Binds), `--mount` (HostConfig.Mounts),
//! `--tmpfs`, `--volumes-from` and image volumes into one list, with dockerd's validation and
//! wording (moby's `volume/mounts/linux_parser.go`). Pure: nothing is created here.

use std::collections::HashMap;

use berth_api::models::{self, Mount, MountTypeEnum};
use berth_types::{Error, Result};
use serde::{Deserialize, Serialize};

/// The kind of a mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// One mount of a container, persisted in its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// The volume's name (volumes only; empty until an anonymous volume is created).
    #[serde(default)]
    pub name: String,
    /// Host path: the bind source or the volume's `_data`.
    #[serde(default)]
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub driver: String,
    /// The mode text of `-v` (`ro`, `z`, `nocopy`...), shown as dockerd shows it.
    #[serde(default)]
    pub mode: String,
    pub rw: bool,
    #[serde(default)]
    pub propagation: String,
    /// Fill an empty volume with the image's content at the destination.
    #[serde(default)]
    pub copy_data: bool,
    /// `-v /host:/x` creates a missing host directory; `--mount` refuses it.
    #[serde(default)]
    pub create_source: bool,
    /// tmpfs data options (`size=...,mode=...`).
    #[serde(default)]
    pub tmpfs_options: String,
    /// Labels and driver options for a volume this mount creates (`--mount volume-*`).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub volume_labels: HashMap<String, String>,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub volume_options: HashMap<String, String>,
    /// `VolumeOptions.Subpath`: the directory of the volume that is mounted (relative).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

impl MountPoint {
    pub fn is_volume(&self, name: &str) -> bool {
        self.kind == MountKind::Volume && self.name == name
    }

    pub fn volume_name(&self) -> Option<&str> {
        (self.kind == MountKind::Volume && !self.name.is_empty()).then_some(self.name.as_str())
    }

    /// As `docker inspect` shows it under `Mounts`.
    pub fn to_wire(&self) -> models::MountPoint {
        let typ = match self.kind {
            MountKind::Bind => models::MountPointTypeEnum::BIND,
            MountKind::Volume => models::MountPointTypeEnum::VOLUME,
            MountKind::Tmpfs => models::MountPointTypeEnum::TMPFS,
        };
        models::MountPoint {
            typ: Some(typ),
            name: (self.kind == MountKind::Volume).then(|| self.name.clone()),
            source: Some(self.source.clone()),
            destination: Some(self.destination.clone()),
            driver: (self.kind == MountKind::Volume).then(|| self.driver.clone()),
            mode: Some(self.mode.clone()),
            rw: Some(self.rw),
            propagation: Some(self.propagation.clone()),
        }
    }

    fn new(kind: MountKind, destination: String) -> Self {
        Self {
            kind,
            name: String::new(),
            source: String::new(),
            destination,
            driver: String::new(),
            mode: String::new(),
            rw: true,
            propagation: String::new(),
            copy_data: false,
            create_source: false,
            tmpfs_options: String::new(),
            volume_labels: HashMap::new(),
            volume_options: HashMap::new(),
            subpath: String::new(),
        }
    }
}

/// Go's `filepath.IsLocal` (unix): relative, not empty, and not climbing out by `..`.
fn is_local(path: &str) -> bool {
    if path.is_empty() || path.starts_with('/') {
        return false;
    }
    let mut depth = 0usize;
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];
const DEFAULT_PROPAGATION: &str = "rprivate";

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn invalid_mode(mode: &str) -> Error {
    Error::invalid(format!("invalid mode: {mode}"))
}

/// `path.Clean` for absolute container paths.
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// dockerd's `linuxValidMountMode`: each class (rw, label, propagation, copy, consistency) at
/// most once, nothing unknown.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let class = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            p if PROPAGATIONS.contains(&p) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[class] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

fn mode_has(mode: &str, opt: &str) -> bool {
    mode.split(',').any(|o| o == opt)
}

fn mount_config_err(kind: &str, msg: impl std::fmt::Display) -> String {
    format!("invalid mount config for type \"{kind}\": {msg}")
}

/// Target checks shared by every mount type.
fn check_target(kind: &str, target: &str) -> std::result::Result<(), String> {
    if target.is_empty() {
        return Err(mount_config_err(kind, "field Target must not be empty"));
    }
    if clean(target) == "/" {
        return Err(mount_config_err(
            kind,
            "invalid specification: destination can't be '/'",
        ));
    }
    if !target.starts_with('/') {
        return Err(mount_config_err(
            kind,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    Ok(())
}

/// One `-v` / `HostConfig.Binds` entry: `[source:]target[:mode]`.
pub fn parse_bind(raw: &str) -> Result<MountPoint> {
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(Error::invalid(invalid_spec(raw)));
    }
    let (source, target, mode) = match arr.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => {
            if valid_mode(t) {
                return Err(Error::invalid(invalid_spec(raw)));
            }
            (*s, *t, "")
        }
        [s, t, m] => (*s, *t, *m),
        _ => return Err(Error::invalid(invalid_spec(raw))),
    };
    if !valid_mode(mode) {
        return Err(invalid_mode(mode));
    }
    let kind = if source.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    let kind_name = if kind == MountKind::Bind {
        "bind"
    } else {
        "volume"
    };
    let wrap = |m: String| Error::invalid(format!("{}: {m}", invalid_spec(raw)));
    check_target(kind_name, target).map_err(wrap)?;
    let mut mp = MountPoint::new(kind, clean(target));
    mp.mode = mode.to_string();
    mp.rw = !mode_has(mode, "ro");
    match kind {
        MountKind::Bind => {
            mp.source = clean(source);
            mp.create_source = true;
            mp.propagation = mode
                .split(',')
                .find(|o| PROPAGATIONS.contains(o))
                .unwrap_or(DEFAULT_PROPAGATION)
                .to_string();
        }
        MountKind::Volume => {
            if !mp.rw && source.is_empty() {
                return Err(wrap(mount_config_err(
                    "volume",
                    "must not set ReadOnly mode when using anonymous volumes",
                )));
            }
            mp.name = source.to_string();
            mp.driver = crate::volume::lifecycle::LOCAL_DRIVER.into();
            mp.copy_data = !mode_has(mode, "nocopy");
        }
        MountKind::Tmpfs => {}
    }
    Ok(mp)
}

/// `size=` with dockerd's largest exact suffix.
fn tmpfs_size(bytes: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes % div == 0 {
            return format!("size={}{suffix}", bytes / div);
        }
    }
    format!("size={bytes}")
}

/// One `--mount` / `HostConfig.Mounts` entry (dockerd's `ValidateMountConfig` + `parseMountSpec`).
pub fn parse_mount(m: &Mount) -> Result<MountPoint> {
    let kind_name = m.typ.map(|t| t.to_string()).unwrap_or_default();
    let target = m.target.clone().unwrap_or_default();
    let source = m.source.clone().unwrap_or_default();
    let err = |msg: String| Error::invalid(msg);
    check_target(&kind_name, &target).map_err(err)?;
    let read_only = m.read_only.unwrap_or(false);
    let mut mp = match m.typ {
        Some(MountTypeEnum::BIND) => {
            if source.is_empty() {
                return Err(err(mount_config_err(
                    "bind",
                    "field Source must not be empty",
                )));
            }
            if m.volume_options.is_some() {
                return Err(err(mount_config_err(
                    "bind",
                    "field VolumeOptions must not be specified",
                )));
            }
            let propagation = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation)
                .map(|p| p.to_string())
                .filter(|p| !p.is_empty());
            if let Some(p) = &propagation {
                if !PROPAGATIONS.contains(&p.as_str()) {
                    return Err(err(mount_config_err(
                        "bind",
                        format!("invalid propagation mode: {p}"),
                    )));
                }
            }
            if !source.starts_with('/') {
                return Err(err(mount_config_err(
                    "bind",
                    format!("invalid mount path: '{source}' mount path must be absolute"),
                )));
            }
            let create = m
                .bind_options
                .as_ref()
                .and_then(|b| b.create_mountpoint)
                .unwrap_or(false);
            if !create && !std::path::Path::new(&source).exists() {
                return Err(err(mount_config_err(
                    "bind",
                    format!("bind source path does not exist: {source}"),
                )));
            }
            let mut mp = MountPoint::new(MountKind::Bind, clean(&target));
            mp.source = clean(&source);
            mp.create_source = create;
            mp.propagation = propagation.unwrap_or_else(|| DEFAULT_PROPAGATION.into());
            mp
        }
        Some(MountTypeEnum::VOLUME) => {
            if m.bind_options.is_some() {
                return Err(err(mount_config_err(
                    "volume",
                    "field BindOptions must not be specified",
                )));
            }
            if read_only && source.is_empty() {
                return Err(err(mount_config_err(
                    "volume",
                    "must not set ReadOnly mode when using anonymous volumes",
                )));
            }
            let mut mp = MountPoint::new(MountKind::Volume, clean(&target));
            mp.name = source;
            mp.copy_data = true;
            mp.driver = crate::volume::lifecycle::LOCAL_DRIVER.into();
            if let Some(vo) = &m.volume_options {
                if vo.no_copy == Some(true) {
                    mp.copy_data = false;
                }
                if let Some(sub) = vo.subpath.as_deref().filter(|s| !s.is_empty()) {
                    if mp.name.is_empty() {
                        return Err(err(mount_config_err(
                            "volume",
                            "must not set Subpath when using anonymous volumes",
                        )));
                    }
                    if !is_local(sub) {
                        return Err(err(mount_config_err(
                            "volume",
                            "subpath must be a relative path within the volume",
                        )));
                    }
                    mp.subpath = sub.to_string();
                }
                mp.volume_labels = vo.labels.clone().unwrap_or_default();
                if let Some(dc) = &vo.driver_config {
                    if let Some(n) = dc.name.clone().filter(|n| !n.is_empty()) {
                        mp.driver = n;
                    }
                    mp.volume_options = dc.options.clone().unwrap_or_default();
                }
            }
            mp
        }
        Some(MountTypeEnum::TMPFS) => {
            if m.bind_options.is_some() {
                return Err(err(mount_config_err(
                    "tmpfs",
                    "field BindOptions must not be specified",
                )));
            }
            if !source.is_empty() {
                return Err(err(mount_config_err(
                    "tmpfs",
                    "field Source must not be specified",
                )));
            }
            let mut opts = Vec::new();
            if let Some(t) = &m.tmpfs_options {
                if let Some(mode) = t.mode.filter(|m| *m != 0) {
                    opts.push(format!("mode={mode:o}"));
                }
                if let Some(size) = t.size_bytes.filter(|s| *s != 0) {
                    opts.push(tmpfs_size(size));
                }
                for o in t.options.clone().unwrap_or_default() {
                    match o.first().map(String::as_str) {
                        Some("exec" | "noexec") if o.len() <= 2 => opts.push(o.join("=")),
                        Some(other) => {
                            return Err(err(mount_config_err(
                                "tmpfs",
                                format!("invalid option: {other}"),
                            )))
                        }
                        None => {
                            return Err(err(mount_config_err(
                                "tmpfs",
                                "invalid option array length",
                            )))
                        }
                    }
                }
            }
            let mut mp = MountPoint::new(MountKind::Tmpfs, clean(&target));
            mp.tmpfs_options = opts.join(",");
            mp
        }
        _ => return Err(err(mount_config_err(&kind_name, "mount type unknown"))),
    };
    mp.rw = !read_only;
    Ok(mp)
}

/// `--volumes-from ctr[:mode]`: the container and whether its mounts stay writable.
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool)> {
    if spec.is_empty() {
        return Err(Error::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_string(), true));
    }
    if !valid_mode(mode)
        || mode
            .split(',')
            .any(|o| PROPAGATIONS.contains(&o) || o == "nocopy")
    {
        return Err(invalid_mode(mode));
    }
    Ok((id.to_string(), !mode_has(mode, "ro")))
}

/// `HostConfig.Tmpfs` destinations, checked as dockerd checks them.
pub fn tmpfs_destinations(tmpfs: &HashMap<String, String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for dest in tmpfs.keys() {
        check_target("tmpfs", dest)
            .map_err(|m| Error::invalid(format!("invalid tmpfs mount destination {dest}: {m}")))?;
        out.push(clean(dest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_dockerd() {
        let v = parse_bind("data:/srv/data:ro,nocopy").expect("volume");
        assert_eq!(v.kind, MountKind::Volume);
        assert_eq!(
            (v.name.as_str(), v.destination.as_str()),
            ("data", "/srv/data")
        );
        assert!(!v.rw && !v.copy_data);
        let b = parse_bind("/host/x:/x/").expect("bind");
        assert_eq!(b.kind, MountKind::Bind);
        assert_eq!(
            (b.source.as_str(), b.destination.as_str()),
            ("/host/x", "/x")
        );
        assert!(b.rw && b.create_source);
        assert_eq!(b.propagation, "rprivate");
        let a = parse_bind("/cache").expect("anonymous");
        assert!(a.name.is_empty() && a.copy_data);
        assert_eq!(
            parse_bind("/x:rw").expect_err("mode only").message,
            "invalid volume specification: '/x:rw'"
        );
        assert_eq!(
            parse_bind("/x:/y:bogus").expect_err("mode").message,
            "invalid mode: bogus"
        );
        assert_eq!(
            parse_bind("v1:rel").expect_err("relative").message,
            "invalid volume specification: 'v1:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert!(parse_bind("v1:/").is_err());
        assert!(parse_bind("/a:/b:ro,rw").is_err(), "two rw modes");
    }

    #[test]
    fn mounts_parse_like_dockerd() {
        let bind = Mount {
            typ: Some(MountTypeEnum::BIND),
            source: Some("relative/dir".into()),
            target: Some("/x".into()),
            ..Default::default()
        };
        assert_eq!(
            parse_mount(&bind).expect_err("relative").message,
            "invalid mount config for type \"bind\": invalid mount path: 'relative/dir' mount path must be absolute"
        );
        let missing = Mount {
            source: Some("/definitely/missing/dir".into()),
            ..bind.clone()
        };
        assert_eq!(
            parse_mount(&missing).expect_err("missing").message,
            "invalid mount config for type \"bind\": bind source path does not exist: /definitely/missing/dir"
        );
        let tmpfs = Mount {
            typ: Some(MountTypeEnum::TMPFS),
            target: Some("/t".into()),
            tmpfs_options: Some(models::MountTmpfsOptions {
                size_bytes: Some(2 << 20),
                mode: Some(0o1777),
                options: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            parse_mount(&tmpfs).expect("tmpfs").tmpfs_options,
            "mode=1777,size=2m"
        );
        let ro_anon = Mount {
            typ: Some(MountTypeEnum::VOLUME),
            target: Some("/v".into()),
            read_only: Some(true),
            ..Default::default()
        };
        assert!(parse_mount(&ro_anon).is_err());
    }

    #[test]
    fn volumes_from_modes() {
        assert_eq!(parse_volumes_from("c1").ok(), Some(("c1".into(), true)));
        assert_eq!(parse_volumes_from("c1:ro").ok(), Some(("c1".into(), false)));
        assert!(parse_volumes_from("c1:rshared").is_err());
        assert!(parse_volumes_from("").is_err());
        assert_eq!(clean("/a/../b/./c/"), "/b/c");
    }

    #[test]
    fn subpaths_must_be_local_as_go_says() {
        for ok in ["sub", "a/b", "a/../b", "./a", "a/"] {
            assert!(is_local(ok), "{ok}");
        }
        for bad in ["", "/a", "..", "../x", "a/../../x", "a/b/../../.."] {
            assert!(!is_local(bad), "{bad}");
        }
    }
}
