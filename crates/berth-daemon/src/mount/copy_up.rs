//! Filling a new, empty volume with what the image has at the mount's destination, keeping
//! owners, modes, times and symlinks. The source is walked by descriptor from a directory
//! opened inside the container's root, never following a symlink, so image content cannot
//! point the copy at host files.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fstatat, mkdirat, mknodat, utimensat, FileStat, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

/// Why a copy-up failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyUpError {
    #[error("copying image content into the volume: {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn at(path: &str) -> impl Fn(nix::errno::Errno) -> CopyUpError + '_ {
    move |e| CopyUpError::Io {
        path: path.to_string(),
        source: e.into(),
    }
}

fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller passes a descriptor just returned by openat that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn open_at(
    dir: RawFd,
    name: &str,
    flags: OFlag,
    mode: u32,
    path: &str,
) -> Result<OwnedFd, CopyUpError> {
    openat(
        Some(dir),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map(own)
    .map_err(at(path))
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Owner and mode of `src_dir` onto `dst_dir`, as dockerd gives the volume's root the image
/// directory's.
fn copy_attrs(dst: RawFd, st: &FileStat, path: &str) -> Result<(), CopyUpError> {
    fchown(
        dst,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .map_err(at(path))?;
    fchmod(dst, Mode::from_bits_truncate(st.st_mode & 0o7777)).map_err(at(path))?;
    Ok(())
}

/// Copies the directory `src` (an open descriptor) into the empty directory `dst`.
pub fn copy_dir(src: &OwnedFd, dst: &Path) -> Result<(), CopyUpError> {
    let dst_fd = File::options()
        .read(true)
        .custom_flags_dir()
        .open(dst)
        .map_err(|e| CopyUpError::Io {
            path: dst.display().to_string(),
            source: e,
        })?;
    let dst_fd = OwnedFd::from(dst_fd);
    let st = nix::sys::stat::fstat(src.as_raw_fd()).map_err(at("/"))?;
    copy_children(src.as_raw_fd(), dst_fd.as_raw_fd(), "")?;
    copy_attrs(dst_fd.as_raw_fd(), &st, "/")?;
    let (a, m) = times(&st);
    nix::sys::stat::futimens(dst_fd.as_raw_fd(), &a, &m).map_err(at("/"))?;
    Ok(())
}

trait DirOpen {
    fn custom_flags_dir(&mut self) -> &mut Self;
}

impl DirOpen for std::fs::OpenOptions {
    fn custom_flags_dir(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    }
}

fn copy_children(src: RawFd, dst: RawFd, prefix: &str) -> Result<(), CopyUpError> {
    let listing = open_at(src, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0, prefix)?;
    let mut dir = nix::dir::Dir::from_fd(listing.as_raw_fd()).map_err(at(prefix))?;
    // Dir now owns the descriptor.
    std::mem::forget(listing);
    let names: Vec<String> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    for name in names {
        let path = format!("{prefix}/{name}");
        let st =
            fstatat(Some(src), name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(at(&path))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let perm = st.st_mode & 0o7777;
        let (atime, mtime) = times(&st);
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(Some(dst), name.as_str(), Mode::from_bits_truncate(0o700))
                    .map_err(at(&path))?;
                let s = open_at(src, &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0, &path)?;
                let d = open_at(dst, &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0, &path)?;
                copy_children(s.as_raw_fd(), d.as_raw_fd(), &path)?;
                copy_attrs(d.as_raw_fd(), &st, &path)?;
                nix::sys::stat::futimens(d.as_raw_fd(), &atime, &mtime).map_err(at(&path))?;
            }
            SFlag::S_IFREG => {
                let s = open_at(src, &name, OFlag::O_RDONLY, 0, &path)?;
                let d = open_at(
                    dst,
                    &name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                    0o600,
                    &path,
                )?;
                let mut sf = File::from(s);
                let mut df = File::from(d);
                io::copy(&mut sf, &mut df).map_err(|e| CopyUpError::Io {
                    path: path.clone(),
                    source: e,
                })?;
                copy_attrs(df.as_raw_fd(), &st, &path)?;
                nix::sys::stat::futimens(df.as_raw_fd(), &atime, &mtime).map_err(at(&path))?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(Some(src), name.as_str()).map_err(at(&path))?;
                symlinkat(target.as_os_str(), Some(dst), name.as_str()).map_err(at(&path))?;
                fchownat(
                    Some(dst),
                    name.as_str(),
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(at(&path))?;
                utimensat(
                    Some(dst),
                    name.as_str(),
                    &atime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(at(&path))?;
            }
            SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
                mknodat(
                    Some(dst),
                    name.as_str(),
                    kind,
                    Mode::from_bits_truncate(perm),
                    st.st_rdev,
                )
                .map_err(at(&path))?;
                fchownat(
                    Some(dst),
                    name.as_str(),
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(at(&path))?;
            }
            // Sockets are not content.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_modes_owners_and_symlinks_without_following() {
        let src = tempfile::tempdir().expect("src");
        let dst = tempfile::tempdir().expect("dst");
        std::fs::create_dir(src.path().join("sub")).expect("sub");
        std::fs::write(src.path().join("sub/file"), b"hello").expect("file");
        std::fs::set_permissions(
            src.path().join("sub/file"),
            std::fs::Permissions::from_mode(0o640),
        )
        .expect("chmod");
        std::os::unix::fs::chown(src.path().join("sub/file"), Some(1234), Some(5678))
            .expect("chown");
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("link")).expect("symlink");
        std::fs::set_permissions(src.path(), std::fs::Permissions::from_mode(0o750))
            .expect("chmod");
        let fd = OwnedFd::from(File::open(src.path()).expect("open"));
        copy_dir(&fd, dst.path()).expect("copy");
        let f = dst.path().join("sub/file");
        assert_eq!(std::fs::read(&f).expect("read"), b"hello");
        let md = std::fs::metadata(&f).expect("md");
        assert_eq!(
            (md.mode() & 0o7777, md.uid(), md.gid()),
            (0o640, 1234, 5678)
        );
        assert_eq!(
            std::fs::read_link(dst.path().join("link")).expect("link"),
            Path::new("/etc/passwd"),
            "a symlink is copied as a symlink, never followed"
        );
        assert_eq!(
            std::fs::metadata(dst.path()).expect("root").mode() & 0o7777,
            0o750
        );
    }
}
