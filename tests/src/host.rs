//! Host-side helpers the black-box scenarios share: the clock, digests, tar listings, files and
//! programs on the host. One copy each; the scenarios in `tests/tests/e2e/` use these.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::Digest as _;

/// How long a container may take to reach a state a test waits for.
pub const SETTLE: Duration = Duration::from_secs(20);

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0)
}

/// Now as `secs.nanos` since the epoch: an `until` for /events already past, so the daemon
/// answers at once instead of waiting for the next whole second.
pub fn unix_now_fraction() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| format!("{}.{:09}", t.as_secs(), t.subsec_nanos()))
        .unwrap_or_default()
}

/// The sha256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// The sha256 of a file's bytes, lower-case hex.
#[track_caller]
pub fn sha256_of(path: &Path) -> String {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    sha256_hex(&data)
}

/// Runs `cmd` (e.g. `tar`) on the host, which must succeed; its stdout.
#[track_caller]
pub fn host(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The entry names of a tar file, sorted, `./` prefixes and trailing `/` removed (`.` left
/// out); fails the test when the file is not a readable tar.
#[track_caller]
pub fn tar_names(path: &Path) -> Vec<String> {
    let file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut archive = tar::Archive::new(file);
    let mut names: Vec<String> = archive
        .entries()
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .map(|e| {
            let e = e.unwrap_or_else(|e| panic!("an entry of {}: {e}", path.display()));
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            raw.trim_start_matches("./")
                .trim_end_matches('/')
                .to_string()
        })
        .filter(|n| !n.is_empty() && n != ".")
        .collect();
    names.sort();
    names
}

/// Writes `text` to `path`, making its parent directories.
#[track_caller]
pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// The text of `path`.
#[track_caller]
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A TCP port on 127.0.0.1 free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("the bound address").port()
}

/// Whether the host has the unified (v2) cgroup hierarchy.
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Percent-encodes `s` for a URL query (unreserved characters kept).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
