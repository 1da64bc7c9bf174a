//! The disk usage of a tree — a container's upper directory — as containerd's overlay
//! snapshotter measures a snapshot's `Usage`: the blocks its inodes occupy and how many inodes
//! there are, a hard-linked inode counted once. The CRI's `ContainerStats.writable_layer` and
//! the `container_fs_usage_bytes` metric report it.

use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

/// What [`dir_usage`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirUsage {
    /// Bytes of the blocks allocated to the tree's inodes (`st_blocks * 512`).
    pub bytes: u64,
    /// Inodes in the tree, the top directory included.
    pub inodes: u64,
}

/// Measures the tree under `dir`. Like [`crate::dir_size`] it is walked by descriptor from
/// `dir` opened through pathrs, one name at a time, never following a symlink (a symlink is
/// one inode of its own) and never leaving `dir`'s filesystem; entries that vanish during the
/// walk are skipped.
pub fn dir_usage(dir: &Path) -> io::Result<DirUsage> {
    let root = berth_types::inroot::Root::open(dir)?;
    let top = berth_types::inroot::open(root.as_fd(), b"", libc::O_PATH | libc::O_DIRECTORY)?;
    let dot = CString::from(c".");
    let st = crate::sys::lstatat(top.as_fd(), &dot)?
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
    let dev = st.st_dev;
    let mut seen: HashSet<u64> = HashSet::from([st.st_ino]);
    let mut usage = DirUsage {
        bytes: block_bytes(&st),
        inodes: 1,
    };
    let mut pending: Vec<(Rc<OwnedFd>, CString)> = Vec::new();
    add_entries(Rc::new(top), dev, &mut seen, &mut usage, &mut pending)?;
    while let Some((parent, name)) = pending.pop() {
        match crate::fsread::openat_nofollow(
            parent.as_fd(),
            &name,
            libc::O_PATH | libc::O_DIRECTORY,
        ) {
            Ok(sub) => add_entries(Rc::new(sub), dev, &mut seen, &mut usage, &mut pending)?,
            // Removed, or swapped for something else, since it was listed.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(usage)
}

fn block_bytes(st: &libc::stat) -> u64 {
    u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512)
}

fn add_entries(
    dir: Rc<OwnedFd>,
    dev: libc::dev_t,
    seen: &mut HashSet<u64>,
    usage: &mut DirUsage,
    pending: &mut Vec<(Rc<OwnedFd>, CString)>,
) -> io::Result<()> {
    for name in crate::fsread::list_dir(dir.as_fd())? {
        let name = CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "NUL in a name"))?;
        let Some(st) = crate::sys::lstatat(dir.as_fd(), &name)? else {
            continue;
        };
        // Another filesystem mounted inside is not the layer's.
        if st.st_dev != dev || !seen.insert(st.st_ino) {
            continue;
        }
        usage.inodes += 1;
        usage.bytes += block_bytes(&st);
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            pending.push((dir.clone(), name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dir_usage;
    use std::os::unix::fs::symlink;

    #[test]
    fn counts_inodes_once_and_follows_no_symlink() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("upper");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(dir.join("a/b")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("big"), vec![1u8; 256 * 1024]).expect("write");
        std::fs::write(dir.join("a/b/f"), vec![7u8; 64 * 1024]).expect("write");
        std::fs::hard_link(dir.join("a/b/f"), dir.join("g")).expect("link");
        symlink(&outside, dir.join("out")).expect("symlink");
        let u = dir_usage(&dir).expect("usage");
        // upper, a, b, f (= g), out
        assert_eq!(u.inodes, 5, "{u:?}");
        assert!(u.bytes >= 64 * 1024, "{u:?}");
        assert!(
            u.bytes < 256 * 1024,
            "the symlink's target is not counted: {u:?}"
        );
    }
}
