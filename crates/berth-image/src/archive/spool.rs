//! Spooling an image archive: every regular member is streamed into the content store's
//! `ingest/` (hashed on the way), links are kept as aliases. Member names are only ever keys in
//! a map, never paths on disk, so `..`, absolute names and links cannot write anywhere; links
//! are resolved inside the archive as dockerd's `FollowSymlinkInScope` does.

use std::collections::HashMap;
use std::io::{BufWriter, Read};

use berth_store::{ContentStore, ParkedBlob};
use berth_types::Digest;
use tar::EntryType;

use super::error::ArchiveError;
use crate::compression::decompress;

/// At most this many members (each regular one is a file in `ingest/`).
const MAX_MEMBERS: usize = 100_000;
/// Write buffer for spooled members.
const SPOOL_BUFFER: usize = 1 << 20;
/// Symlink hops allowed while resolving one name (Linux's MAXSYMLINKS).
const MAX_HOPS: usize = 40;

enum Member {
    File(ParkedBlob),
    /// A symlink or hardlink, as the archive path it points at.
    Link(String),
    Dir,
}

/// The archive's members by normalised path.
pub(crate) struct Spool {
    members: HashMap<String, Member>,
}

/// `a/./b//c` -> `a/b/c`; `None` when a `..` climbs above the root. Leading `/` is dropped.
fn normalise(name: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Resolves a symlink `target` found at `link_path`, clamped to the archive root as a chroot
/// would (`..` at the root stays at the root; an absolute target starts at the root).
fn resolve_link_target(link_path: &str, target: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        out.extend(link_path.split('/').filter(|c| !c.is_empty()));
        out.pop(); // the link's own name
    }
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

impl Spool {
    /// Reads the whole archive (plain, gzip or zstd) into `ingest/`.
    pub fn read(reader: impl Read, content: &ContentStore) -> Result<Self, ArchiveError> {
        let (_, reader) = decompress(reader).map_err(ArchiveError::Read)?;
        let mut archive = tar::Archive::new(reader);
        let mut members = HashMap::new();
        for entry in archive.entries().map_err(ArchiveError::Read)? {
            let mut entry = entry.map_err(ArchiveError::Read)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if raw.starts_with('/') {
                return Err(ArchiveError::UnsafePath(raw));
            }
            let name = normalise(&raw).ok_or_else(|| ArchiveError::UnsafePath(raw.clone()))?;
            let member = match entry.header().entry_type() {
                EntryType::Regular | EntryType::Continuous => {
                    let w = content.writer().map_err(content_err)?;
                    // Large writes: the upload arrives in small chunks, each a syscall and
                    // a hash update otherwise.
                    let mut buffered = BufWriter::with_capacity(SPOOL_BUFFER, w);
                    std::io::copy(&mut entry, &mut buffered).map_err(ArchiveError::Read)?;
                    let w = buffered
                        .into_inner()
                        .map_err(|e| ArchiveError::Read(e.into_error()))?;
                    Member::File(w.park().map_err(content_err)?)
                }
                EntryType::Directory => Member::Dir,
                EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    Member::Link(resolve_link_target(&name, &target))
                }
                EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let target = if target.starts_with('/') {
                        None
                    } else {
                        normalise(&target)
                    };
                    Member::Link(target.ok_or_else(|| ArchiveError::UnsafePath(raw.clone()))?)
                }
                // Devices, fifos, PAX globals: nothing an image archive needs.
                _ => continue,
            };
            if name.is_empty() {
                continue; // "./" itself
            }
            members.insert(name, member);
            if members.len() > MAX_MEMBERS {
                return Err(ArchiveError::TooManyMembers(MAX_MEMBERS));
            }
        }
        let spool = Self { members };
        spool.verify_blob_names()?;
        Ok(spool)
    }

    /// An OCI layout names blobs by digest: a member `blobs/sha256/<hex>` must hash to `<hex>`.
    fn verify_blob_names(&self) -> Result<(), ArchiveError> {
        for (name, member) in &self.members {
            let (Some(hex), Member::File(blob)) = (name.strip_prefix("blobs/sha256/"), member)
            else {
                continue;
            };
            if let Ok(expected) = format!("sha256:{hex}").parse::<Digest>() {
                if &expected != blob.digest() {
                    return Err(ArchiveError::BlobDigest {
                        path: name.clone(),
                        actual: blob.digest().to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn contains(&self, path: &str) -> bool {
        self.resolve(path).is_ok()
    }

    /// Follows links in every component of `path` (inside the archive) to a regular member.
    pub fn resolve(&self, path: &str) -> Result<(String, &ParkedBlob), ArchiveError> {
        let mut current = normalise(path).unwrap_or_default();
        let mut hops = 0;
        'restart: loop {
            let comps: Vec<&str> = current.split('/').filter(|c| !c.is_empty()).collect();
            for i in 1..=comps.len() {
                let prefix = comps[..i].join("/");
                match self.members.get(&prefix) {
                    Some(Member::Link(target)) => {
                        hops += 1;
                        if hops > MAX_HOPS {
                            return Err(ArchiveError::SymlinkLoop(path.to_string()));
                        }
                        let mut next = target.clone();
                        for rest in &comps[i..] {
                            next.push('/');
                            next.push_str(rest);
                        }
                        current = normalise(&next).unwrap_or_default();
                        continue 'restart;
                    }
                    Some(Member::File(blob)) if i == comps.len() => return Ok((prefix, blob)),
                    Some(Member::File(_)) => {
                        return Err(ArchiveError::MissingMember(path.to_string()))
                    }
                    Some(Member::Dir) if i == comps.len() => {
                        return Err(ArchiveError::NotAFile(path.to_string()))
                    }
                    // A directory implied by its children need not have its own entry.
                    Some(Member::Dir) | None => {}
                }
            }
            return Err(ArchiveError::MissingMember(path.to_string()));
        }
    }

    /// The bytes of a small member (JSON documents), at most `limit` of them.
    pub fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let (name, blob) = self.resolve(path)?;
        if blob.size() > limit {
            return Err(ArchiveError::TooLarge { path: name, limit });
        }
        let mut data = Vec::with_capacity(blob.size() as usize);
        blob.open()
            .map_err(content_err)?
            .read_to_end(&mut data)
            .map_err(ArchiveError::Read)?;
        Ok(data)
    }

    /// Takes a regular member out of the spool (to publish it), leaving a note that it moved.
    pub fn take(&mut self, resolved_name: &str) -> Option<ParkedBlob> {
        match self.members.remove(resolved_name) {
            Some(Member::File(blob)) => Some(blob),
            other => {
                if let Some(m) = other {
                    self.members.insert(resolved_name.to_string(), m);
                }
                None
            }
        }
    }
}

fn content_err(e: berth_store::ContentError) -> ArchiveError {
    ArchiveError::Read(std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, typ, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*typ);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Raw names, so hostile ones reach the reader unchanged.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(dir.path().join("content")).expect("open");
        (dir, store)
    }

    #[test]
    fn links_resolve_inside_the_archive() {
        let (_d, store) = store();
        let data = tar_with(&[
            ("a/layer.tar", EntryType::Regular, b"layer", None),
            (
                "b/layer.tar",
                EntryType::Symlink,
                b"",
                Some("../a/layer.tar"),
            ),
            ("c", EntryType::Symlink, b"", Some("/a")),
            ("d", EntryType::Symlink, b"", Some("../../../../a")),
            ("e/layer.tar", EntryType::Link, b"", Some("a/layer.tar")),
            ("loop", EntryType::Symlink, b"", Some("loop")),
        ]);
        let spool = Spool::read(&data[..], &store).expect("spool");
        for p in [
            "a/layer.tar",
            "b/layer.tar",
            "c/layer.tar",
            "d/layer.tar",
            "e/layer.tar",
            "./a//layer.tar",
        ] {
            let (name, blob) = spool.resolve(p).expect(p);
            assert_eq!(name, "a/layer.tar", "{p}");
            assert_eq!(blob.digest(), &Digest::of(b"layer"));
        }
        assert!(matches!(
            spool.resolve("loop"),
            Err(ArchiveError::SymlinkLoop(_))
        ));
        assert!(matches!(
            spool.resolve("a"),
            Err(ArchiveError::NotAFile(_)) | Err(ArchiveError::MissingMember(_))
        ));
        assert!(matches!(
            spool.resolve("nope"),
            Err(ArchiveError::MissingMember(_))
        ));
    }

    #[test]
    fn escaping_names_are_refused() {
        let (dir, store) = store();
        for (name, typ, link) in [
            ("../evil", EntryType::Regular, None),
            ("/etc/evil", EntryType::Regular, None),
            ("a/../../evil", EntryType::Regular, None),
            ("h", EntryType::Link, Some("../outside")),
            ("h", EntryType::Link, Some("/etc/passwd")),
        ] {
            let data = tar_with(&[
                ("ok", EntryType::Regular, b"x", None),
                (name, typ, b"", link),
            ]);
            let err = Spool::read(&data[..], &store).err().expect(name);
            assert!(matches!(err, ArchiveError::UnsafePath(_)), "{name}: {err}");
        }
        // Nothing is left in ingest.
        assert_eq!(
            std::fs::read_dir(dir.path().join("content/ingest"))
                .expect("ingest")
                .count(),
            0
        );
    }

    #[test]
    fn oci_blobs_must_match_their_names() {
        let (_d, store) = store();
        let name = format!("blobs/sha256/{}", Digest::of(b"other").hex());
        let data = tar_with(&[(name.as_str(), EntryType::Regular, b"content", None)]);
        assert!(matches!(
            Spool::read(&data[..], &store),
            Err(ArchiveError::BlobDigest { .. })
        ));
    }
}
