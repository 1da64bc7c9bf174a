//! Thin, safe wrappers over the `*at` syscalls the unpacker and mounter need. Every name passed
//! here is a single path component already checked by the caller, in a directory resolved
//! inside its root by [`berth_types::inroot`] (pathrs); paths with several components only go
//! through that.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `openat(dir, name, flags, mode)` for a single component.
pub fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; openat does not retain the pointer.
    let fd = cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    })?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a path on the host (not inside any root), e.g. a data-root directory.
pub fn open_path(path: &std::path::Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let p = cstring(path.as_os_str().as_bytes())?;
    // SAFETY: `p` is NUL-terminated; open does not retain the pointer.
    let fd = cvt(unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; the call does not retain it.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

pub fn mknodat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; the call does not retain it.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, dev) }).map(drop)
}

pub fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let target = cstring(target)?;
    // SAFETY: both strings are NUL-terminated; the call does not retain them.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// Hard-links `old_dir/old_name` (not following a final symlink) as `new_dir/new_name`.
pub fn linkat(
    old_dir: BorrowedFd<'_>,
    old_name: &CStr,
    new_dir: BorrowedFd<'_>,
    new_name: &CStr,
) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated; the call does not retain them.
    cvt(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old_name.as_ptr(),
            new_dir.as_raw_fd(),
            new_name.as_ptr(),
            0,
        )
    })
    .map(drop)
}

pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, remove_dir: bool) -> io::Result<()> {
    let flags = if remove_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `name` is NUL-terminated; the call does not retain it.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `lstat` of `dir/name`; `None` when it does not exist.
pub fn lstatat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<libc::stat>> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer for one stat struct and `name` is NUL-terminated.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    // SAFETY: fstatat succeeded, so it filled the whole struct.
    Ok(Some(unsafe { st.assume_init() }))
}

/// Changes the owner of `dir/name` itself (never a symlink's target).
pub fn lchownat(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; the call does not retain it.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we own.
    cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

pub fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we own.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// chmod of a non-symlink `dir/name` (the caller has just created it as a node).
pub fn fchmodat(dir: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; the call does not retain it.
    cvt(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

fn timespec(secs: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: secs.min(i64::MAX as u64) as libc::time_t,
        tv_nsec: 0,
    }
}

/// Sets atime and mtime of `dir/name` (the link itself for a symlink).
pub fn lutimesat(dir: BorrowedFd<'_>, name: &CStr, mtime: u64) -> io::Result<()> {
    let times = [timespec(mtime), timespec(mtime)];
    // SAFETY: `times` points at two timespecs and `name` is NUL-terminated.
    cvt(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn futimes(fd: BorrowedFd<'_>, mtime: u64) -> io::Result<()> {
    let times = [timespec(mtime), timespec(mtime)];
    // SAFETY: `times` points at two timespecs.
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) }).map(drop)
}

pub fn fsetxattr(fd: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let key = cstring(key)?;
    // SAFETY: `key` is NUL-terminated and `value` is valid for `value.len()` bytes.
    cvt(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

#[cfg(test)]
pub fn fgetxattr(fd: BorrowedFd<'_>, key: &[u8]) -> io::Result<Vec<u8>> {
    let key = cstring(key)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `key` is NUL-terminated.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Sets an xattr on `dir/name` without following a final symlink. `fsetxattr` cannot take an
/// `O_PATH` descriptor, so this goes through the parent's `/proc/self/fd` entry, which names the
/// already-resolved directory; only the last component (`name`) is looked up, with `lsetxattr`.
pub fn lsetxattrat(dir: BorrowedFd<'_>, name: &CStr, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = cstring(&path)?;
    let key = cstring(key)?;
    // SAFETY: both strings are NUL-terminated and `value` is valid for `value.len()` bytes.
    cvt(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// `makedev(major, minor)`.
pub fn makedev(major: u32, minor: u32) -> libc::dev_t {
    libc::makedev(major, minor)
}
