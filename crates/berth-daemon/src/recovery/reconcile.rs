//! After a crash: what runs on the host for a container id (its shim, the processes in its
//! cgroup) and what the runtime left (bundle, shim socket, runtime state, netns pin, rootfs
//! mount, cgroup) is found from the exec root and removed when no record says it should run.
//!
//! Only ids found under this daemon's own exec root (or in its records) are touched: other
//! daemons on the same host share `/sys/fs/cgroup/berth`, so cgroups are never swept blindly.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::daemon::Daemon;
use crate::runtime::cgroups::ROOT as CGROUP_ROOT;
use crate::runtime::shim;

/// How long a shim gets to kill its container and exit before it is killed itself.
const SHIM_GRACE: Duration = Duration::from_secs(10);
/// How long the processes of a cgroup get to die after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How thoroughly [`Daemon::purge_runtime`] looks for processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweep {
    /// The shim's socket and the cgroup: safe while a finished shim still drains output to
    /// its clients (it has removed its socket by then and is left alone).
    Socket,
    /// Also every `berth-shim` process started on this id's bundle (after a crash).
    Processes,
}

/// `berth-shim` processes of this daemon, by container id: those whose command line is
/// `<shim> <exec-root>/bundles/<id>/shim.json`.
pub(crate) fn shim_processes(exec_root: &Path) -> BTreeMap<String, Vec<i32>> {
    let bundles = exec_root.join("bundles");
    let bundles_abs = std::path::absolute(&bundles).unwrap_or_else(|_| bundles.clone());
    let mut found: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .collect();
        let [_, config] = args.as_slice() else {
            continue;
        };
        let config = Path::new(std::ffi::OsStr::from_bytes(config));
        if config.file_name() != Some(std::ffi::OsStr::new("shim.json")) {
            continue;
        }
        let Some(bundle) = config.parent() else {
            continue;
        };
        let parent = bundle.parent();
        if parent != Some(bundles.as_path()) && parent != Some(bundles_abs.as_path()) {
            continue;
        }
        if let Some(id) = bundle.file_name().and_then(|n| n.to_str()) {
            found.entry(id.to_string()).or_default().push(pid);
        }
    }
    found
}

/// The directories of cgroup `/berth/<id>` in every hierarchy.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let rel = format!("berth/{id}");
    if crate::runtime::cgroups::is_unified() {
        let dir = Path::new(CGROUP_ROOT).join(&rel);
        return if dir.is_dir() { vec![dir] } else { Vec::new() };
    }
    let Ok(entries) = std::fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path().join(&rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// `dir` and every cgroup below it, deepest first.
fn cgroup_tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(cgroup_tree(&e.path()));
            }
        }
    }
    out.push(dir.to_path_buf());
    out
}

fn cgroup_pids(dirs: &[PathBuf]) -> BTreeSet<i32> {
    dirs.iter()
        .flat_map(|d| cgroup_tree(d))
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Kills every process in cgroup `/berth/<id>` (thawing it first) and removes the cgroup.
pub(crate) fn kill_and_remove_cgroup(id: &str) {
    let dirs = cgroup_dirs(id);
    if dirs.is_empty() {
        return;
    }
    for dir in &dirs {
        // A paused container must be thawed, or (under cgroup v1) its killed processes stay.
        let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
        let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
        let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    }
    let deadline = Instant::now() + KILL_GRACE;
    loop {
        let pids = cgroup_pids(&dirs);
        if pids.is_empty() || Instant::now() >= deadline {
            if !pids.is_empty() {
                tracing::warn!(container = %id, ?pids, "processes outlived SIGKILL");
            }
            break;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for dir in &dirs {
        for d in cgroup_tree(dir) {
            let start = Instant::now();
            // rmdir fails with EBUSY until the last zombie of the cgroup is reaped.
            while let Err(e) = std::fs::remove_dir(&d) {
                if e.kind() == std::io::ErrorKind::NotFound || start.elapsed() > KILL_GRACE {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(cgroup = %d.display(), error = %e, "removing cgroup");
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Daemon {
    /// Where the runtime keeps container `id`'s state (`runc --root` layout, also the embedded
    /// runtime's).
    pub(crate) fn runtime_state_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("runtime").join(id)
    }

    /// Whether anything of an earlier run of `id` may still be on the host.
    pub(crate) fn has_runtime_leftovers(&self, id: &str) -> bool {
        self.shim_socket(id).exists()
            || self.bundle_dir(id).exists()
            || self.runtime_state_dir(id).exists()
            || self.sandbox_path(id).exists()
            || !cgroup_dirs(id).is_empty()
    }

    /// Stops whatever runs for container `id` and removes what its runs left: the shim is
    /// asked to kill the container and waited for; then any process left in its cgroup (and,
    /// with [`Sweep::Processes`], any shim still running on its bundle) is killed; then the
    /// cgroup, runtime state, netns pin, rootfs mount, bundle and socket are removed. The
    /// record, the writable layer and the logs stay.
    pub(crate) async fn purge_runtime(&self, id: &str, sweep: Sweep) {
        let socket = self.shim_socket(id);
        if socket.exists() {
            shim::kill_all(&socket).await;
            if let Ok(waiter) = shim::wait(&socket).await {
                if tokio::time::timeout(SHIM_GRACE, waiter).await.is_err() {
                    tracing::warn!(container = %id, "shim did not exit after SIGKILL");
                }
            }
        }
        if sweep == Sweep::Processes {
            let shims = shim_processes(&self.config.exec_root);
            for pid in shims.get(id).into_iter().flatten() {
                tracing::info!(container = %id, pid, "killing a leftover shim");
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        let owned = id.to_string();
        let _ = tokio::task::spawn_blocking(move || kill_and_remove_cgroup(&owned)).await;
        let state = self.runtime_state_dir(id);
        if let Err(e) = std::fs::remove_dir_all(&state) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(container = %id, error = %e, "removing runtime state");
            }
        }
        self.release_after_exit(id).await;
    }

    /// Ids this daemon's exec root shows traces of (bundles, netns pins, runtime state, shim
    /// processes), and the shim sockets with the id prefix each is named after.
    pub(crate) fn runtime_traces(&self) -> (BTreeSet<String>, Vec<(String, PathBuf)>) {
        let root = &self.config.exec_root;
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for dir in [
            root.join("bundles"),
            root.join("netns"),
            root.join("runtime"),
        ] {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                ids.extend(
                    entries
                        .flatten()
                        .filter_map(|e| e.file_name().to_str().map(str::to_string))
                        .filter(|n| berth_types::id::is_hex_prefix(n) && n.len() == 64),
                );
            }
        }
        ids.extend(shim_processes(root).into_keys());
        let mut sockets = Vec::new();
        if let Ok(entries) = std::fs::read_dir(root.join("s")) {
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(prefix) = name.to_str().and_then(|n| n.strip_suffix(".sock")) else {
                    continue;
                };
                sockets.push((prefix.to_string(), e.path()));
            }
        }
        (ids, sockets)
    }
}
