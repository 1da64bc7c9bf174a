//! Best-effort OOM detection: the memory cgroup's `oom_kill` counter (v1 `memory.oom_control`,
//! v2 `memory.events`), compared with its value when the container was created.

use std::fs;
use std::path::{Path, PathBuf};

/// The counter file of a container's memory cgroup and its starting value.
pub struct OomWatch {
    counter_file: PathBuf,
    baseline: u64,
}

impl OomWatch {
    /// Finds the memory cgroup `pid` lives in (`/proc/<pid>/cgroup`). `None` when there is no
    /// memory controller to ask.
    pub fn locate(pid: i32) -> Option<Self> {
        let table = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let root = Path::new("/sys/fs/cgroup");
        let counter_file = counter_file(&table, root)?;
        let baseline = read_counter(&counter_file).unwrap_or(0);
        Some(Self {
            counter_file,
            baseline,
        })
    }

    /// The OOM killer fired in the cgroup since [`OomWatch::locate`].
    pub fn fired(&self) -> bool {
        read_counter(&self.counter_file).is_some_and(|n| n > self.baseline)
    }
}

/// v1: the `memory` hierarchy's line; v2 (unified only): the `0::` line.
fn counter_file(proc_cgroup: &str, root: &Path) -> Option<PathBuf> {
    let mut unified = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some(
                root.join("memory")
                    .join(relative)
                    .join("memory.oom_control"),
            );
        }
        if id == "0" && controllers.is_empty() {
            unified = Some(relative.to_string());
        }
    }
    // A unified line alone means cgroup v2 is the only hierarchy with a memory controller.
    let relative = unified?;
    root.join("cgroup.controllers")
        .exists()
        .then(|| root.join(relative).join("memory.events"))
}

fn read_counter(file: &Path) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_memory_hierarchy() {
        let v1 = "12:pids:/berth/abc\n5:memory:/berth/abc\n0::/\n";
        assert_eq!(
            counter_file(v1, Path::new("/sys/fs/cgroup")),
            Some(PathBuf::from(
                "/sys/fs/cgroup/memory/berth/abc/memory.oom_control"
            ))
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(counter_file("0::/berth/abc\n", dir.path()), None);
        fs::write(dir.path().join("cgroup.controllers"), "memory pids\n").expect("write");
        assert_eq!(
            counter_file("0::/berth/abc\n", dir.path()),
            Some(dir.path().join("berth/abc/memory.events"))
        );
        let counter = dir.path().join("events");
        fs::write(&counter, "oom 1\noom_kill 2\n").expect("write");
        assert_eq!(read_counter(&counter), Some(2));
    }
}
