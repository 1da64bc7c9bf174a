//! Writing a directory tree as a tar stream, walking it by descriptors: every child is opened
//! with `openat(parent, name, O_NOFOLLOW)` from its already opened parent, so a symlink the
//! container controls is archived as a symlink and never followed, and a symlink swapped in
//! during the walk cannot redirect it (the open fails instead of escaping).
//!
//! Names follow dockerd's archives: directories end with `/`, entries are sorted by name,
//! hardlinked files after the first become link entries, `security.capability` travels as a
//! PAX xattr, sockets are left out. With overlay whiteouts enabled (a container's upper dir
//! becoming a layer), a 0:0 character device becomes an empty `.wh.<name>` file and an opaque
//! directory gets a `.wh..wh..opq` entry, as dockerd's overlay converter writes them.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use crate::fsread;

const OPAQUE_XATTR: &CStr_ = c"trusted.overlay.opaque";
const CAPABILITY_XATTR: &CStr_ = c"security.capability";
type CStr_ = std::ffi::CStr;

/// Why a tree could not be archived.
#[derive(Debug, thiserror::Error)]
pub enum TreeTarError {
    #[error("archiving {name}: {source}")]
    Io { name: String, source: io::Error },
    #[error("writing archive: {0}")]
    Write(#[source] io::Error),
}

/// What to leave out or convert.
#[derive(Clone, Copy, Default)]
pub struct TreeTarOptions {
    /// Convert overlay whiteouts to `.wh.` files (layer export of an upper dir).
    pub overlay_whiteouts: bool,
    /// Entries (path relative to the walk's start, and their lstat) to leave out.
    pub skip: Option<fn(&[u8], &libc::stat) -> bool>,
    /// No entry's mtime is later than this (`SOURCE_DATE_EPOCH` builds).
    pub mtime_clamp: Option<u64>,
}

/// A tar writer fed from directory descriptors.
pub struct TreeTar<W: Write> {
    builder: tar::Builder<W>,
    opts: TreeTarOptions,
    /// (dev, ino) of multiply-linked files already written -> their archive name.
    links: HashMap<(u64, u64), Vec<u8>>,
}

/// `base` + `/` + `child`, without doubling a trailing `/` (`/` + `bin` is `/bin`; `` + `bin`
/// is `bin`).
pub fn join_name(base: &[u8], child: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    if !out.is_empty() && !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(child);
    out
}

fn kind(st: &libc::stat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

impl<W: Write> TreeTar<W> {
    pub fn new(writer: W, opts: TreeTarOptions) -> Self {
        let mut builder = tar::Builder::new(writer);
        builder.mode(tar::HeaderMode::Complete);
        Self {
            builder,
            opts,
            links: HashMap::new(),
        }
    }

    /// The directory `dir` itself as `name`, then everything below it.
    pub fn append_dir(&mut self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), TreeTarError> {
        let st = fsread::fstat(dir).map_err(|source| err(name, source))?;
        self.write_dir_header(dir, None, name, &st)?;
        self.append_children(dir, name, b"")
    }

    /// Only what is below `dir`, named relative to it (an image layer has no root entry).
    pub fn append_contents(&mut self, dir: BorrowedFd<'_>) -> Result<(), TreeTarError> {
        self.append_children(dir, b"", b"")
    }

    /// `parent/name` (a final symlink is archived, not followed) as `archive_name`, with
    /// everything below it if it is a directory.
    pub fn append_entry(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        archive_name: &[u8],
    ) -> Result<(), TreeTarError> {
        self.append_node(parent, name, archive_name, name)
    }

    /// Ends the archive (two zero blocks) and returns the writer.
    pub fn finish(self) -> Result<W, TreeTarError> {
        self.builder.into_inner().map_err(TreeTarError::Write)
    }

    fn append_children(
        &mut self,
        dir: BorrowedFd<'_>,
        archive_base: &[u8],
        rel_base: &[u8],
    ) -> Result<(), TreeTarError> {
        let names = fsread::list_dir(dir).map_err(|source| err(archive_base, source))?;
        for child in names {
            let archive_name = join_name(archive_base, &child);
            let rel = join_name(rel_base, &child);
            self.append_node(dir, &child, &archive_name, &rel)?;
        }
        Ok(())
    }

    fn append_node(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        archive_name: &[u8],
        rel: &[u8],
    ) -> Result<(), TreeTarError> {
        let e = |source| err(archive_name, source);
        let cname = CString::new(name.to_vec()).map_err(|_| {
            e(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NUL in file name",
            ))
        })?;
        let Some(st) = crate::sys::lstatat(parent, &cname).map_err(e)? else {
            // Removed while we walked: nothing to archive.
            return Ok(());
        };
        if let Some(skip) = self.opts.skip {
            if skip(rel, &st) {
                return Ok(());
            }
        }
        match kind(&st) {
            libc::S_IFDIR => {
                let dir =
                    fsread::openat_nofollow(parent, &cname, libc::O_RDONLY | libc::O_DIRECTORY)
                        .map_err(e)?;
                let st = fsread::fstat(dir.as_fd()).map_err(e)?;
                self.write_dir_header(dir.as_fd(), Some((parent, name)), archive_name, &st)?;
                self.append_children(dir.as_fd(), archive_name, rel)
            }
            libc::S_IFREG => self.write_file(parent, &cname, archive_name, &st),
            libc::S_IFLNK => {
                let target = fsread::readlinkat(parent, &cname).map_err(e)?;
                let h = header(self.opts.mtime_clamp, &st, tar::EntryType::Symlink);
                self.append_raw(h, archive_name, Some(&target), io::empty())
            }
            libc::S_IFCHR if self.opts.overlay_whiteouts && st.st_rdev == 0 => {
                let mut h = header(self.opts.mtime_clamp, &st, tar::EntryType::Regular);
                h.set_mode(0o600);
                h.set_size(0);
                let whiteout = whiteout_name(archive_name);
                self.append_raw(h, &whiteout, None, io::empty())
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let typ = match kind(&st) {
                    libc::S_IFCHR => tar::EntryType::Char,
                    libc::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header(self.opts.mtime_clamp, &st, typ);
                if typ != tar::EntryType::Fifo {
                    let (major, minor) = fsread::dev_parts(st.st_rdev);
                    h.set_device_major(major).map_err(e)?;
                    h.set_device_minor(minor).map_err(e)?;
                }
                self.append_raw(h, archive_name, None, io::empty())
            }
            // Sockets (and anything unknown) are not archived, as in dockerd.
            _ => Ok(()),
        }
    }

    fn write_dir_header(
        &mut self,
        dir: BorrowedFd<'_>,
        parent_and_name: Option<(BorrowedFd<'_>, &[u8])>,
        archive_name: &[u8],
        st: &libc::stat,
    ) -> Result<(), TreeTarError> {
        let mut name = archive_name.to_vec();
        if !name.ends_with(b"/") {
            name.push(b'/');
        }
        let mut h = header(self.opts.mtime_clamp, st, tar::EntryType::Directory);
        h.set_size(0);
        self.append_raw(h, &name, None, io::empty())?;
        if self.opts.overlay_whiteouts {
            let opaque = match parent_and_name {
                Some((parent, n)) => fsread::lgetxattrat(parent, n, OPAQUE_XATTR),
                None => fsread::lgetxattrat(dir, b".", OPAQUE_XATTR),
            }
            .map_err(|source| err(archive_name, source))?;
            if opaque.as_deref() == Some(b"y") {
                let mut wo = header(self.opts.mtime_clamp, st, tar::EntryType::Regular);
                wo.set_mode(st.st_mode & 0o777);
                wo.set_size(0);
                wo.set_mtime(0);
                self.append_raw(wo, &join_name(&name, b".wh..wh..opq"), None, io::empty())?;
            }
        }
        Ok(())
    }

    fn write_file(
        &mut self,
        parent: BorrowedFd<'_>,
        cname: &CString,
        archive_name: &[u8],
        lst: &libc::stat,
    ) -> Result<(), TreeTarError> {
        let e = |source| err(archive_name, source);
        let id = (lst.st_dev, lst.st_ino);
        if lst.st_nlink > 1 {
            if let Some(first) = self.links.get(&id) {
                let mut h = header(self.opts.mtime_clamp, lst, tar::EntryType::Link);
                h.set_size(0);
                let first = first.clone();
                return self.append_raw(h, archive_name, Some(&first), io::empty());
            }
        }
        let fd = fsread::openat_nofollow(parent, cname, libc::O_RDONLY).map_err(e)?;
        let st = fsread::fstat(fd.as_fd()).map_err(e)?;
        if kind(&st) != libc::S_IFREG || st.st_ino != lst.st_ino {
            return Err(e(io::Error::other("file changed while it was archived")));
        }
        let size = st.st_size.max(0) as u64;
        let mut h = header(self.opts.mtime_clamp, &st, tar::EntryType::Regular);
        h.set_size(size);
        let cap = fsread::lgetxattrat(parent, cname.as_bytes(), CAPABILITY_XATTR).map_err(e)?;
        if let Some(cap) = cap {
            let key = "SCHILY.xattr.security.capability";
            self.builder
                .append_pax_extensions([(key, cap.as_slice())])
                .map_err(TreeTarError::Write)?;
        }
        let body = ExactSize {
            inner: File::from(fd).take(size),
            remaining: size,
        };
        self.append_raw(h, archive_name, None, body)?;
        if lst.st_nlink > 1 {
            self.links.insert(id, archive_name.to_vec());
        }
        Ok(())
    }
}

fn err(name: &[u8], source: io::Error) -> TreeTarError {
    TreeTarError::Io {
        name: String::from_utf8_lossy(name).into_owned(),
        source,
    }
}

/// Length of the name and link-name fields of a tar header.
const NAME_FIELD: usize = 100;

impl<W: Write> TreeTar<W> {
    /// Appends an entry with `name` (and `link`) written as given: dockerd's archives use
    /// names such as `/bin` or `./x` that the tar crate's path setters refuse. Names longer than
    /// a header field travel in GNU long-name entries first.
    fn append_raw(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> Result<(), TreeTarError> {
        if name.len() > NAME_FIELD {
            self.append_long(tar::EntryType::GNULongName, name)?;
        }
        if let Some(link) = link {
            if link.len() > NAME_FIELD {
                self.append_long(tar::EntryType::GNULongLink, link)?;
            }
        }
        let old = h.as_old_mut();
        fill(&mut old.name, name);
        if let Some(link) = link {
            fill(&mut old.linkname, link);
        }
        h.set_cksum();
        self.builder.append(&h, data).map_err(TreeTarError::Write)
    }

    fn append_long(&mut self, typ: tar::EntryType, value: &[u8]) -> Result<(), TreeTarError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(typ);
        fill(&mut h.as_old_mut().name, b"././@LongLink");
        h.set_mode(0o644);
        let mut data = value.to_vec();
        data.push(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.builder
            .append(&h, data.as_slice())
            .map_err(TreeTarError::Write)
    }
}

/// Copies `value` into a NUL-padded header field, cut to the field's length.
fn fill(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// `dir/.wh.name` for `dir/name`.
pub fn whiteout_name(archive_name: &[u8]) -> Vec<u8> {
    match archive_name.iter().rposition(|b| *b == b'/') {
        Some(i) => {
            let mut out = archive_name[..=i].to_vec();
            out.extend_from_slice(b".wh.");
            out.extend_from_slice(&archive_name[i + 1..]);
            out
        }
        None => [b".wh.".as_slice(), archive_name].concat(),
    }
}

fn header(clamp: Option<u64>, st: &libc::stat, typ: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(typ);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    let mtime = st.st_mtime.max(0) as u64;
    h.set_mtime(clamp.map_or(mtime, |c| mtime.min(c)));
    h.set_size(0);
    h
}

/// A file body of exactly the size announced in its header: a file that shrank while being
/// read is padded with zeros, one that grew is cut (the header was already written).
struct ExactSize<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_join_like_dockerd() {
        assert_eq!(join_name(b"/", b"bin"), b"/bin");
        assert_eq!(join_name(b".", b"dd"), b"./dd");
        assert_eq!(join_name(b"", b"bin"), b"bin");
        assert_eq!(join_name(b"tmp/", b"x"), b"tmp/x");
        assert_eq!(whiteout_name(b"etc/passwd"), b"etc/.wh.passwd");
        assert_eq!(whiteout_name(b"top"), b".wh.top");
    }
}
