//! How the embedded runtime presents the cgroup filesystem inside a container, as runc does.
//!
//! The spec asks for one mount of type `cgroup` at `/sys/fs/cgroup` (`ro` unless privileged).
//! On a pure v2 host libcontainer mounts cgroup2 there with the spec's flags, which is right: in
//! a private cgroup namespace the container's own cgroup is the root. On a v1 or hybrid host it
//! does not: it bind-mounts cgroup directories read-write whatever the options say, and takes
//! them from the init's `/proc/self/cgroup`, where hierarchies its cgroup manager does not
//! manage (`name=systemd`, the cgroup2 one of a hybrid host) are still the caller's.
//!
//! So before handing a spec to libcontainer on such a host, [`present`] replaces the `cgroup`
//! mount with what runc builds for it: a tmpfs at the destination, each v1 hierarchy's own
//! cgroup of the container bind-mounted below it (read-only when the mount is), and names the
//! tmpfs that the init makes read-only once those binds are in place (libcontainer's
//! `rootfs::set_read_only_after_mounts`, vendored). A created container's init is put in its
//! cgroup of the hierarchies libcontainer leaves alone ([`make_unmanaged_dirs`], joined by the
//! vendored libcontainer where it joins the others), and [`Joined`] puts the process that
//! runs an exec there for the call, so the exec'd process inherits it (runc joins every
//! hierarchy); [`remove_unmanaged`] removes those cgroups again when the container is deleted.

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{MountBuilder, Spec};

/// Where the host's cgroup hierarchies are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers libcontainer's cgroup manager (libcgroups 0.7 `v1::CONTROLLERS`) places a
/// container in; every other hierarchy is left to [`make_unmanaged_dirs`] and [`Joined`].
const MANAGED_V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

#[derive(Debug, thiserror::Error)]
pub enum CgroupfsError {
    #[error("linux.cgroupsPath {0:?} is not a plain cgroup path")]
    BadCgroupsPath(String),
    #[error("building the cgroup mounts: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// One cgroup hierarchy mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// `/sys/fs/cgroup` itself for a pure v2 host, else a directory right below it.
    pub mount_point: PathBuf,
    /// cgroup2 rather than a v1 hierarchy.
    pub v2: bool,
    /// The superblock options: a v1 hierarchy's controllers and `name=...` among others.
    pub options: Vec<String>,
}

impl Hierarchy {
    /// Whether libcontainer's cgroup manager places the container in this hierarchy.
    fn managed(&self, layout: Layout) -> bool {
        if self.v2 {
            return layout == Layout::Unified;
        }
        self.options
            .iter()
            .any(|o| MANAGED_V1.contains(&o.as_str()))
    }

    /// Whether `controllers` (the middle field of a `/proc/<pid>/cgroup` line) names this one.
    fn is_line(&self, id: &str, controllers: &str) -> bool {
        if self.v2 {
            return id == "0" && controllers.is_empty();
        }
        !controllers.is_empty()
            && controllers
                .split(',')
                .all(|c| self.options.iter().any(|o| o == c))
    }
}

/// The three ways a host can lay out its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies, plus cgroup2 below `/sys/fs/cgroup` (usually `unified`).
    Hybrid,
    /// `/sys/fs/cgroup` is cgroup2.
    Unified,
}

/// The cgroup hierarchies mounted under [`CGROUP_ROOT`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    pub hierarchies: Vec<Hierarchy>,
}

impl Host {
    /// This process's view (`/proc/self/mountinfo`).
    pub fn current() -> Result<Host, CgroupfsError> {
        let path = Path::new("/proc/self/mountinfo");
        std::fs::read_to_string(path)
            .map(|text| Host::parse(&text))
            .map_err(|source| CgroupfsError::Io {
                what: "reading",
                path: path.into(),
                source,
            })
    }

    /// The cgroup mounts at or right below [`CGROUP_ROOT`] in a mountinfo table; a later mount
    /// on the same point hides an earlier one.
    pub fn parse(mountinfo: &str) -> Host {
        let hierarchies = cgroup_mount_lines(mountinfo)
            .into_iter()
            .map(|m| Hierarchy {
                mount_point: m.mount_point,
                v2: m.v2,
                options: split_options(m.super_options),
            })
            .collect();
        Host { hierarchies }
    }

    /// `None` when no cgroup filesystem is mounted under [`CGROUP_ROOT`].
    pub fn layout(&self) -> Option<Layout> {
        let root = Path::new(CGROUP_ROOT);
        if self
            .hierarchies
            .iter()
            .any(|h| h.v2 && h.mount_point == root)
        {
            return Some(Layout::Unified);
        }
        let v1 = self.hierarchies.iter().any(|h| !h.v2);
        let v2 = self.hierarchies.iter().any(|h| h.v2);
        match (v1, v2) {
            (true, true) => Some(Layout::Hybrid),
            (true, false) => Some(Layout::Legacy),
            _ => None,
        }
    }

    /// The hierarchies berth puts the container in itself: on a v1 or hybrid host the
    /// named ones (`name=systemd`), v1 ones of controllers libcontainer does not know, and the
    /// cgroup2 one of a hybrid host.
    pub fn unmanaged(&self) -> Vec<&Hierarchy> {
        let Some(layout) = self.layout() else {
            return Vec::new();
        };
        if layout == Layout::Unified {
            return Vec::new();
        }
        self.hierarchies
            .iter()
            .filter(|h| !h.managed(layout))
            .collect()
    }
}

/// The lines of a mountinfo table that say anything about cgroups: every `cgroup` and
/// `cgroup2` mount, and every mount at or right below [`CGROUP_ROOT`] (one may hide a cgroup
/// mount). [`Host::parse`] and libcgroups answer from them as from the whole table, which grows
/// by each running container's mounts; berthd hands them to the runtime once (see
/// `ShimConfig::cgroup_mounts`).
pub fn cgroup_lines(mountinfo: &str) -> String {
    let root = Path::new(CGROUP_ROOT);
    let mut kept = String::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let cgroup = matches!(fields.get(sep + 1), Some(&"cgroup" | &"cgroup2"));
        let near_root = fields.get(4).is_some_and(|p| {
            let p = PathBuf::from(unescape(p));
            p == root || p.parent() == Some(root)
        });
        if cgroup || near_root {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// One cgroup mount's line of mountinfo, its fields still as written there.
pub(crate) struct CgroupMountLine<'a> {
    pub mount_point: PathBuf,
    pub v2: bool,
    /// Per-mount options (`rw,nosuid,nodev,noexec,relatime`).
    pub mount_options: &'a str,
    /// Superblock options (a v1 hierarchy's controllers, `name=...`, `nsdelegate`, ...).
    pub super_options: &'a str,
}

/// The cgroup mounts at or right below [`CGROUP_ROOT`], in mountinfo order; a later mount on
/// the same point hides an earlier one (of any filesystem type).
pub(crate) fn cgroup_mount_lines(mountinfo: &str) -> Vec<CgroupMountLine<'_>> {
    let root = Path::new(CGROUP_ROOT);
    let mut mounts: Vec<CgroupMountLine<'_>> = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(point), Some(mount_options), Some(fstype), Some(super_options)) = (
            fields.get(4),
            fields.get(5),
            fields.get(sep + 1),
            fields.get(sep + 3),
        ) else {
            continue;
        };
        let point = PathBuf::from(unescape(point));
        mounts.retain(|m| m.mount_point != point);
        let v2 = match *fstype {
            "cgroup" => false,
            "cgroup2" => true,
            _ => continue,
        };
        if point != root && point.parent() != Some(root) {
            continue;
        }
        mounts.push(CgroupMountLine {
            mount_point: point,
            v2,
            mount_options,
            super_options,
        });
    }
    mounts
}

pub(crate) fn split_options(options: &str) -> Vec<String> {
    options.split(',').map(str::to_string).collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `linux.cgroupsPath` as a path relative to a hierarchy's root (libcgroups places a container
/// at `<mount point>/<cgroupsPath>`, absolute or not). Only plain names are accepted.
pub fn relative_cgroup(cgroups_path: &str) -> Result<PathBuf, CgroupfsError> {
    let mut rel = PathBuf::new();
    for c in Path::new(cgroups_path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => rel.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupfsError::BadCgroupsPath(cgroups_path.to_string()))
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(CgroupfsError::BadCgroupsPath(cgroups_path.to_string()));
    }
    Ok(rel)
}

fn cgroups_path(spec: &Spec) -> Option<&Path> {
    spec.linux().as_ref()?.cgroups_path().as_deref()
}

/// Replaces the spec's `cgroup` mount with runc's presentation on a v1 or hybrid `host` (see the
/// module documentation). Nothing changes on a pure v2 host, or without a `cgroup` mount.
pub fn present(spec: &mut Spec, host: &Host) -> Result<Presentation, CgroupfsError> {
    match host.layout() {
        Some(Layout::Legacy | Layout::Hybrid) => {}
        Some(Layout::Unified) | None => return Ok(Presentation::Unchanged),
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let Some(index) = mounts
        .iter()
        .position(|m| m.typ().as_deref() == Some("cgroup"))
    else {
        return Ok(Presentation::Unchanged);
    };
    let rel = cgroups_path(spec)
        .map(|p| relative_cgroup(&p.to_string_lossy()))
        .ok_or_else(|| CgroupfsError::BadCgroupsPath(String::new()))??;
    let cgroup = mounts.remove(index);
    let options = cgroup.options().clone().unwrap_or_default();
    let read_only = options.iter().any(|o| o == "ro");
    let dest = cgroup.destination().clone();
    // The flags the spec gives every cgroup mount (nosuid, noexec, nodev), ro or rw last.
    let mut flags: Vec<String> = options
        .iter()
        .filter(|o| matches!(o.as_str(), "nosuid" | "noexec" | "nodev"))
        .cloned()
        .collect();
    flags.push(if read_only { "ro" } else { "rw" }.to_string());

    let mut replacement = vec![MountBuilder::default()
        .destination(&dest)
        .typ("tmpfs")
        .source("tmpfs")
        .options(
            ["nosuid", "noexec", "nodev", "mode=755"]
                .map(String::from)
                .to_vec(),
        )
        .build()?];
    let mut names = BTreeSet::new();
    for h in host.hierarchies.iter().filter(|h| !h.v2) {
        let Some(name) = h.mount_point.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        names.insert(name.to_string());
    }
    for h in host.hierarchies.iter().filter(|h| !h.v2) {
        let Some(name) = h.mount_point.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let source = h.mount_point.join(&rel);
        // A comounted hierarchy (`cpu,cpuacct`) is also reachable under each controller's name,
        // as the host's symlinks make it (runc creates the same symlinks).
        let mut at = vec![name.to_string()];
        if name.contains(',') {
            at.extend(
                name.split(',')
                    .filter(|n| !n.is_empty() && !names.contains(*n))
                    .map(str::to_string),
            );
        }
        for n in at {
            let mut opts = vec!["rbind".to_string()];
            opts.extend(flags.iter().cloned());
            replacement.push(
                MountBuilder::default()
                    .destination(dest.join(&n))
                    .typ("bind")
                    .source(&source)
                    .options(opts)
                    .build()?,
            );
        }
    }
    mounts.splice(index..index, replacement);
    spec.set_mounts(Some(mounts));
    Ok(Presentation::Rewritten {
        seal: read_only.then_some(dest),
    })
}

/// What [`present`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presentation {
    /// Nothing to do on this host (pure v2, or no `cgroup` mount).
    Unchanged,
    /// The mount was replaced; `seal` is the tmpfs the init makes read-only once its bind
    /// mounts are in place.
    Rewritten { seal: Option<PathBuf> },
}

/// The calling process moved into the container's cgroup of each hierarchy in
/// [`Host::unmanaged`], until dropped (then it goes back where it was). Processes it forks
/// meanwhile, the container's, stay.
#[derive(Debug)]
pub struct Joined {
    back: Vec<PathBuf>,
}

impl Joined {
    pub fn new(host: &Host, cgroups_path: &str) -> Result<Joined, CgroupfsError> {
        let own =
            std::fs::read_to_string("/proc/self/cgroup").map_err(|source| CgroupfsError::Io {
                what: "reading",
                path: "/proc/self/cgroup".into(),
                source,
            })?;
        let mut joined = Joined { back: Vec::new() };
        let dirs = make_unmanaged_dirs(host, cgroups_path)?;
        for (h, dir) in host.unmanaged().into_iter().zip(dirs) {
            let current = own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                h.is_line(id, controllers).then(|| path.to_string())
            });
            let procs = dir.join("cgroup.procs");
            std::fs::write(&procs, "0").map_err(|source| CgroupfsError::Io {
                what: "joining",
                path: procs,
                source,
            })?;
            if let Some(current) = current {
                let current = relative_cgroup(&current).unwrap_or_default();
                joined
                    .back
                    .push(h.mount_point.join(current).join("cgroup.procs"));
            }
        }
        Ok(joined)
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        for procs in &self.back {
            if let Err(e) = std::fs::write(procs, "0") {
                tracing::warn!("returning to {}: {e}", procs.display());
            }
        }
    }
}

/// Makes the container's cgroup directory in each hierarchy of [`Host::unmanaged`] and returns
/// them: a created container's init joins them (see libcontainer's
/// `set_unmanaged_cgroup_dirs`), and binds them into its `/sys/fs/cgroup` as it sets itself up,
/// so they exist before it is cloned.
pub fn make_unmanaged_dirs(host: &Host, cgroups_path: &str) -> Result<Vec<PathBuf>, CgroupfsError> {
    let rel = relative_cgroup(cgroups_path)?;
    let mut dirs = Vec::new();
    for h in host.unmanaged() {
        let dir = h.mount_point.join(&rel);
        std::fs::create_dir_all(&dir).map_err(|source| CgroupfsError::Io {
            what: "creating the cgroup",
            path: dir.clone(),
            source,
        })?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Removes the container's cgroups that [`Joined`] created (once its processes are gone).
pub fn remove_unmanaged(host: &Host, cgroups_path: &str) -> Result<(), CgroupfsError> {
    let rel = relative_cgroup(cgroups_path)?;
    for h in host.unmanaged() {
        let dir = h.mount_point.join(&rel);
        let mut tries = 0;
        loop {
            match std::fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                // Exiting processes leave the cgroup a moment after the kill.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(source) => {
                    return Err(CgroupfsError::Io {
                        what: "removing the cgroup",
                        path: dir,
                        source,
                    })
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
