//! At start: each mount point made ready (volumes mounted by their driver, empty volumes filled
//! from the image, missing `-v` host directories created) and its target created and resolved
//! inside the container's root, so the runtime receives a destination without symlinks; a
//! symlink in the image pointing at `/` or `../..` resolves inside the rootfs (the runc
//! CVE-2021-30465 class).

use std::path::Path;

use berth_runtime::in_root::Root;
use berth_runtime::spec::SpecMount;
use berth_types::{Error, Result};

use crate::container::record::Container;
use crate::daemon::Daemon;
use crate::mount::points::{MountKind, MountPoint};

fn target_err(dest: &str, e: std::io::Error) -> Error {
    Error::invalid(format!(
        "creating mount target {dest} in the container: {e}"
    ))
}

/// `dest` made to exist in the root (a directory, or a file for a file bind) and given back in
/// its canonical in-root form.
fn prepare_target(root: &Root, dest: &str, is_dir: bool) -> Result<String> {
    if is_dir {
        root.mkdir_all(dest, 0o755)
            .map_err(|e| target_err(dest, e))?;
    } else {
        let parent = dest
            .rsplit_once('/')
            .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
        root.mkdir_all(parent, 0o755)
            .map_err(|e| target_err(dest, e))?;
        root.create_file(dest, 0o644)
            .map_err(|e| target_err(dest, e))?;
    }
    root.canonical(dest).map_err(|e| target_err(dest, e))
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

/// tmpfs options: dockerd's defaults first, so the user's can override them.
fn tmpfs_options(rw: bool, extra: &str) -> Vec<String> {
    let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
    opts.push(if rw { "rw" } else { "ro" }.into());
    opts.extend(
        extra
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string),
    );
    opts
}

impl Daemon {
    /// The user's mounts for the spec of container `c` with its rootfs mounted at `rootfs`.
    pub(crate) fn prepare_mounts(&self, c: &Container, rootfs: &Path) -> Result<Vec<SpecMount>> {
        let root =
            Root::open(rootfs).map_err(|e| Error::internal(format!("opening the rootfs: {e}")))?;
        let mut points: Vec<&MountPoint> = c.mount_points.iter().collect();
        // Parents before children, as dockerd sorts them.
        points.sort_by_key(|m| m.destination.split('/').filter(|p| !p.is_empty()).count());
        // A failure part way leaves driver-mounted volumes to the caller's release.
        let mut out = Vec::new();
        for mp in points {
            out.push(self.prepare_one(&root, mp)?);
            if let Some(name) = mp.volume_name() {
                // dockerd's `setupMounts` logs `mount` for each volume.
                self.events.emit(
                    crate::system::events::Kind::Volume,
                    "mount",
                    name,
                    std::collections::HashMap::from([
                        ("driver".to_string(), mp.driver.clone()),
                        ("container".to_string(), c.id.clone()),
                        ("destination".to_string(), mp.destination.clone()),
                        ("read/write".to_string(), mp.rw.to_string()),
                        ("propagation".to_string(), mp.propagation.clone()),
                    ]),
                );
            }
        }
        for (dest, opts) in c.host_config.tmpfs.clone().unwrap_or_default() {
            let dest = prepare_target(&root, &crate::mount::points::clean(&dest), true)?;
            out.push(SpecMount {
                destination: dest,
                typ: "tmpfs".into(),
                source: "tmpfs".into(),
                options: tmpfs_options(true, &opts),
            });
        }
        out.sort_by_key(|m| m.destination.split('/').filter(|p| !p.is_empty()).count());
        Ok(out)
    }

    fn prepare_one(&self, root: &Root, mp: &MountPoint) -> Result<SpecMount> {
        let mut options = vec!["rbind".to_string()];
        let source = match mp.kind {
            MountKind::Volume => {
                let record = self
                    .volumes
                    .get(&mp.name)?
                    .ok_or_else(|| Error::not_found(format!("get {}: no such volume", mp.name)))?;
                let data = self.volume_activate(&record)?;
                let data = if mp.subpath.is_empty() {
                    data
                } else {
                    volume_subpath(&data, &mp.subpath)?
                };
                let dest = prepare_target(root, &mp.destination, data.is_dir())?;
                if mp.copy_data && mp.subpath.is_empty() && is_empty_dir(&data) {
                    if let Ok(src) = root.open_dir(&dest) {
                        crate::mount::copy_up::copy_dir(&src, &data)
                            .map_err(|e| Error::internal(e.to_string()))?;
                    }
                }
                options.push("rprivate".into());
                return Ok(self.bind_spec(dest, &data, mp.rw, options));
            }
            MountKind::Bind => {
                let src = Path::new(&mp.source);
                if !src.exists() {
                    if !mp.create_source {
                        return Err(Error::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            mp.source
                        )));
                    }
                    std::fs::create_dir_all(src).map_err(|e| {
                        Error::internal(format!(
                            "error while creating mount source path '{}': {e}",
                            mp.source
                        ))
                    })?;
                }
                src.to_path_buf()
            }
            MountKind::Tmpfs => {
                let dest = prepare_target(root, &mp.destination, true)?;
                return Ok(SpecMount {
                    destination: dest,
                    typ: "tmpfs".into(),
                    source: "tmpfs".into(),
                    options: tmpfs_options(mp.rw, &mp.tmpfs_options),
                });
            }
        };
        let dest = prepare_target(root, &mp.destination, source.is_dir())?;
        options.push(if mp.propagation.is_empty() {
            "rprivate".into()
        } else {
            mp.propagation.clone()
        });
        Ok(self.bind_spec(dest, &source, mp.rw, options))
    }

    fn bind_spec(
        &self,
        dest: String,
        source: &Path,
        rw: bool,
        mut options: Vec<String>,
    ) -> SpecMount {
        if !rw {
            options.push("ro".into());
        }
        SpecMount {
            destination: dest,
            typ: "bind".into(),
            source: source.display().to_string(),
            options,
        }
    }
}

/// The directory `subpath` of a volume's `data`, resolved beneath it (symlinks followed, but
/// never out of it), as moby's `safepath.Join`: its symlink-free host path, for the mount.
/// Missing: 404 `cannot access path ...`; escaping: 400 `path concatenation escapes ...`.
pub(crate) fn volume_subpath(data: &Path, subpath: &str) -> Result<std::path::PathBuf> {
    use berth_snapshot::fsread::{self, Resolve};
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;
    let base = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(data)
        .map_err(|e| Error::not_found(format!("cannot access path {}: {e}", data.display())))?;
    let combined = data.join(subpath);
    let fd = fsread::open_beneath(
        base.as_fd(),
        subpath.as_bytes(),
        libc::O_PATH,
        Resolve::Beneath,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::EXDEV) | Some(libc::ELOOP) => Error::invalid(format!(
            "path concatenation escapes the base directory, base: {}, subpath: {subpath}",
            data.display()
        )),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => Error::not_found(format!(
            "cannot access path {}: lstat {}: no such file or directory",
            combined.display(),
            combined.display()
        )),
        _ => Error::internal(format!("cannot access path {}: {e}", combined.display())),
    })?;
    fsread::fd_path(fd.as_fd())
        .map_err(|e| Error::internal(format!("cannot access path {}: {e}", combined.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_inside_the_root() {
        let rootfs = tempfile::tempdir().expect("rootfs");
        std::os::unix::fs::symlink("/", rootfs.path().join("escape")).expect("abs link");
        std::os::unix::fs::symlink("../../../..", rootfs.path().join("up")).expect("rel link");
        let root = Root::open(rootfs.path()).expect("open");
        assert_eq!(
            prepare_target(&root, "/escape/data", true).expect("abs"),
            "/data"
        );
        assert!(
            rootfs.path().join("data").is_dir(),
            "created inside the root"
        );
        assert_eq!(
            prepare_target(&root, "/up/tmp/x", true).expect("rel"),
            "/tmp/x"
        );
        assert!(rootfs.path().join("tmp/x").is_dir());
        assert_eq!(
            prepare_target(&root, "/etc/conf", false).expect("file"),
            "/etc/conf"
        );
        assert!(rootfs.path().join("etc/conf").is_file());
        assert_eq!(
            tmpfs_options(true, "size=1m,exec"),
            ["nosuid", "nodev", "noexec", "rw", "size=1m", "exec"]
        );
    }
}
