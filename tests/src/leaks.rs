//! What a daemon may leave behind after its containers are gone: mounts, cgroups, processes.
//! Finding them fails the test; removing them keeps one failure from spoiling the next test.

use std::path::{Path, PathBuf};

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Everything found; empty when clean.
#[derive(Debug, Default)]
pub struct Leaks {
    pub mounts: Vec<PathBuf>,
    pub cgroups: Vec<PathBuf>,
    /// (pid, command line)
    pub processes: Vec<(i32, String)>,
}

impl Leaks {
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty() && self.cgroups.is_empty() && self.processes.is_empty()
    }

    /// Looks for mounts under `dir`, cgroups `berth/<id>` of `ids`, and processes whose command
    /// line names `dir` or one of `ids` (the shims are started with paths under the exec root).
    pub fn find(dir: &Path, ids: &[String]) -> Self {
        Self {
            mounts: mounts_under(dir),
            cgroups: cgroups_of(ids),
            processes: processes_naming(dir, ids),
        }
    }

    /// Best-effort removal: kill the processes, detach the mounts (deepest first), remove the
    /// cgroups.
    pub fn clean_up(&self) {
        for (pid, _) in &self.processes {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let mut mounts = self.mounts.clone();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        for cg in &self.cgroups {
            if let Ok(procs) = std::fs::read_to_string(cg.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            crate::poll::wait_until(std::time::Duration::from_secs(2), || {
                std::fs::remove_dir(cg).is_ok() || !cg.exists()
            });
        }
    }
}

impl std::fmt::Display for Leaks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for m in &self.mounts {
            writeln!(f, "mount left: {}", m.display())?;
        }
        for c in &self.cgroups {
            writeln!(f, "cgroup left: {}", c.display())?;
        }
        for (pid, cmd) in &self.processes {
            writeln!(f, "process left: {pid} {cmd}")?;
        }
        Ok(())
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = u32::from(bytes[i + 1] - b'0') * 64
                + u32::from(bytes[i + 2] - b'0') * 8
                + u32::from(bytes[i + 3] - b'0');
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at or under `dir`, from /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// Existing `berth/<id>` cgroups of `ids`, under a pure v2 root or any v1 controller.
pub fn cgroups_of(ids: &[String]) -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    let mut parents = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        parents.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.is_symlink()),
        );
    }
    let mut found = Vec::new();
    for parent in parents {
        for id in ids {
            let cg = parent.join("berth").join(id);
            if cg.is_dir() {
                found.push(cg);
            }
        }
    }
    found
}

/// Processes (other than this one) whose command line mentions `dir` or one of `ids`.
pub fn processes_naming(dir: &Path, ids: &[String]) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let dir = dir.to_string_lossy();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            let named =
                cmd.contains(dir.as_ref()) || ids.iter().any(|id| cmd.contains(id.as_str()));
            named.then(|| (pid, cmd.trim_end().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_fields() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn finds_a_tmpfs_mounted_under_a_dir_and_cleans_it_up() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("m");
        std::fs::create_dir(&target).expect("mkdir");
        nix::mount::mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount tmpfs");
        let leaks = Leaks::find(dir.path(), &[]);
        assert_eq!(leaks.mounts, vec![target.clone()]);
        leaks.clean_up();
        assert!(Leaks::find(dir.path(), &[]).is_empty());
    }

    #[test]
    fn finds_a_process_naming_the_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("marker");
        std::fs::write(&marker, "").expect("marker file");
        // `tail -f` runs until killed with the path in its command line, and has no children.
        let mut child = std::process::Command::new("tail")
            .arg("-f")
            .arg(&marker)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // Until the child has exec'd, its command line is still this test binary's.
        let mut found = Vec::new();
        crate::poll::wait_until(std::time::Duration::from_secs(5), || {
            found = processes_naming(dir.path(), &[]);
            found.iter().any(|(pid, _)| *pid == child.id() as i32)
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            found.iter().any(|(pid, _)| *pid == child.id() as i32),
            "{found:?}"
        );
    }
}
