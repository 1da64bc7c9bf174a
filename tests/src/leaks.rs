//! What a daemon may leave behind after its containers are gone: mounts, cgroups, processes.
//! Finding them fails the test; removing them keeps one failure from spoiling the next test.

use std::collections::{BTreeMap, BTreeSet};
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

/// How many of each resource a daemon holds on the host, for before/after accounting: a figure
/// per resource, so a leak shows as a count that grew (churn) or did not come back to its
/// baseline (after a crash and a cleanup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census(pub BTreeMap<String, usize>);

/// One resource whose count differs between two censuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub resource: String,
    pub before: usize,
    pub after: usize,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.resource, self.before, self.after)
    }
}

impl Census {
    /// Counts what `d` holds now: mounts under its dir, its containers' cgroups and processes,
    /// its shims, netns pins, veths on its bridges, rules in its nftables table, berthd's open
    /// fds, the rows of every table of berth.db, and the files of its data and exec roots.
    pub fn take(d: &crate::TestDaemon) -> Self {
        let mut ids: BTreeSet<String> = d.known_ids().into_iter().collect();
        for dir in [
            d.data_root.join("containers"),
            d.exec_root.join("bundles"),
            d.exec_root.join("netns"),
        ] {
            ids.extend(dir_names(&dir));
        }
        let ids: Vec<String> = ids.into_iter().collect();
        let mut c = BTreeMap::new();
        c.insert("mounts".to_string(), mounts_under(d.dir()).len());
        c.insert("cgroups".to_string(), cgroups_of(&ids).len());
        let daemon = d.berthd_pid();
        let procs = daemon_processes(d.dir(), &ids, daemon);
        c.insert("processes".to_string(), procs.len());
        c.insert(
            "netns".to_string(),
            dir_names(&d.exec_root.join("netns")).len(),
        );
        c.insert("veths".to_string(), veths_of(d).len());
        if let Some(slot) = &d.net {
            // A user network's bridge outlives a daemon killed at the wrong moment, named by
            // no record: counted on the host, as nothing of the daemon lists it.
            c.insert("user-bridges".to_string(), user_bridges().len());
            c.insert(
                "nft-rules".to_string(),
                nft_rule_count(&slot.table_listing()),
            );
        }
        if let Some(pid) = daemon {
            c.insert(
                "berthd-fds".to_string(),
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .map(|e| e.count())
                    .unwrap_or(0),
            );
        }
        for (table, n) in db_row_counts(&d.data_root.join("berth.db")) {
            c.insert(format!("rows:{table}"), n);
        }
        c.insert(
            "blobs".to_string(),
            dir_names(&d.data_root.join("content/blobs/sha256")).len(),
        );
        c.insert(
            "files".to_string(),
            count_files(&d.data_root) + count_files(&d.exec_root),
        );
        Self(c)
    }

    /// The resources whose count differs in `after`.
    pub fn changes(&self, after: &Census) -> Vec<Change> {
        let keys: BTreeSet<&String> = self.0.keys().chain(after.0.keys()).collect();
        keys.into_iter()
            .filter_map(|k| {
                let before = self.0.get(k).copied().unwrap_or(0);
                let now = after.0.get(k).copied().unwrap_or(0);
                (before != now).then(|| Change {
                    resource: k.clone(),
                    before,
                    after: now,
                })
            })
            .collect()
    }

    /// The resources that grew in `after`, apart from `slack` more of the resources named in it
    /// (berthd's fds move with its connection pool, say).
    pub fn growth(&self, after: &Census, slack: &[(&str, usize)]) -> Vec<Change> {
        self.changes(after)
            .into_iter()
            .filter(|c| {
                let allowed = slack
                    .iter()
                    .find(|(r, _)| *r == c.resource)
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                c.after > c.before + allowed
            })
            .collect()
    }
}

impl std::fmt::Display for Census {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, "{}", parts.join(" "))
    }
}

/// The names in `dir` (none when it does not exist).
pub fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The processes a daemon owns apart from berthd itself (`daemon`): those naming its dir or one
/// of its container `ids` (shims), and those inside the cgroup of one of `ids` (containers).
pub fn daemon_processes(dir: &Path, ids: &[String], daemon: Option<i32>) -> Vec<(i32, String)> {
    let mut found: BTreeMap<i32, String> = processes_naming(dir, ids).into_iter().collect();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for pid in entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        {
            let Ok(cgroup) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
                continue;
            };
            let inside = cgroup.lines().any(|l| {
                l.rsplit(':')
                    .next()
                    .and_then(|p| p.strip_prefix("/berth/"))
                    .is_some_and(|id| ids.iter().any(|i| i == id))
            });
            if inside {
                let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
                found.insert(pid, cmd.trim_end().to_string());
            }
        }
    }
    if let Some(pid) = daemon {
        found.remove(&pid);
    }
    // Zombies awaiting their reaper and this process's children (clients) are not leaks.
    found
        .into_iter()
        .filter(|(pid, _)| !is_zombie(*pid))
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(true)
}

/// Host links on the daemon's bridges: its default bridge and those of its listed networks.
/// The host's bridges named as user networks' bridges are (`br-` and 12 hex digits), whoever
/// made them.
pub fn user_bridges() -> Vec<String> {
    let mut found: Vec<String> = dir_names(Path::new("/sys/class/net"))
        .into_iter()
        .filter(|n| {
            n.strip_prefix("br-")
                .is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
                && Path::new("/sys/class/net").join(n).join("bridge").is_dir()
        })
        .collect();
    found.sort();
    found
}

pub fn veths_of(d: &crate::TestDaemon) -> Vec<String> {
    let mut bridges: BTreeSet<String> = BTreeSet::new();
    if let Some(slot) = &d.net {
        bridges.insert(slot.bridge());
    }
    if let Ok(r) = crate::http::request(
        &d.socket,
        "GET",
        "/networks",
        None,
        b"",
        std::time::Duration::from_secs(10),
    ) {
        if let Some(serde_json::Value::Array(list)) = r.json() {
            for n in list.iter().filter(|n| n["Driver"] == "bridge") {
                let id = n["Id"].as_str().unwrap_or_default();
                bridges.insert(
                    n["Options"]["com.docker.network.bridge.name"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("br-{}", &id[..12.min(id.len())])),
                );
            }
        }
    }
    bridges
        .iter()
        .flat_map(|b| crate::netslot::NetSlot::ports_of(b))
        .collect()
}

/// The rules in an `nft list table` listing (the lines inside a chain other than its header,
/// policy and braces).
pub fn nft_rule_count(listing: &str) -> usize {
    let mut in_chain = false;
    let mut n = 0;
    for line in listing.lines().map(str::trim) {
        if line.starts_with("chain ") {
            in_chain = true;
        } else if line == "}" {
            in_chain = false;
        } else if in_chain
            && !line.is_empty()
            && !line.starts_with("type ")
            && !line.starts_with("policy ")
        {
            n += 1;
        }
    }
    n
}

/// Rows per table of berth.db (none when it cannot be read).
pub fn db_row_counts(db: &Path) -> Vec<(String, usize)> {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return Vec::new();
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_versions' ORDER BY name")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect())
        })
        .unwrap_or_default();
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))
                .unwrap_or(-1);
            (t, usize::try_from(n).unwrap_or(usize::MAX))
        })
        .collect()
}

/// One column of every row of a query on berth.db (read-only); empty when it cannot be read.
pub fn db_strings(db: &Path, sql: &str) -> Vec<String> {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return Vec::new();
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    conn.prepare(sql)
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, Option<String>>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map(|v| v.into_iter().flatten().collect())
        .unwrap_or_default()
}

/// Regular files and symlinks under `root`, not crossing into other filesystems (container
/// mounts), not counting SQLite's journal files (they come and go with checkpoints).
pub fn count_files(root: &Path) -> usize {
    files_under(root).len()
}

/// The paths [`count_files`] counts, so that a changed count can name its files.
pub fn files_under(root: &Path) -> BTreeSet<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeSet::new();
    let Ok(top) = std::fs::symlink_metadata(root) else {
        return out;
    };
    let dev = top.dev();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                if m.dev() == dev {
                    stack.push(e.path());
                }
                continue;
            }
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal") {
                continue;
            }
            out.insert(e.path());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_rules_of_an_nft_listing() {
        let listing = "table ip berth_bt1 {\n\tchain ports {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 8080 dnat to 10.1.0.2:80\n\t}\n\tchain post {\n\t\tmasquerade\n\t\tcounter accept\n\t}\n}\n";
        assert_eq!(nft_rule_count(listing), 3);
        assert_eq!(nft_rule_count(""), 0);
    }

    #[test]
    fn a_census_change_lists_what_grew() {
        let before = Census([("a".to_string(), 1), ("b".to_string(), 5)].into());
        let after = Census([("a".to_string(), 3), ("b".to_string(), 6)].into());
        let grew = before.growth(&after, &[("b", 2)]);
        assert_eq!(grew.len(), 1);
        assert_eq!(grew[0].to_string(), "a 1 -> 3");
        assert_eq!(before.changes(&after).len(), 2);
    }

    #[test]
    fn unescapes_mountinfo_fields() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn finds_a_tmpfs_mounted_under_a_dir_and_cleans_it_up() {
        if !crate::preflight::require_root("mounting a tmpfs") {
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
