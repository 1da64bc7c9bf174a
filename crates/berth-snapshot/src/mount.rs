//! overlayfs mounts through syscalls: the new mount API (`fsopen`/`fsconfig`/`fsmount`/
//! `move_mount`) with one `lowerdir+` per layer, so the layer count is not bounded by a page of
//! mount options; on kernels without `lowerdir+` (before 6.8), `mount(2)` with the short
//! links under `overlay/l/`, as dockerd's overlay2 driver does.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a mount or unmount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("overlay mount on {target}: {step}: {source}")]
    Mount {
        target: PathBuf,
        step: &'static str,
        source: io::Error,
    },
    #[error(
        "overlay mount on {target}: mount options exceed a page ({len} bytes, {layers} layers)"
    )]
    OptionsTooLong {
        target: PathBuf,
        len: usize,
        layers: usize,
    },
    #[error("unmounting {target}: {source}")]
    Unmount { target: PathBuf, source: io::Error },
    #[error("invalid path {0:?}: contains a NUL byte or a comma/colon overlay cannot express")]
    BadPath(PathBuf),
}

// Constants from <linux/mount.h>; stable kernel ABI.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
/// Upper limit of legacy `mount(2)` option data.
const PAGE_LIMIT: usize = 4096;

/// One layer directory for the lower stack: its real path, and the short link to it (used only
/// by the legacy `mount(2)` path to keep the option string short).
#[derive(Debug, Clone)]
pub struct Lower {
    pub dir: PathBuf,
    pub short_link: Option<PathBuf>,
}

/// How an overlay is mounted beyond its directories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverlayOptions {
    /// overlayfs' `volatile` (Linux 5.10): syncs on the overlay are skipped and its unmount
    /// does not sync the upper layer's filesystem. For a layer thrown away with its container;
    /// after a host crash the upper layer is not to be trusted (overlay then refuses to mount
    /// it until `<work>/work/incompat/volatile` is removed).
    pub volatile: bool,
}

/// Mounts an overlay of `lowers` (lowest first) with `upper`/`work` on `target`.
pub fn mount_overlay(
    lowers: &[Lower],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), MountError> {
    mount_overlay_with(lowers, upper, work, target, OverlayOptions::default())
}

/// [`mount_overlay`] with `options`.
pub fn mount_overlay_with(
    lowers: &[Lower],
    upper: &Path,
    work: &Path,
    target: &Path,
    options: OverlayOptions,
) -> Result<(), MountError> {
    match mount_with_fsconfig(lowers, upper, work, target, options) {
        Ok(()) => Ok(()),
        // ENOSYS: no new mount API; EINVAL: the kernel does not know `lowerdir+`.
        Err(MountError::Mount { source, .. })
            if matches!(
                source.raw_os_error(),
                Some(libc::ENOSYS) | Some(libc::EINVAL)
            ) =>
        {
            tracing::debug!(error = %source, "fsconfig overlay mount unavailable; using mount(2)");
            mount_legacy(lowers, upper, work, target, options)
        }
        Err(e) => Err(e),
    }
}

fn cpath(p: &Path) -> Result<CString, MountError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| MountError::BadPath(p.to_path_buf()))
}

fn mount_with_fsconfig(
    lowers: &[Lower],
    upper: &Path,
    work: &Path,
    target: &Path,
    options: OverlayOptions,
) -> Result<(), MountError> {
    let err = |step: &'static str| {
        let source = io::Error::last_os_error();
        move || MountError::Mount {
            target: target.to_path_buf(),
            step,
            source,
        }
    };
    let fstype = CString::from(c"overlay");
    // SAFETY: `fstype` is NUL-terminated; fsopen returns a new fd or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(err("fsopen")());
    }
    // SAFETY: fsopen returned a fresh descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as libc::c_int) };
    let set = |key: &CString, value: &CString, step: &'static str| -> Result<(), MountError> {
        // SAFETY: both strings are NUL-terminated and outlive the call; aux is 0 for strings.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        };
        if r < 0 {
            return Err(err(step)());
        }
        Ok(())
    };
    let lower_key = CString::from(c"lowerdir+");
    // The first lowerdir+ is the top of the stack.
    for lower in lowers.iter().rev() {
        set(&lower_key, &cpath(&lower.dir)?, "fsconfig lowerdir+")?;
    }
    set(
        &CString::from(c"upperdir"),
        &cpath(upper)?,
        "fsconfig upperdir",
    )?;
    set(
        &CString::from(c"workdir"),
        &cpath(work)?,
        "fsconfig workdir",
    )?;
    if options.volatile {
        let key = CString::from(c"volatile");
        // SAFETY: `key` is NUL-terminated; a flag takes a null value and aux 0.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_FLAG,
                key.as_ptr(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        };
        if r < 0 {
            return Err(err("fsconfig volatile")());
        }
    }
    // SAFETY: null key/value are what FSCONFIG_CMD_CREATE expects.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(err("fsconfig create")());
    }
    // SAFETY: plain syscall on our fs context fd; returns a new mount fd or -1.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mnt < 0 {
        return Err(err("fsmount")());
    }
    // SAFETY: fsmount returned a fresh descriptor that nothing else owns.
    let mnt = unsafe { OwnedFd::from_raw_fd(mnt as libc::c_int) };
    let empty = CString::from(c"");
    let target_c = cpath(target)?;
    // SAFETY: strings are NUL-terminated; the detached mount fd is valid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(err("move_mount")());
    }
    Ok(())
}

fn mount_legacy(
    lowers: &[Lower],
    upper: &Path,
    work: &Path,
    target: &Path,
    options: OverlayOptions,
) -> Result<(), MountError> {
    let mut lowerdir = Vec::new();
    for lower in lowers.iter().rev() {
        let p = lower.short_link.as_deref().unwrap_or(&lower.dir);
        let bytes = p.as_os_str().as_bytes();
        if bytes.iter().any(|b| matches!(b, b':' | b',')) {
            return Err(MountError::BadPath(p.to_path_buf()));
        }
        if !lowerdir.is_empty() {
            lowerdir.push(b':');
        }
        lowerdir.extend_from_slice(bytes);
    }
    let mut data = b"lowerdir=".to_vec();
    data.extend_from_slice(&lowerdir);
    data.extend_from_slice(b",upperdir=");
    data.extend_from_slice(upper.as_os_str().as_bytes());
    data.extend_from_slice(b",workdir=");
    data.extend_from_slice(work.as_os_str().as_bytes());
    if options.volatile {
        data.extend_from_slice(b",volatile");
    }
    if data.len() >= PAGE_LIMIT {
        return Err(MountError::OptionsTooLong {
            target: target.to_path_buf(),
            len: data.len(),
            layers: lowers.len(),
        });
    }
    let data = CString::new(data).map_err(|_| MountError::BadPath(upper.to_path_buf()))?;
    let source = CString::from(c"overlay");
    let target_c = cpath(target)?;
    // SAFETY: all strings are NUL-terminated and outlive the call.
    let r = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            source.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if r < 0 {
        return Err(MountError::Mount {
            target: target.to_path_buf(),
            step: "mount",
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Unmounts `target`; if it is busy, detaches it lazily. Not being mounted is not an error.
pub fn unmount(target: &Path) -> Result<(), MountError> {
    let t = cpath(target)?;
    // SAFETY: `t` is NUL-terminated.
    if unsafe { libc::umount2(t.as_ptr(), libc::UMOUNT_NOFOLLOW) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        Some(libc::EBUSY) => {
            // SAFETY: `t` is NUL-terminated.
            if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } == 0 {
                Ok(())
            } else {
                Err(MountError::Unmount {
                    target: target.to_path_buf(),
                    source: io::Error::last_os_error(),
                })
            }
        }
        _ => Err(MountError::Unmount {
            target: target.to_path_buf(),
            source: e,
        }),
    }
}

/// Takes the mount on `target` out of the mount table at once (a lazy unmount) and returns a
/// descriptor that still holds it, or `None` when nothing is mounted there. The filesystem is
/// shut down when the descriptor is closed, and that is where its unmount's work happens: for
/// an overlay that is not `volatile`, the sync of the whole filesystem under its upper layer.
/// Only for a mount whose data is thrown away: while the descriptor lives, its upper and work
/// directories cannot be mounted again (overlay's in-use check).
pub fn detach(target: &Path) -> Result<Option<OwnedFd>, MountError> {
    let t = cpath(target)?;
    let fail = |source: io::Error| MountError::Unmount {
        target: target.to_path_buf(),
        source,
    };
    // SAFETY: `t` is NUL-terminated; `open` returns a new descriptor or -1.
    let fd = unsafe {
        libc::open(
            t.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(fail(e)),
        };
    }
    // SAFETY: `fd` was just opened above and nothing else owns it.
    let held = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `t` is NUL-terminated.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } == 0 {
        return Ok(Some(held));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Not a mount point: the descriptor is the bare directory, nothing to hold.
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(None),
        _ => Err(fail(e)),
    }
}

/// Whether `path` is a mount point of this mount namespace (per `/proc/self/mountinfo`).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let Ok(canon) = std::fs::canonicalize(path) else {
        return false;
    };
    let want = canon.as_os_str().as_bytes();
    info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .map(|mp| unescape_mountinfo(mp) == want)
            .unwrap_or(false)
    })
}

/// Whether anything is mounted on `path` or below it.
pub fn has_mounts_under(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let Ok(canon) = std::fs::canonicalize(path) else {
        return false;
    };
    info.lines().any(|line| {
        line.split(' ').nth(4).is_some_and(|mp| {
            let mp = unescape_mountinfo(mp);
            Path::new(std::ffi::OsStr::from_bytes(&mp)).starts_with(&canon)
        })
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `mount(2)` fallback (kernels before 6.8) with short links, exercised directly.
    #[test]
    fn legacy_mount_uses_short_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path();
        for d in ["lower/diff", "upper", "work", "merged", "l"] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        std::fs::write(base.join("lower/diff/f"), b"lower").expect("write");
        std::os::unix::fs::symlink("../lower/diff", base.join("l/SHORT")).expect("link");
        let lowers = [Lower {
            dir: base.join("lower/diff"),
            short_link: Some(base.join("l/SHORT")),
        }];
        let merged = base.join("merged");
        mount_legacy(
            &lowers,
            &base.join("upper"),
            &base.join("work"),
            &merged,
            OverlayOptions::default(),
        )
        .expect("mount");
        assert!(is_mountpoint(&merged));
        assert_eq!(std::fs::read(merged.join("f")).expect("read"), b"lower");
        unmount(&merged).expect("unmount");
        assert!(!is_mountpoint(&merged));

        let too_many: Vec<Lower> = (0..200)
            .map(|_| Lower {
                dir: base.join("lower/diff"),
                short_link: None,
            })
            .collect();
        assert!(matches!(
            mount_legacy(
                &too_many,
                &base.join("upper"),
                &base.join("work"),
                &merged,
                OverlayOptions::default()
            ),
            Err(MountError::OptionsTooLong { .. })
        ));
    }

    /// `volatile` through both mount paths: in the mount's options, and a remount after it
    /// needs overlay's marker gone (which `Snapshotter::mount_scratch` removes).
    #[test]
    fn volatile_overlay_on_both_paths() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path();
        let options_of = |target: &Path| -> String {
            let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
            let t = target.to_string_lossy().into_owned();
            info.lines()
                .find(|l| l.split(' ').nth(4) == Some(t.as_str()))
                .unwrap_or_default()
                .to_string()
        };
        for (i, legacy) in [false, true].into_iter().enumerate() {
            let dir = base.join(i.to_string());
            for d in ["lower", "upper", "work", "merged"] {
                std::fs::create_dir_all(dir.join(d)).expect("mkdir");
            }
            let lowers = [Lower {
                dir: dir.join("lower"),
                short_link: None,
            }];
            let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
            let volatile = OverlayOptions { volatile: true };
            if legacy {
                mount_legacy(&lowers, &upper, &work, &merged, volatile).expect("legacy mount");
            } else {
                mount_overlay_with(&lowers, &upper, &work, &merged, volatile).expect("mount");
            }
            let line = options_of(&merged);
            assert!(line.contains("volatile"), "{line}");
            std::fs::write(merged.join("f"), b"x").expect("write");
            unmount(&merged).expect("unmount");
            assert!(work.join("work/incompat/volatile").exists());
            mount_overlay(&lowers, &upper, &work, &merged).expect_err("marker refuses the mount");
            std::fs::remove_dir_all(work.join("work/incompat")).expect("marker");
            mount_overlay(&lowers, &upper, &work, &merged).expect("plain mount");
            assert!(!options_of(&merged).contains("volatile"));
            assert_eq!(std::fs::read(merged.join("f")).expect("read"), b"x");
            unmount(&merged).expect("unmount");
        }
    }

    /// A detached overlay leaves the mount table at once but stays usable through the
    /// descriptor that holds it, even once its directories are deleted; nothing mounted (or
    /// nothing there) is `None`.
    #[test]
    fn detach_holds_the_overlay_until_closed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path();
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        std::fs::write(base.join("lower/f"), b"lower").expect("write");
        let lowers = [Lower {
            dir: base.join("lower"),
            short_link: None,
        }];
        let merged = base.join("merged");
        mount_overlay(&lowers, &base.join("upper"), &base.join("work"), &merged).expect("mount");
        std::fs::write(merged.join("g"), b"upper").expect("write");
        let held = detach(&merged).expect("detach").expect("a mount was held");
        assert!(!is_mountpoint(&merged));
        assert!(!has_mounts_under(base));
        std::fs::remove_dir_all(base.join("upper")).expect("delete the upper layer");
        let via_fd = format!("/proc/self/fd/{}/f", held.as_raw_fd());
        assert_eq!(
            std::fs::read(via_fd).expect("read through the held mount"),
            b"lower"
        );
        drop(held);
        assert!(detach(&merged).expect("detach").is_none());
        assert!(detach(&base.join("missing")).expect("detach").is_none());
    }

    #[test]
    fn mountinfo_unescapes_octal() {
        assert_eq!(unescape_mountinfo("/a\\040b"), b"/a b");
        assert_eq!(unescape_mountinfo("/plain"), b"/plain");
    }
}
