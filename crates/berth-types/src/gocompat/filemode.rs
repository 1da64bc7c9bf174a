//! Go's `os.FileMode` (`io/fs.FileMode`) bits, as dockerd sends them in the `docker cp` stat
//! header (`X-Docker-Container-Path-Stat`): the permission bits, and one high bit per file type
//! and special bit instead of Unix's `S_IFMT` field.

/// `ModeDir`: a directory.
pub const MODE_DIR: u32 = 1 << 31;
/// `ModeAppend`: append-only.
pub const MODE_APPEND: u32 = 1 << 30;
/// `ModeExclusive`: exclusive use.
pub const MODE_EXCLUSIVE: u32 = 1 << 29;
/// `ModeTemporary`: temporary file.
pub const MODE_TEMPORARY: u32 = 1 << 28;
/// `ModeSymlink`: a symbolic link.
pub const MODE_SYMLINK: u32 = 1 << 27;
/// `ModeDevice`: a device file.
pub const MODE_DEVICE: u32 = 1 << 26;
/// `ModeNamedPipe`: a FIFO.
pub const MODE_NAMED_PIPE: u32 = 1 << 25;
/// `ModeSocket`: a Unix domain socket.
pub const MODE_SOCKET: u32 = 1 << 24;
/// `ModeSetuid`.
pub const MODE_SETUID: u32 = 1 << 23;
/// `ModeSetgid`.
pub const MODE_SETGID: u32 = 1 << 22;
/// `ModeCharDevice`: with [`MODE_DEVICE`], a character device.
pub const MODE_CHAR_DEVICE: u32 = 1 << 21;
/// `ModeSticky`.
pub const MODE_STICKY: u32 = 1 << 20;
/// `ModePerm`: the Unix permission bits.
pub const MODE_PERM: u32 = 0o777;

/// Go's `fillFileStatFromSys` (os/stat_linux.go): the `os.FileMode` of a Unix `st_mode`.
pub fn from_unix_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & MODE_PERM;
    mode |= match st_mode & libc::S_IFMT {
        libc::S_IFBLK => MODE_DEVICE,
        libc::S_IFCHR => MODE_DEVICE | MODE_CHAR_DEVICE,
        libc::S_IFDIR => MODE_DIR,
        libc::S_IFIFO => MODE_NAMED_PIPE,
        libc::S_IFLNK => MODE_SYMLINK,
        libc::S_IFSOCK => MODE_SOCKET,
        _ => 0,
    };
    for (unix, go) in [
        (libc::S_ISGID, MODE_SETGID),
        (libc::S_ISUID, MODE_SETUID),
        (libc::S_ISVTX, MODE_STICKY),
    ] {
        if st_mode & unix != 0 {
            mode |= go;
        }
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_modes_as_go() {
        // The numbers dockerd puts in the stat header for these files.
        assert_eq!(from_unix_mode(libc::S_IFREG | 0o644), 420);
        assert_eq!(from_unix_mode(libc::S_IFDIR | 0o755), 2_147_484_141);
        assert_eq!(from_unix_mode(libc::S_IFLNK | 0o777), 134_218_239);
        assert_eq!(
            from_unix_mode(libc::S_IFDIR | libc::S_ISVTX | 0o777),
            2_148_532_735
        );
        assert_eq!(
            from_unix_mode(libc::S_IFCHR | 0o666),
            MODE_DEVICE | MODE_CHAR_DEVICE | 0o666
        );
        assert_eq!(from_unix_mode(libc::S_IFBLK | 0o660), MODE_DEVICE | 0o660);
        assert_eq!(
            from_unix_mode(libc::S_IFIFO | 0o600),
            MODE_NAMED_PIPE | 0o600
        );
        assert_eq!(from_unix_mode(libc::S_IFSOCK | 0o755), MODE_SOCKET | 0o755);
        assert_eq!(
            from_unix_mode(libc::S_IFREG | libc::S_ISUID | libc::S_ISGID | 0o755),
            MODE_SETUID | MODE_SETGID | 0o755
        );
    }
}
