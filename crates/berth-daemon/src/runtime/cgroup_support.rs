//! Which resource limits this host's cgroups can enforce (dockerd's `sysinfo`), read from the
//! v1 controller directories or, on a pure v2 host, the root's `cgroup.controllers`.

use std::path::Path;

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupSupport {
    pub memory: bool,
    pub swap: bool,
    pub reservation: bool,
    pub oom_kill_disable: bool,
    pub cpu_shares: bool,
    pub cpu_cfs: bool,
    pub cpuset: bool,
    pub pids: bool,
    pub blkio_weight: bool,
    pub blkio_throttle: bool,
    /// The CPUs and memory nodes containers may be pinned to.
    pub cpus: String,
    pub mems: String,
}

impl CgroupSupport {
    /// Read once per daemon, as dockerd's sysinfo, and then shared by every create and update:
    /// each read is about twenty lookups in the cgroup filesystems. Only a v1 blkio weight
    /// found missing is looked for again, since with BFQ it appears with berth's parent cgroup.
    pub fn detect() -> Self {
        static HOST: std::sync::OnceLock<CgroupSupport> = std::sync::OnceLock::new();
        let mut found = HOST.get_or_init(Self::read).clone();
        if !found.blkio_weight && !crate::runtime::cgroups::is_unified() {
            found.blkio_weight = v1_blkio_weight(Path::new(ROOT));
        }
        found
    }

    fn read() -> Self {
        if crate::runtime::cgroups::is_unified() {
            v2(Path::new(ROOT))
        } else {
            v1(Path::new(ROOT))
        }
    }
}

/// With BFQ the weight file exists only below the root; berth's parent cgroup is one.
fn v1_blkio_weight(root: &Path) -> bool {
    let has = |file: &str| root.join("blkio").join(file).exists();
    has("blkio.weight")
        || has("blkio.bfq.weight")
        || has("berth/blkio.bfq.weight")
        || has("berth/blkio.weight")
}

fn v1(root: &Path) -> CgroupSupport {
    let has = |ctrl: &str, file: &str| root.join(ctrl).join(file).exists();
    let blkio_weight = v1_blkio_weight(root);
    CgroupSupport {
        memory: has("memory", "memory.limit_in_bytes"),
        swap: has("memory", "memory.memsw.limit_in_bytes"),
        reservation: has("memory", "memory.soft_limit_in_bytes"),
        oom_kill_disable: has("memory", "memory.oom_control"),
        cpu_shares: has("cpu", "cpu.shares"),
        cpu_cfs: has("cpu", "cpu.cfs_quota_us"),
        cpuset: has("cpuset", "cpuset.cpus"),
        pids: root.join("pids").is_dir(),
        blkio_weight,
        blkio_throttle: has("blkio", "blkio.throttle.read_bps_device"),
        cpus: read_trimmed(&root.join("cpuset/cpuset.effective_cpus"))
            .or_else(|| read_trimmed(&root.join("cpuset/cpuset.cpus")))
            .unwrap_or_default(),
        mems: read_trimmed(&root.join("cpuset/cpuset.effective_mems"))
            .or_else(|| read_trimmed(&root.join("cpuset/cpuset.mems")))
            .unwrap_or_default(),
    }
}

fn v2(root: &Path) -> CgroupSupport {
    let controllers = read_trimmed(&root.join("cgroup.controllers")).unwrap_or_default();
    let on = |c: &str| controllers.split_whitespace().any(|x| x == c);
    CgroupSupport {
        memory: on("memory"),
        swap: on("memory"),
        reservation: on("memory"),
        // cgroup v2 has no switch for the OOM killer.
        oom_kill_disable: false,
        cpu_shares: on("cpu"),
        cpu_cfs: on("cpu"),
        cpuset: on("cpuset"),
        pids: on("pids"),
        blkio_weight: on("io"),
        blkio_throttle: on("io"),
        cpus: read_trimmed(&root.join("cpuset.cpus.effective")).unwrap_or_default(),
        mems: read_trimmed(&root.join("cpuset.mems.effective")).unwrap_or_default(),
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Parses a cpuset list such as `0-2,5` (dockerd's `parsers.ParseUintList`).
pub fn parse_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    if list.is_empty() {
        return Some(out);
    }
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// The number of CPUs this process may run on (Go's `runtime.NumCPU`).
pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists() {
        assert_eq!(parse_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list(""), Some(vec![]));
        assert_eq!(parse_list("2-1"), None);
        assert_eq!(parse_list("a"), None);
        assert_eq!(parse_list("1,"), None);
    }

    #[test]
    fn v1_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for (ctrl, file, text) in [
            ("memory", "memory.limit_in_bytes", "0"),
            ("cpu", "cpu.shares", "1024"),
            ("cpuset", "cpuset.cpus", "0-3\n"),
            ("cpuset", "cpuset.mems", "0\n"),
        ] {
            std::fs::create_dir_all(root.join(ctrl)).expect("mkdir");
            std::fs::write(root.join(ctrl).join(file), text).expect("write");
        }
        let s = v1(root);
        assert!(s.memory && s.cpu_shares && s.cpuset);
        assert!(!s.swap && !s.cpu_cfs && !s.pids && !s.blkio_weight);
        assert_eq!((s.cpus.as_str(), s.mems.as_str()), ("0-3", "0"));
    }
}
