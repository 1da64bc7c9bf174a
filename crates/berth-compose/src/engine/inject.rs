//! Secrets and configs whose value is not a file (`environment:`, `content:`), written into the
//! container after create and before each start, as Compose v2 does (`pkg/compose/secrets.go`):
//! a one-file tar copied to `/` (`PUT /containers/{id}/archive`) with the reference's `uid`,
//! `gid` and `mode` (default 0444) in its header, `copyUIDGID` only when `uid` or `gid` is set.
//! File-based ones stay read-only bind mounts (`spec.rs`), where compose ignores `uid`/`gid`/
//! `mode` with a warning.

use berth_client::{body, CopyToOptions};

use super::{Engine, EngineError, Result};
use crate::model::{FileObjectConfig, FileReferenceConfig, Project, ServiceConfig};

/// Which kind of file object: where its target defaults to and how compose names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Config,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
}

/// The path in the container of a secret or config reference (compose's `isAbsTarget` rule).
pub fn target_of(r: &FileReferenceConfig, secret: bool) -> String {
    let base = if secret { "/run/secrets/" } else { "/" };
    if r.target.is_empty() {
        format!("{base}{}", r.source)
    } else if is_abs_target(&r.target) {
        r.target.clone()
    } else {
        format!("{base}{}", r.target)
    }
}

fn is_abs_target(p: &str) -> bool {
    if p.starts_with('/') || p.starts_with("\\\\") {
        return true;
    }
    let b = p.as_bytes();
    b.len() > 2 && b[1] == b':' && b[2] == b'\\'
}

/// Whether compose bind-mounts this object (a `file`), rather than writing it at start.
pub fn is_mounted(obj: &FileObjectConfig, secret: bool) -> bool {
    if secret {
        obj.environment.is_empty()
    } else {
        obj.environment.is_empty() && obj.content.is_empty()
    }
}

/// What compose refuses at create (`buildContainerSecretMounts`/`...ConfigMounts`): external
/// secrets and configs (swarm's) and the `driver`/`template_driver` keys.
pub fn check_objects(project: &Project, s: &ServiceConfig) -> Result<()> {
    for (refs, objs, kind) in [
        (&s.secrets, &project.secrets, Kind::Secret),
        (&s.configs, &project.configs, Kind::Config),
    ] {
        let plural = format!("{}s", kind.word());
        for r in refs {
            let Some(obj) = objs.get(&r.source) else {
                continue;
            };
            if obj.external {
                return Err(EngineError::msg(format!(
                    "unsupported external {} {}",
                    kind.word(),
                    obj.name
                )));
            }
            if !obj.driver.is_empty() {
                return Err(EngineError::msg(format!(
                    "Docker Compose does not support {plural}.*.driver"
                )));
            }
            if !obj.template_driver.is_empty() {
                return Err(EngineError::msg(format!(
                    "Docker Compose does not support {plural}.*.template_driver"
                )));
            }
        }
    }
    Ok(())
}

/// Compose's warnings at create for bind-mounted secrets and configs that ask for `uid`, `gid`
/// or `mode` (which a bind mount cannot give).
pub fn mount_warnings(project: &Project, s: &ServiceConfig) -> Vec<String> {
    let mut out = Vec::new();
    for (refs, objs, secret) in [
        (&s.secrets, &project.secrets, true),
        (&s.configs, &project.configs, false),
    ] {
        for r in refs {
            let Some(obj) = objs.get(&r.source) else {
                continue;
            };
            if obj.external || !is_mounted(obj, secret) {
                continue;
            }
            if !r.uid.is_empty() || !r.gid.is_empty() || r.mode.is_some() {
                let what = if secret { "secrets" } else { "config" };
                out.push(format!(
                    "{what} `uid`, `gid` and `mode` are not supported, they will be ignored"
                ));
            }
        }
    }
    out
}

/// The value of a non-file object: `content`, or the project environment's variable.
fn value_of(project: &Project, obj: &FileObjectConfig, kind: Kind) -> Result<Option<String>> {
    if !obj.environment.is_empty() {
        return match project.environment.get(&obj.environment) {
            Some(v) => Ok(Some(v.clone())),
            None => Err(EngineError::msg(format!(
                "environment variable {:?} required by {} {:?} is not set",
                obj.environment,
                kind.word(),
                obj.name
            ))),
        };
    }
    // Secrets have no `content` in the compose specification.
    if kind == Kind::Config && !obj.content.is_empty() {
        return Ok(Some(obj.content.clone()));
    }
    Ok(None)
}

/// Go's `strconv.Atoi` error wording, which compose returns for a bad `uid`/`gid`.
fn atoi(s: &str) -> Result<u64> {
    s.parse::<u64>()
        .map_err(|_| EngineError::msg(format!("strconv.Atoi: parsing {s:?}: invalid syntax")))
}

/// A tar holding one regular file at `target` (relative to `/`).
pub fn file_tar(target: &str, value: &[u8], r: &FileReferenceConfig) -> Result<Vec<u8>> {
    let uid = if r.uid.is_empty() { 0 } else { atoi(&r.uid)? };
    let gid = if r.gid.is_empty() { 0 } else { atoi(&r.gid)? };
    let mode = r.mode.map(|m| m.0).unwrap_or(0o444);
    let name = target.trim_start_matches('/');
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(value.len() as u64);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    h.set_mtime(now);
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut h, name, value)
        .map_err(|e| EngineError::msg(format!("{target}: {e}")))?;
    b.into_inner()
        .map_err(|e| EngineError::msg(format!("{target}: {e}")))
}

impl Engine {
    /// compose's `injectSecrets` then `injectConfigs`: writes each non-file secret and config
    /// of `s` into the (not yet started) container `id`.
    pub async fn inject_files(&self, project: &Project, s: &ServiceConfig, id: &str) -> Result<()> {
        for (refs, objs, kind) in [
            (&s.secrets, &project.secrets, Kind::Secret),
            (&s.configs, &project.configs, Kind::Config),
        ] {
            for r in refs {
                let Some(obj) = objs.get(&r.source) else {
                    continue;
                };
                let Some(value) = value_of(project, obj, kind)? else {
                    continue;
                };
                let target = target_of(r, kind == Kind::Secret);
                let tar = file_tar(&target, value.as_bytes(), r)?;
                let opts = CopyToOptions {
                    allow_overwrite_dir_with_file: false,
                    copy_uid_gid: !r.uid.is_empty() || !r.gid.is_empty(),
                };
                self.client
                    .copy_to_container(id, "/", opts, body::full(tar))
                    .await
                    .map_err(|e| {
                        EngineError::msg(format!(
                            "Error response from daemon: {}",
                            super::api_message(&e)
                        ))
                    })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileMode;

    #[test]
    fn targets_follow_compose() {
        let r = |source: &str, target: &str| FileReferenceConfig {
            source: source.into(),
            target: target.into(),
            ..Default::default()
        };
        assert_eq!(target_of(&r("a", ""), true), "/run/secrets/a");
        assert_eq!(target_of(&r("a", "b"), true), "/run/secrets/b");
        assert_eq!(target_of(&r("a", "/etc/b"), true), "/etc/b");
        assert_eq!(target_of(&r("a", ""), false), "/a");
        assert_eq!(target_of(&r("a", "rel"), false), "/rel");
    }

    #[test]
    fn external_and_driver_objects_are_refused() {
        let mut p = Project::default();
        let s = ServiceConfig {
            secrets: vec![FileReferenceConfig {
                source: "x".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        p.secrets.insert(
            "x".into(),
            FileObjectConfig {
                name: "p_x".into(),
                external: true,
                ..Default::default()
            },
        );
        let err = |p: &Project| check_objects(p, &s).err().map(|e| e.to_string());
        assert_eq!(err(&p), Some("unsupported external secret p_x".into()));
        if let Some(o) = p.secrets.get_mut("x") {
            o.external = false;
            o.driver = "d".into();
        }
        assert_eq!(
            err(&p),
            Some("Docker Compose does not support secrets.*.driver".into())
        );
        if let Some(o) = p.secrets.get_mut("x") {
            o.driver.clear();
            o.file = "/f".into();
        }
        assert_eq!(err(&p), None);
    }

    #[test]
    fn tar_header_carries_owner_and_mode() {
        let r = FileReferenceConfig {
            source: "s".into(),
            uid: "1000".into(),
            gid: "2000".into(),
            mode: Some(FileMode(0o400)),
            ..Default::default()
        };
        let t = file_tar("/run/secrets/s", b"v", &r).expect("tar");
        let mut a = tar::Archive::new(&t[..]);
        let e = a
            .entries()
            .expect("entries")
            .next()
            .expect("one")
            .expect("entry");
        let h = e.header();
        assert_eq!(h.path().expect("path").to_str(), Some("run/secrets/s"));
        assert_eq!(h.uid().ok(), Some(1000));
        assert_eq!(h.gid().ok(), Some(2000));
        assert_eq!(h.mode().ok(), Some(0o400));
        let d = FileReferenceConfig::default();
        let t = file_tar("/c", b"v", &d).expect("tar");
        let mut a = tar::Archive::new(&t[..]);
        let e = a
            .entries()
            .expect("entries")
            .next()
            .expect("one")
            .expect("entry");
        assert_eq!(e.header().mode().ok(), Some(0o444));
        let bad = FileReferenceConfig {
            uid: "x".into(),
            ..Default::default()
        };
        assert_eq!(
            file_tar("/c", b"v", &bad).err().map(|e| e.to_string()),
            Some("strconv.Atoi: parsing \"x\": invalid syntax".into())
        );
    }
}
