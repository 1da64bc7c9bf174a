//! The host's devices, given to privileged containers (containerd `HostDevices`).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};

/// Directories under /dev that hold no devices for a container (or its own mounts).
const SKIPPED_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// Every block and character device under /dev, as OCI `linux.devices` entries.
pub fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out
}

fn walk(dir: &Path, out: &mut Vec<Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // symlink_metadata: links such as /dev/stdin would lead out of /dev.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            let name = entry.file_name();
            if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                walk(&path, out);
            }
            continue;
        }
        if path == Path::new("/dev/console") {
            continue;
        }
        let kind = if ft.is_block_device() {
            "b"
        } else if ft.is_char_device() {
            "c"
        } else {
            continue;
        };
        let rdev = meta.rdev();
        out.push(json!({
            "path": path.to_string_lossy(),
            "type": kind,
            "major": nix::sys::stat::major(rdev),
            "minor": nix::sys::stat::minor(rdev),
            "fileMode": meta.mode() & 0o7777,
            "uid": meta.uid(),
            "gid": meta.gid(),
        }));
    }
}
