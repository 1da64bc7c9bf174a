//! The build context: the tar the client sent, spooled to an unlinked file and indexed.
//!
//! The context never lands on the host's filesystem as a tree: every name is cleaned into a
//! key of the index, and symlinks inside the context are followed within the index (an
//! absolute target or `..` starts again at the context's root), so no context path can reach
//! outside it. `.dockerignore` is applied when the index is built, as dockerd does.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use berth_dockerfile::ignore::clean;
use berth_dockerfile::DockerIgnore;
use berth_types::{Error, Result};
use sha2::{Digest as _, Sha256};

/// What kind of entry a context path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File { offset: u64, size: u64 },
    Dir,
    Symlink(String),
}

/// One context entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

/// An indexed context.
pub struct BuildContext {
    spool: File,
    /// Cleaned relative paths (`a/b`); `""` is the root.
    entries: BTreeMap<String, Entry>,
}

const MAX_SYMLINK_HOPS: usize = 40;

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("failed to read the build context: {msg}"))
}

fn dir_entry() -> Entry {
    Entry {
        kind: Kind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
    }
}

/// A context key for a name from the archive or a Dockerfile; `None` when it leaves the root.
pub fn key_of(name: &str) -> Option<String> {
    let c = clean(&format!("/{name}"));
    let k = c.trim_start_matches('/').to_string();
    Some(k)
}

impl BuildContext {
    /// Reads a plain, gzip, bzip2-less context tar from `reader`, spooling file data into an
    /// unlinked file under `tmp_dir`. `dockerfile` is kept even if `.dockerignore` names it.
    pub fn from_tar(reader: impl Read, tmp_dir: &Path, dockerfile: &str) -> Result<Self> {
        std::fs::create_dir_all(tmp_dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", tmp_dir.display())))?;
        let mut spool = tempfile::tempfile_in(tmp_dir)
            .map_err(|e| Error::internal(format!("build context spool: {e}")))?;
        let mut buffered = BufReader::with_capacity(256 * 1024, reader);
        let head = buffered.fill_buf().map_err(bad)?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let zstd = head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let input: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(&mut buffered))
        } else if zstd {
            Box::new(zstd::stream::read::Decoder::with_buffer(&mut buffered).map_err(bad)?)
        } else {
            Box::new(&mut buffered)
        };
        let mut entries = BTreeMap::new();
        entries.insert(String::new(), dir_entry());
        let mut archive = tar::Archive::new(input);
        let mut offset = 0u64;
        let mut links: Vec<(String, String)> = Vec::new();
        // Whether the last entry's data was read to its end: only then may the archive end
        // where its padding should be (see below).
        let mut last_complete = true;
        for item in archive.entries().map_err(bad)? {
            let mut item = match item {
                Ok(item) => item,
                // The docker CLI sends a context with a Dockerfile from outside it through
                // `ReplaceFileTarWrapper`, whose pipe closes before the tar writer: the stream
                // ends after the last file's data, without its padding or the end-of-archive
                // blocks. Go's tar reader takes that EOF for the end of the archive; so does
                // this one, when nothing of an entry is missing.
                Err(e) if last_complete && e.to_string() == "unexpected EOF during skip" => break,
                Err(e) => return Err(bad(e)),
            };
            let declared = item.header().entry_size().unwrap_or(0);
            last_complete = declared == 0;
            let name = String::from_utf8_lossy(&item.path_bytes()).into_owned();
            let Some(key) = key_of(&name) else { continue };
            let h = item.header();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            let uid = h.uid().unwrap_or(0) as u32;
            let gid = h.gid().unwrap_or(0) as u32;
            let mtime = h.mtime().unwrap_or(0);
            let kind = match h.entry_type() {
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => {
                    let target = item
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    Kind::Symlink(target)
                }
                tar::EntryType::Link => {
                    let target = item
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    links.push((key.clone(), key_of(&target).unwrap_or_default()));
                    continue;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = io::copy(&mut item, &mut spool).map_err(bad)?;
                    if size != declared {
                        return Err(bad("unexpected EOF"));
                    }
                    last_complete = true;
                    let kind = Kind::File { offset, size };
                    offset += size;
                    kind
                }
                // Devices, fifos and the like cannot be COPY sources.
                _ => continue,
            };
            if key.is_empty() {
                continue;
            }
            Self::add_parents(&mut entries, &key);
            entries.insert(
                key,
                Entry {
                    kind,
                    mode,
                    uid,
                    gid,
                    mtime,
                },
            );
        }
        drop(archive);
        // Read what follows the end-of-archive blocks (a writer's padding) too: a client
        // still sending its body when the answer comes sees a broken connection otherwise.
        io::copy(&mut buffered, &mut io::sink()).map_err(bad)?;
        for (key, target) in links {
            if let Some(e) = entries.get(&target).cloned() {
                Self::add_parents(&mut entries, &key);
                entries.insert(key, e);
            }
        }
        spool.flush().map_err(bad)?;
        spool.rewind().map_err(bad)?;
        let mut ctx = Self { spool, entries };
        ctx.apply_dockerignore(dockerfile)?;
        Ok(ctx)
    }

    /// A context of files already in `spool` (`ADD <url>` downloads): `(name, offset, size,
    /// mode, mtime)` each, names cleaned like archive names.
    pub fn from_spooled_files(spool: File, files: &[(String, u64, u64, u32, u64)]) -> Self {
        let mut entries = BTreeMap::new();
        entries.insert(String::new(), dir_entry());
        for (name, offset, size, mode, mtime) in files {
            let Some(key) = key_of(name).filter(|k| !k.is_empty()) else {
                continue;
            };
            Self::add_parents(&mut entries, &key);
            entries.insert(
                key,
                Entry {
                    kind: Kind::File {
                        offset: *offset,
                        size: *size,
                    },
                    mode: *mode,
                    uid: 0,
                    gid: 0,
                    mtime: *mtime,
                },
            );
        }
        Self { spool, entries }
    }

    fn add_parents(entries: &mut BTreeMap<String, Entry>, key: &str) {
        let mut end = 0;
        while let Some(i) = key[end..].find('/') {
            let parent = &key[..end + i];
            entries.entry(parent.to_string()).or_insert_with(dir_entry);
            end += i + 1;
        }
    }

    /// Drops what `.dockerignore` excludes. The Dockerfile and `.dockerignore` stay until the
    /// Dockerfile is read ([`Self::remove_dockerfile`] then drops the ones it excludes). A file
    /// that a `!` exception keeps below an excluded directory gets its parent directories back
    /// (as plain 0755 directories, as an unpack of the client's filtered tar makes them).
    fn apply_dockerignore(&mut self, dockerfile: &str) -> Result<()> {
        let Some(ignore) = self.dockerignore()? else {
            return Ok(());
        };
        let keep = [
            key_of(dockerfile).unwrap_or_default(),
            ".dockerignore".into(),
        ];
        self.entries
            .retain(|k, _| k.is_empty() || keep.contains(k) || !ignore.is_excluded(k));
        let kept: Vec<String> = self.entries.keys().cloned().collect();
        for key in kept {
            Self::add_parents(&mut self.entries, &key);
        }
        Ok(())
    }

    fn dockerignore(&self) -> Result<Option<DockerIgnore>> {
        let Some(text) = self.read_regular(".dockerignore")? else {
            return Ok(None);
        };
        DockerIgnore::parse(&String::from_utf8_lossy(&text))
            .map(Some)
            .map_err(|e| Error::invalid(format!("failed to parse .dockerignore: {e}")))
    }

    /// After the Dockerfile is read: drops `.dockerignore` and the Dockerfile from the context
    /// when `.dockerignore` excludes them, as dockerd's `removeDockerfile`. A Dockerfile from
    /// outside the context comes as `.dockerfile.<random>` with its name added to
    /// `.dockerignore` by the docker CLI and docker-py, so `COPY . /x` copies neither.
    pub fn remove_dockerfile(&mut self, dockerfile: &str) -> Result<()> {
        let Some(ignore) = self.dockerignore()? else {
            return Ok(());
        };
        for name in [".dockerignore", dockerfile] {
            let Some(key) = key_of(name).filter(|k| !k.is_empty()) else {
                continue;
            };
            if ignore.is_excluded(&key) {
                self.entries.remove(&key);
            }
        }
        Ok(())
    }

    /// The bytes of a regular file (symlinks followed), `None` when there is none.
    pub fn read_regular(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(key) = self.resolve(path, true) else {
            return Ok(None);
        };
        match self.entries.get(&key).map(|e| &e.kind) {
            Some(Kind::File { offset, size }) => self.read_at(*offset, *size).map(Some),
            _ => Ok(None),
        }
    }

    pub fn read_at(&self, offset: u64, size: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; size as usize];
        self.spool
            .read_exact_at(&mut buf, offset)
            .map_err(|e| Error::internal(format!("reading the build context: {e}")))?;
        Ok(buf)
    }

    /// A reader over a file's bytes.
    pub fn reader(&self, offset: u64, size: u64) -> impl Read + '_ {
        SpoolReader {
            file: &self.spool,
            pos: offset,
            end: offset + size,
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Resolves `path` inside the context, following symlinks in every component (and in the
    /// last one when `follow_last`); `None` when it does not exist.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Option<String> {
        let mut pending: Vec<String> = key_of(path)?
            .split('/')
            .filter(|s| !s.is_empty())
            .rev()
            .map(str::to_string)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." | "" => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(part);
            let key = cur.join("/");
            let entry = self.entries.get(&key)?;
            if let Kind::Symlink(target) = &entry.kind {
                if pending.is_empty() && !follow_last {
                    break;
                }
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return None;
                }
                cur.pop();
                if target.starts_with('/') {
                    cur.clear();
                }
                for t in target.split('/').rev() {
                    pending.push(t.to_string());
                }
            }
        }
        Some(cur.join("/"))
    }

    /// Keys directly or indirectly below `dir` (not following symlinks), in order.
    pub fn below<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k.is_empty())
    }

    /// Every key, for glob matching.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// A digest of `keys` and everything below them: names (relative to each source), kinds,
    /// modes, owners, symlink targets and file contents; not mtimes.
    pub fn checksum(&self, sources: &[String]) -> Result<String> {
        let mut h = Sha256::new();
        for src in sources {
            h.update(b"\0src\0");
            h.update(src.as_bytes());
            let Some(root) = self.entries.get(src) else {
                continue;
            };
            self.hash_entry(&mut h, "", root)?;
            if root.kind == Kind::Dir {
                let prefix_len = if src.is_empty() { 0 } else { src.len() + 1 };
                for (k, e) in self.below(src) {
                    self.hash_entry(&mut h, &k[prefix_len..], e)?;
                }
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    fn hash_entry(&self, h: &mut Sha256, rel: &str, e: &Entry) -> Result<()> {
        h.update(format!("\0{rel}\0{:o}\0{}\0{}\0", e.mode, e.uid, e.gid).as_bytes());
        match &e.kind {
            Kind::Dir => h.update(b"d"),
            Kind::Symlink(t) => {
                h.update(b"l");
                h.update(t.as_bytes());
            }
            Kind::File { offset, size } => {
                h.update(b"f");
                let mut r = self.reader(*offset, *size);
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = r
                        .read(&mut buf)
                        .map_err(|e| Error::internal(format!("reading the build context: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
        }
        Ok(())
    }
}

struct SpoolReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = (self.end - self.pos) as usize;
        if left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(left);
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tar_of(items: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, typ, data) in items {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*typ);
            h.set_mode(0o644);
            match typ {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    b.append_link(&mut h, name, data).unwrap();
                }
                _ => {
                    h.set_size(data.len() as u64);
                    h.set_path(name).unwrap();
                    h.set_cksum();
                    b.append(&h, data.as_bytes()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn ctx(items: &[(&str, tar::EntryType, &str)]) -> BuildContext {
        let dir = tempfile::tempdir().unwrap();
        BuildContext::from_tar(&tar_of(items)[..], dir.path(), "Dockerfile").unwrap()
    }

    #[test]
    fn names_stay_inside_and_symlinks_resolve_within() {
        use tar::EntryType::*;
        let c = ctx(&[
            ("a/file", Regular, "A"),
            ("up", Symlink, "../../../etc"),
            ("abs", Symlink, "/a"),
            ("rel", Symlink, "a/file"),
        ]);
        assert_eq!(
            c.resolve("up", true),
            None,
            "../../../etc stays in the context"
        );
        assert_eq!(c.resolve("abs/file", true).as_deref(), Some("a/file"));
        assert_eq!(c.resolve("../../a/file", true).as_deref(), Some("a/file"));
        assert_eq!(c.read_regular("rel").unwrap().unwrap(), b"A");
        assert_eq!(c.resolve("rel", false).as_deref(), Some("rel"));
    }

    #[test]
    fn dotdot_names_in_the_tar_are_clamped_to_the_root() {
        use tar::EntryType::*;
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(Regular);
        h.set_size(1);
        h.as_old_mut().name[..13].copy_from_slice(b"../../outside");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let c = BuildContext::from_tar(&data[..], dir.path(), "Dockerfile").unwrap();
        assert!(c.entry("outside").is_some());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing on disk"
        );
    }

    #[test]
    fn dockerignore_drops_entries_but_keeps_the_dockerfile() {
        use tar::EntryType::*;
        let c = ctx(&[
            (".dockerignore", Regular, "*.md\nDockerfile\nsecret/\n"),
            ("Dockerfile", Regular, "FROM x"),
            ("a.md", Regular, "x"),
            ("secret/key", Regular, "k"),
            ("keep.txt", Regular, "k"),
        ]);
        assert!(c.entry("Dockerfile").is_some());
        assert!(c.entry("a.md").is_none());
        assert!(c.entry("secret/key").is_none());
        assert!(c.entry("keep.txt").is_some());
    }

    #[test]
    fn an_archive_may_end_after_its_last_files_data() {
        use tar::EntryType::*;
        let full = tar_of(&[("a.txt", Regular, "hello"), ("b.txt", Regular, "world!")]);
        // The docker CLI's ReplaceFileTarWrapper: no padding after the last file's data,
        // no end-of-archive blocks.
        let b_data = 512 * 3;
        let dir = tempfile::tempdir().unwrap();
        let c = BuildContext::from_tar(&full[..b_data + 6], dir.path(), "Dockerfile").unwrap();
        assert_eq!(c.read_regular("b.txt").unwrap().unwrap(), b"world!");
        let c = BuildContext::from_tar(&full[..b_data + 512], dir.path(), "Dockerfile").unwrap();
        assert_eq!(c.read_regular("b.txt").unwrap().unwrap(), b"world!");
        // Data cut short is still an error.
        assert!(BuildContext::from_tar(&full[..b_data + 3], dir.path(), "Dockerfile").is_err());
    }

    #[test]
    fn excluded_dockerfile_and_dockerignore_go_once_read() {
        use tar::EntryType::*;
        let mut c = ctx(&[
            (".dockerignore", Regular, ".dockerignore\n.dockerfile.abc\n"),
            (".dockerfile.abc", Regular, "FROM x"),
            ("file.txt", Regular, "k"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let mut c2 = BuildContext::from_tar(
            &tar_of(&[
                (".dockerignore", Regular, ".dockerignore\n.dockerfile.abc\n"),
                (".dockerfile.abc", Regular, "FROM x"),
            ])[..],
            dir.path(),
            ".dockerfile.abc",
        )
        .unwrap();
        assert!(c2.read_regular(".dockerfile.abc").unwrap().is_some());
        c2.remove_dockerfile(".dockerfile.abc").unwrap();
        assert!(c2.entry(".dockerfile.abc").is_none());
        assert!(c2.entry(".dockerignore").is_none());
        // `.dockerignore` names itself: it goes, whichever the Dockerfile.
        c.remove_dockerfile("Dockerfile").unwrap();
        assert!(c.entry(".dockerignore").is_none());
        assert!(c.entry("file.txt").is_some());
        let mut kept = ctx(&[
            (".dockerignore", Regular, "*.md\n"),
            ("Dockerfile", Regular, "FROM x"),
        ]);
        kept.remove_dockerfile("Dockerfile").unwrap();
        assert!(kept.entry("Dockerfile").is_some());
        assert!(kept.entry(".dockerignore").is_some());
    }

    #[test]
    fn exceptions_below_an_excluded_directory_keep_their_parents() {
        use tar::EntryType::*;
        let c = ctx(&[
            (".dockerignore", Regular, "ignored\n!ignored/subdir/kept\n"),
            ("ignored/subdir/kept", Regular, "k"),
            ("ignored/subdir/gone", Regular, "g"),
        ]);
        assert_eq!(c.entry("ignored").map(|e| &e.kind), Some(&Kind::Dir));
        assert_eq!(c.entry("ignored/subdir").map(|e| &e.kind), Some(&Kind::Dir));
        assert!(c.entry("ignored/subdir/kept").is_some());
        assert!(c.entry("ignored/subdir/gone").is_none());
    }

    #[test]
    fn checksum_sees_content_mode_and_names_not_mtime() {
        use tar::EntryType::*;
        let base = ctx(&[("d/f", Regular, "1")]);
        let other = ctx(&[("d/f", Regular, "2")]);
        let renamed = ctx(&[("d/g", Regular, "1")]);
        let k = |c: &BuildContext| c.checksum(&["d".to_string()]).unwrap();
        assert_ne!(k(&base), k(&other));
        assert_ne!(k(&base), k(&renamed));
        assert_eq!(k(&base), k(&ctx(&[("d/f", Regular, "1")])));
    }
}
