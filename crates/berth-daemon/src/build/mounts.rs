//! `RUN --mount=...`: the mount specs (BuildKit's `commands_runmount.go` rules and wording),
//! bind sources materialized from the context or an image, and the mount-point stubs the
//! runtime leaves in a RUN's layer, removed before it is committed.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_snapshot::container_path::ContainerRoot;
use berth_snapshot::fsread::{self, Resolve};
use berth_types::{Error, Result};

use super::context::{key_of, BuildContext, Kind};
use super::copy::{self, CopyPlan};

/// One `--mount` of a RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// A directory kept between builds, keyed by `id` (the target when not given).
    Cache {
        id: String,
        target: String,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    /// `source` of the context (`from` unset) or of a stage or image; writes to a `rw` one
    /// are discarded.
    Bind {
        from: Option<String>,
        source: String,
        target: String,
        read_only: bool,
    },
    /// The build secret `id` as a file at `target`.
    Secret {
        id: String,
        target: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl RunMount {
    pub fn target(&self) -> &str {
        match self {
            RunMount::Cache { target, .. }
            | RunMount::Tmpfs { target, .. }
            | RunMount::Bind { target, .. }
            | RunMount::Secret { target, .. } => target,
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg.into())
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(bad(format!("invalid value for {key}: {v}"))),
    }
}

fn parse_id(key: &str, v: &str) -> Result<u32> {
    v.parse()
        .map_err(|_| bad(format!("invalid value for {key}: {v}")))
}

/// Parses one `--mount` value.
pub fn parse(spec: &str) -> Result<RunMount> {
    let mut typ = "bind".to_string();
    let (mut from, mut source, mut target, mut id) = (None, None, None, None);
    let mut read_only: Option<bool> = None;
    let mut required = false;
    let (mut mode, mut uid, mut gid, mut size) = (None, None, None, None);
    let mut sharing = None;
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => read_only = Some(true),
                "readwrite" | "rw" => read_only = Some(false),
                "required" => required = true,
                _ => {
                    return Err(bad(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )))
                }
            }
            continue;
        };
        match key.as_str() {
            "type" => {
                let t = value.to_ascii_lowercase();
                if !["bind", "cache", "tmpfs", "secret", "ssh"].contains(&t.as_str()) {
                    return Err(bad(format!("unsupported mount type \"{value}\"")));
                }
                typ = t;
            }
            "from" => from = Some(value),
            "source" | "src" => source = Some(value),
            "target" | "dst" | "destination" => target = Some(value),
            "readonly" | "ro" => read_only = Some(parse_bool(&key, &value)?),
            "readwrite" | "rw" => read_only = Some(!parse_bool(&key, &value)?),
            "required" => required = parse_bool(&key, &value)?,
            "id" => id = Some(value),
            "sharing" => {
                if !["shared", "private", "locked"].contains(&value.to_ascii_lowercase().as_str())
                {
                    return Err(bad(format!("unsupported sharing value \"{value}\"")));
                }
                sharing = Some(value);
            }
            "mode" => {
                mode = Some(
                    u32::from_str_radix(&value, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| bad(format!("invalid value for mode: {value}")))?,
                )
            }
            "uid" => uid = Some(parse_id(&key, &value)?),
            "gid" => gid = Some(parse_id(&key, &value)?),
            "size" if typ == "tmpfs" => {
                size = Some(
                    berth_types::gocompat::units::ram_in_bytes(&value)
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| bad(format!("invalid value for size: {value}")))?,
                )
            }
            "env" => {
                return Err(bad(format!(
                    "--mount={spec}: secrets as environment variables (env=) are not supported by berth's builder; use a file target"
                )))
            }
            _ => return Err(bad(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let file_info_allowed = matches!(typ.as_str(), "secret" | "ssh" | "cache");
    if !file_info_allowed && (mode.is_some() || uid.is_some() || gid.is_some()) {
        let which = if mode.is_some() {
            "mode"
        } else if uid.is_some() {
            "uid"
        } else {
            "gid"
        };
        return Err(bad(format!(
            "{which} not allowed for \"{typ}\" type mounts"
        )));
    }
    if sharing.is_some() && typ != "cache" {
        return Err(bad(format!("invalid cache sharing set for {typ} mount")));
    }
    if required && !matches!(typ.as_str(), "secret" | "ssh") {
        return Err(bad(format!(
            "unexpected key 'required' for mount type '{typ}'"
        )));
    }
    let need_target = |t: Option<String>| {
        t.filter(|t| !t.is_empty())
            .ok_or_else(|| bad(format!("--mount={spec}: mount target is required")))
    };
    Ok(match typ.as_str() {
        "bind" => RunMount::Bind {
            from: from.filter(|f| !f.is_empty()),
            source: source.unwrap_or_else(|| "/".into()),
            target: need_target(target)?,
            read_only: read_only.unwrap_or(true),
        },
        "cache" => {
            if from.is_some() || source.is_some() {
                return Err(bad(format!(
                    "--mount={spec}: cache mounts seeded from a stage (from=, source=) are not supported by berth's builder"
                )));
            }
            let target = need_target(target)?;
            RunMount::Cache {
                id: id.filter(|i| !i.is_empty()).unwrap_or_else(|| target.clone()),
                target,
                mode,
                uid,
                gid,
            }
        }
        "tmpfs" => RunMount::Tmpfs {
            target: need_target(target)?,
            size,
        },
        "secret" => {
            if from.is_some() {
                return Err(bad("secret mount should not have a from"));
            }
            if source.is_none() && target.is_none() && id.is_none() {
                return Err(bad("invalid secret mount. one of source, target required"));
            }
            if source.is_some() && id.is_some() {
                return Err(bad("both source and id can't be set"));
            }
            let id = source
                .or(id)
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| go_base(target.as_deref().unwrap_or_default()));
            let target = target
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| format!("/run/secrets/{}", go_base(&id)));
            RunMount::Secret {
                id,
                target,
                required,
                mode: mode.unwrap_or(0o400),
                uid: uid.unwrap_or(0),
                gid: gid.unwrap_or(0),
            }
        }
        other => {
            return Err(bad(format!(
                "--mount=type={other} is not supported by berth's builder (bind, cache, tmpfs and secret are)"
            )))
        }
    })
}

fn go_base(p: &str) -> String {
    berth_snapshot::container_path::go_base(p)
}

/// The stages or images RUN mounts read from (`--mount=type=bind,from=...`), for planning.
pub fn from_refs(run: &berth_dockerfile::Run) -> Vec<String> {
    run.mounts
        .iter()
        .filter_map(|m| match parse(m) {
            Ok(RunMount::Bind { from: Some(f), .. }) => Some(f),
            _ => None,
        })
        .collect()
}

/// The context key a bind mount's `source` names in `ctx` (symlinks followed inside it).
pub fn bind_source_key(ctx: &BuildContext, source: &str, from: &str) -> Result<String> {
    let key = key_of(source).unwrap_or_default();
    ctx.resolve(&key, true)
        .filter(|k| ctx.entry(k).is_some())
        .ok_or_else(|| {
            bad(format!(
                "failed to compute cache key: failed to calculate checksum of ref: \"/{key}\" not found in {from}"
            ))
        })
}

/// Copies `key` of `ctx` (a file or a directory tree) into a fresh directory below `parent`
/// and returns that directory and the path to bind: the tree's root, or the file in it.
/// Names are extracted inside the directory (openat2), owners are kept.
pub fn materialize(ctx: &BuildContext, key: &str, parent: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = parent.join(berth_types::id::generate());
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
    let result = (|| {
        let root = ContainerRoot::open(&dir)
            .map_err(|e| Error::internal(format!("opening {}: {e}", dir.display())))?;
        let plan = CopyPlan {
            sources: vec![key.to_string()],
            dest: "/".into(),
            chown: None,
            chmod: None,
            extract_archives: false,
            excludes: Vec::new(),
            keep_owners: true,
            parents: None,
        };
        let mut tar_bytes = Vec::new();
        copy::write_copy_tar(ctx, &plan, &root, &dir, None, "RUN --mount", &mut tar_bytes)?;
        let opts = berth_snapshot::unpack::UnpackOptions {
            whiteouts: false,
            no_overwrite_dir_non_dir: false,
            chown: None,
            root_metadata: false,
            root_name: "/".to_string(),
        };
        berth_snapshot::unpack::unpack_at(&tar_bytes[..], root.fd(), opts)
            .map_err(|e| Error::invalid(e.to_string()))?;
        Ok(match ctx.entry(key).map(|e| &e.kind) {
            Some(Kind::Dir) | None => dir.clone(),
            Some(_) => dir.join(key.rsplit('/').next().unwrap_or(key)),
        })
    })();
    match result {
        Ok(path) => Ok((dir, path)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

/// Removes what the runtime created in a RUN's upper directory only to mount over: each
/// target that is an empty file or directory there, then its parents while they are empty.
/// Symlinks are never followed (a component that is one stops the walk) and overlay opaque
/// directories are kept, since removing them would bring back what they hide.
pub fn remove_stubs(upper: &Path, targets: &[String]) -> Result<()> {
    let io =
        |e: std::io::Error| Error::internal(format!("cleaning mount points in the layer: {e}"));
    let root = OwnedFd::from(std::fs::File::open(upper).map_err(io)?);
    let mut sorted: Vec<&String> = targets.iter().collect();
    // Deepest first, so a nested target's parent is seen empty.
    sorted.sort_by_key(|t| std::cmp::Reverse(t.matches('/').count()));
    for t in sorted {
        let key = key_of(t).unwrap_or_default();
        let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
        remove_chain(root.as_fd(), &parts).map_err(io)?;
    }
    Ok(())
}

fn remove_chain(root: std::os::fd::BorrowedFd<'_>, parts: &[&str]) -> std::io::Result<()> {
    for depth in (1..=parts.len()).rev() {
        let parent_path = parts[..depth - 1].join("/");
        let parent = match fsread::open_beneath(
            root,
            parent_path.as_bytes(),
            libc::O_PATH | libc::O_DIRECTORY,
            Resolve::NoSymlinks,
        ) {
            Ok(fd) => fd,
            Err(_) => return Ok(()),
        };
        let name = CString::new(parts[depth - 1]).map_err(std::io::Error::other)?;
        if !is_empty_stub(&parent, &name)? {
            return Ok(());
        }
        let flag = if is_dir_at(&parent, &name)? {
            nix::unistd::UnlinkatFlags::RemoveDir
        } else {
            nix::unistd::UnlinkatFlags::NoRemoveDir
        };
        nix::unistd::unlinkat(
            Some(std::os::fd::AsRawFd::as_raw_fd(&parent)),
            name.as_c_str(),
            flag,
        )
        .map_err(std::io::Error::from)?;
    }
    Ok(())
}

fn lstat_at(dir: &OwnedFd, name: &CString) -> std::io::Result<Option<libc::stat>> {
    match nix::sys::stat::fstatat(
        Some(std::os::fd::AsRawFd::as_raw_fd(dir)),
        name.as_c_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => Ok(Some(st)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_dir_at(dir: &OwnedFd, name: &CString) -> std::io::Result<bool> {
    Ok(lstat_at(dir, name)?.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR))
}

fn is_empty_stub(dir: &OwnedFd, name: &CString) -> std::io::Result<bool> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(false);
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Ok(st.st_size == 0),
        libc::S_IFDIR => {
            for key in [c"trusted.overlay.opaque", c"user.overlay.opaque"] {
                if fsread::lgetxattrat(dir.as_fd(), name.as_bytes(), key)?.is_some() {
                    return Ok(false);
                }
            }
            let sub = fsread::openat_nofollow(dir.as_fd(), name, libc::O_PATH | libc::O_DIRECTORY)?;
            Ok(fsread::list_dir(sub.as_fd())?.is_empty())
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn specs_parse_with_buildkit_defaults() {
        assert_eq!(
            parse("type=secret,id=tok").unwrap(),
            RunMount::Secret {
                id: "tok".into(),
                target: "/run/secrets/tok".into(),
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0
            }
        );
        assert_eq!(
            parse("type=secret,target=/root/.npmrc,required,mode=0440,uid=1").unwrap(),
            RunMount::Secret {
                id: ".npmrc".into(),
                target: "/root/.npmrc".into(),
                required: true,
                mode: 0o440,
                uid: 1,
                gid: 0
            }
        );
        assert_eq!(
            parse("target=/src").unwrap(),
            RunMount::Bind {
                from: None,
                source: "/".into(),
                target: "/src".into(),
                read_only: true
            }
        );
        assert!(matches!(
            parse("type=bind,from=build,source=/out,target=/in,rw").unwrap(),
            RunMount::Bind {
                read_only: false,
                ..
            }
        ));
        assert!(matches!(
            parse("type=cache,target=/c").unwrap(),
            RunMount::Cache { ref id, .. } if id == "/c"
        ));
    }

    #[test]
    fn bad_specs_use_buildkit_wording() {
        let msg = |s: &str| parse(s).unwrap_err().message;
        assert_eq!(msg("type=nfs,target=/x"), "unsupported mount type \"nfs\"");
        assert_eq!(
            msg("type=bind,target=/x,mode=0600"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            msg("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            msg("type=secret,id=a,from=x"),
            "secret mount should not have a from"
        );
        assert_eq!(
            msg("type=bind,target=/x,bogus=1"),
            "unexpected key 'bogus' in 'bogus=1'"
        );
        assert!(msg("type=bind").contains("mount target is required"));
        assert!(msg("type=bind,target=/x,required").contains("unexpected key 'required'"));
    }

    #[test]
    fn stubs_go_but_content_and_opaque_dirs_stay() {
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        std::fs::create_dir_all(u.join("run/secrets")).unwrap();
        std::fs::write(u.join("run/secrets/tok"), b"").unwrap();
        std::fs::create_dir_all(u.join("cache/dir")).unwrap();
        std::fs::write(u.join("cache/kept.txt"), b"data").unwrap();
        std::fs::create_dir_all(u.join("real")).unwrap();
        std::fs::write(u.join("real/file"), b"written by RUN").unwrap();
        // A symlink on the way is never followed.
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("victim")).unwrap();
        std::os::unix::fs::symlink(outside.path(), u.join("link")).unwrap();
        remove_stubs(
            u,
            &[
                "/run/secrets/tok".into(),
                "/cache/dir".into(),
                "/real/file".into(),
                "/link/victim".into(),
            ],
        )
        .unwrap();
        assert!(
            !u.join("run").exists(),
            "the stub and its empty parents are gone"
        );
        assert!(!u.join("cache/dir").exists());
        assert!(u.join("cache/kept.txt").exists());
        assert!(u.join("real/file").exists(), "a file with content stays");
        assert!(
            outside.path().join("victim").exists(),
            "symlinks are not followed"
        );
    }
}
