//! The local driver's mounts: a volume created with `type`/`device`/`o` options gets that
//! filesystem mounted at its `_data` directory while running containers use it.

use std::collections::HashMap;
use std::path::Path;

use berth_types::{Error, Result};
use nix::mount::{MntFlags, MsFlags};

/// Why a volume mount or unmount failed.
#[derive(Debug, thiserror::Error)]
pub enum VolumeMountError {
    #[error("error while mounting volume '{path}': failed to mount local volume: mount {device}:{path}, flags: {flags:#x}, data: {data}: {errno}")]
    Mount {
        path: String,
        device: String,
        flags: u64,
        data: String,
        errno: nix::errno::Errno,
    },
    #[error("error while unmounting volume path '{path}': {errno}")]
    Unmount {
        path: String,
        errno: nix::errno::Errno,
    },
}

impl From<VolumeMountError> for Error {
    fn from(e: VolumeMountError) -> Self {
        Error::internal(e.to_string())
    }
}

/// Splits `o` into mount flags and the filesystem's data string, as `mount(8)` does.
fn split_options(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "suid" => flags &= !MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "dev" => flags &= !MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "exec" => flags &= !MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "async" => flags &= !MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether something is mounted exactly at `path` in the daemon's mount namespace.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == want)
}

/// Mounts what `options` describe at `data` unless something is mounted there already.
pub fn mount_if_unmounted(options: &HashMap<String, String>, data: &Path) -> Result<()> {
    if is_mounted(data) {
        return Ok(());
    }
    let device = options.get("device").cloned().unwrap_or_default();
    let fstype = options.get("type").cloned().unwrap_or_default();
    let (mut flags, data_opts) = split_options(options.get("o").map_or("", String::as_str));
    if fstype == "bind" {
        flags |= MsFlags::MS_BIND;
    }
    let fstype_arg = (!fstype.is_empty() && fstype != "bind").then_some(fstype.as_str());
    let data_arg = (!data_opts.is_empty()).then_some(data_opts.as_str());
    nix::mount::mount(Some(device.as_str()), data, fstype_arg, flags, data_arg).map_err(
        |errno| VolumeMountError::Mount {
            path: data.display().to_string(),
            device: device.clone(),
            flags: flags.bits(),
            data: data_opts.clone(),
            errno,
        },
    )?;
    Ok(())
}

/// Unmounts `data` if something is mounted there.
pub fn unmount_if_mounted(data: &Path) -> Result<()> {
    if !is_mounted(data) {
        return Ok(());
    }
    nix::mount::umount2(data, MntFlags::MNT_DETACH).map_err(|errno| VolumeMountError::Unmount {
        path: data.display().to_string(),
        errno,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let (flags, data) = split_options("size=1m,uid=1000,ro,noexec");
        assert_eq!(flags, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC);
        assert_eq!(data, "size=1m,uid=1000");
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert!(is_mounted(Path::new("/proc")));
        assert!(!is_mounted(Path::new("/definitely/not/mounted")));
    }
}
