//! Content-addressed blobs: `blobs/<algorithm>/<hex>`, written through `ingest/`.
//!
//! A blob is streamed into a fresh file under `ingest/`, hashed as it is written, fsynced,
//! checked against the expected digest (when the caller knows it) and only then renamed into
//! `blobs/<algorithm>/`. The rename is atomic, so readers see a whole, verified blob or nothing.
//! Writers hash with sha256 as they go; a blob expected under a sha512 digest (which only the
//! registry receives) is re-read once at commit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_types::digest::Algorithm;
use berth_types::{Digest, Error};
use rand::RngCore;

use crate::lease::{Lease, LeaseError};
use sha2::{Digest as _, Sha256, Sha512};

/// Why a content-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("blob {0} not found")]
    NotFound(Digest),
    #[error("failed to verify blob: expected digest {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("content store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

impl From<ContentError> for Error {
    fn from(e: ContentError) -> Self {
        match &e {
            ContentError::NotFound(_) => Error::not_found(e.to_string()),
            ContentError::DigestMismatch { .. } => Error::invalid(e.to_string()),
            ContentError::Io { .. } | ContentError::Lease(_) => Error::internal(e.to_string()),
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The blob store rooted at `<data-root>/content`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    /// `blobs/`, holding one directory per algorithm.
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens the store at `root` (normally `<data-root>/content`), creating its directories.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, ContentError> {
        let root = root.as_ref();
        let blobs = root.join("blobs");
        let ingest = root.join("ingest");
        for dir in [&blobs.join(Algorithm::Sha256.name()), &ingest] {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        Ok(Self { blobs, ingest })
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.algorithm()).join(digest.hex())
    }

    /// Starts writing a new blob.
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        let mut rnd = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut rnd);
        let path = self.ingest.join(format!("tmp-{}", hex::encode(rnd)));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_at(&path))?;
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Streams `reader` into a new blob; with `expected`, the content must hash to it.
    pub fn write_from(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), ContentError> {
        let mut w = self.writer()?;
        let tmp = w.path.clone();
        io::copy(reader, &mut w).map_err(io_at(&tmp))?;
        w.commit(expected)
    }

    /// [`ContentStore::write_from`] for a writer that runs while garbage may be collected: the
    /// blob is added to `lease` before it becomes visible.
    pub fn write_from_leased(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
        lease: &Lease,
    ) -> Result<(Digest, u64), ContentError> {
        let mut w = self.writer()?;
        let tmp = w.path.clone();
        io::copy(reader, &mut w).map_err(io_at(&tmp))?;
        w.commit_leased(expected, lease)
    }

    /// [`ContentStore::write_bytes`] under a lease (see [`ContentStore::write_from_leased`]).
    pub fn write_bytes_leased(
        &self,
        data: &[u8],
        expected: Option<&Digest>,
        lease: &Lease,
    ) -> Result<Digest, ContentError> {
        let mut w = self.writer()?;
        let tmp = w.path.clone();
        w.write_all(data).map_err(io_at(&tmp))?;
        Ok(w.commit_leased(expected, lease)?.0)
    }

    /// Re-hashes the blob: `Ok(None)` when its content matches its name, `Ok(Some(actual))`
    /// when it does not.
    pub fn verify(&self, digest: &Digest) -> Result<Option<Digest>, ContentError> {
        let path = self.blob_path(digest);
        let mut file = self.open_blob(digest)?;
        let actual = hash_reader(&mut file, digest.hash_algorithm()).map_err(io_at(&path))?;
        Ok((&actual != digest).then_some(actual))
    }

    /// Stores `data` as a blob and returns its digest.
    pub fn write_bytes(
        &self,
        data: &[u8],
        expected: Option<&Digest>,
    ) -> Result<Digest, ContentError> {
        let mut w = self.writer()?;
        let tmp = w.path.clone();
        w.write_all(data).map_err(io_at(&tmp))?;
        Ok(w.commit(expected)?.0)
    }

    /// Opens the blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(digest.clone()),
            _ => ContentError::Io {
                path: path.clone(),
                source: e,
            },
        })
    }

    /// Reads a whole (small) blob, such as an image config, verifying its digest.
    pub fn read_bytes(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut data = Vec::new();
        let path = self.blob_path(digest);
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .map_err(io_at(&path))?;
        let actual = Digest::of_with(digest.hash_algorithm(), &data);
        if &actual != digest {
            return Err(ContentError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Whether the blob is present.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The blob's size in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(ContentError::Io { path, source: e }),
        }
    }

    /// Deletes the blob; deleting a missing blob is not an error (GC may race a delete).
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ContentError::Io { path, source: e }),
        }
    }

    /// Every blob in the store.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let mut out = Vec::new();
        for algorithm in Algorithm::ALL {
            let dir = self.blobs.join(algorithm.name());
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ContentError::Io {
                        path: dir,
                        source: e,
                    })
                }
            };
            for entry in entries {
                let entry = entry.map_err(io_at(&dir))?;
                if let Some(d) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| format!("{}:{n}", algorithm.name()).parse().ok())
                {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes abandoned ingest files (left by a crash); call at startup before any writer runs.
    pub fn clean_ingest(&self) -> Result<usize, ContentError> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.ingest).map_err(io_at(&self.ingest))? {
            let path = entry.map_err(io_at(&self.ingest))?.path();
            fs::remove_file(&path).map_err(io_at(&path))?;
            removed += 1;
        }
        Ok(removed)
    }

    fn commit_file(&self, tmp: &Path, digest: &Digest) -> Result<(), ContentError> {
        let target = self.blob_path(digest);
        let dir = self.blobs.join(digest.algorithm());
        if digest.hash_algorithm() != Algorithm::Sha256 {
            fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        }
        fs::rename(tmp, &target).map_err(io_at(&target))?;
        // The rename is durable only once the directory entry is.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&dir))
    }
}

/// A blob being written. `Write` into it, then [`BlobWriter::commit`]; dropping it uncommitted
/// removes the partial data.
pub struct BlobWriter {
    store: ContentStore,
    file: Option<File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Finishes the blob: fsync, verify against `expected` (if given), then publish it.
    /// A blob that already exists is left as it is (content addressing makes them equal).
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), ContentError> {
        self.finish(expected, None)
    }

    /// [`BlobWriter::commit`], adding the blob to `lease` before it is published or reused, so
    /// a concurrent garbage collection keeps it.
    pub fn commit_leased(
        self,
        expected: Option<&Digest>,
        lease: &Lease,
    ) -> Result<(Digest, u64), ContentError> {
        self.finish(expected, Some(lease))
    }

    fn finish(
        mut self,
        expected: Option<&Digest>,
        lease: Option<&Lease>,
    ) -> Result<(Digest, u64), ContentError> {
        let file = self.file.take();
        if let Some(f) = &file {
            f.sync_all().map_err(io_at(&self.path))?;
        }
        drop(file);
        let sha256 = Digest::from_hasher(std::mem::take(&mut self.hasher));
        let actual = match expected.map(Digest::hash_algorithm) {
            Some(algorithm) if algorithm != Algorithm::Sha256 => File::open(&self.path)
                .and_then(|mut f| hash_reader(&mut f, algorithm))
                .map_err(io_at(&self.path))?,
            _ => sha256,
        };
        if let Some(expected) = expected {
            if expected != &actual {
                return Err(ContentError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        if let Some(lease) = lease {
            // Before the existence check: a collector either finished deleting an old copy
            // already (then we publish ours) or will see the protection.
            lease.protect_blob(&actual)?;
        }
        if self.store.exists(&actual) {
            return Ok((actual, self.size)); // Drop removes the temp file.
        }
        self.store.commit_file(&self.path, &actual)?;
        self.path = PathBuf::new();
        Ok((actual, self.size))
    }
}

impl BlobWriter {
    /// Closes the data without publishing it: the digest is known, the bytes stay in `ingest/`
    /// until [`ParkedBlob::publish`] (or are removed when the [`ParkedBlob`] is dropped). Used
    /// to spool an archive's members before knowing which of them become blobs.
    pub fn park(mut self) -> Result<ParkedBlob, ContentError> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(io_at(&self.path))?;
        }
        let digest = Digest::from_hasher(std::mem::take(&mut self.hasher));
        Ok(ParkedBlob {
            store: self.store.clone(),
            path: std::mem::take(&mut self.path),
            digest,
            size: self.size,
        })
    }
}

/// Hashed data in `ingest/`, not (yet) a blob. Dropping it removes the data.
#[derive(Debug)]
pub struct ParkedBlob {
    store: ContentStore,
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl ParkedBlob {
    /// The sha256 of the data, computed while it was written.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Opens the data for reading.
    pub fn open(&self) -> Result<File, ContentError> {
        File::open(&self.path).map_err(io_at(&self.path))
    }

    /// Publishes the data as the blob of its digest (fsync, then rename); an existing blob is
    /// kept as it is. Returns whether a new blob was created.
    pub fn publish(mut self) -> Result<bool, ContentError> {
        if self.store.exists(&self.digest) {
            return Ok(false); // Drop removes our copy.
        }
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(io_at(&self.path))?;
        self.store.commit_file(&self.path, &self.digest)?;
        self.path = PathBuf::new();
        Ok(true)
    }
}

impl Drop for ParkedBlob {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Hashes everything `reader` yields with `algorithm`.
fn hash_reader(reader: &mut dyn Read, algorithm: Algorithm) -> io::Result<Digest> {
    Ok(match algorithm {
        Algorithm::Sha256 => {
            let mut hasher = Sha256::new();
            io::copy(reader, &mut hasher)?;
            Digest::from_hasher(hasher)
        }
        Algorithm::Sha512 => {
            let mut hasher = Sha512::new();
            io::copy(reader, &mut hasher)?;
            Digest::from_sha512_hasher(hasher)
        }
    })
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            // Best effort: a leftover is swept by clean_ingest at the next start.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(dir.path().join("content")).expect("open");
        (dir, store)
    }

    fn ingest_entries(dir: &tempfile::TempDir) -> usize {
        fs::read_dir(dir.path().join("content/ingest"))
            .expect("ingest")
            .count()
    }

    #[test]
    fn sha512_blobs_are_verified_and_stored_by_their_digest() {
        let (dir, store) = store();
        let expected = Digest::of_with(Algorithm::Sha512, b"hello");
        let (d, n) = store
            .write_from(&mut &b"hello"[..], Some(&expected))
            .expect("write");
        assert_eq!((d.clone(), n), (expected.clone(), 5));
        assert!(dir
            .path()
            .join("content/blobs/sha512")
            .join(expected.hex())
            .is_file());
        assert_eq!(store.read_bytes(&d).expect("read"), b"hello");
        assert_eq!(store.verify(&d).expect("verify"), None);
        assert_eq!(store.list().expect("list"), vec![d]);
        let wrong = Digest::of_with(Algorithm::Sha512, b"other");
        assert!(matches!(
            store.write_from(&mut &b"hello"[..], Some(&wrong)),
            Err(ContentError::DigestMismatch { .. })
        ));
        assert_eq!(ingest_entries(&dir), 0);
    }

    #[test]
    fn write_read_exists_delete() {
        let (dir, store) = store();
        let (d, n) = store.write_from(&mut &b"hello"[..], None).expect("write");
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(n, 5);
        assert!(store.exists(&d));
        assert_eq!(store.read_bytes(&d).expect("read"), b"hello");
        assert_eq!(store.size(&d).expect("size"), 5);
        assert_eq!(store.list().expect("list"), vec![d.clone()]);
        assert_eq!(ingest_entries(&dir), 0);
        // Writing the same content again is idempotent.
        assert_eq!(store.write_bytes(b"hello", Some(&d)).expect("again"), d);
        assert_eq!(ingest_entries(&dir), 0);
        store.delete(&d).expect("delete");
        assert!(!store.exists(&d));
        assert!(matches!(
            store.open_blob(&d),
            Err(ContentError::NotFound(_))
        ));
        store.delete(&d).expect("deleting twice is fine");
    }

    #[test]
    fn digest_mismatch_publishes_nothing() {
        let (dir, store) = store();
        let wrong = Digest::of(b"other");
        let err = store
            .write_bytes(b"hello", Some(&wrong))
            .expect_err("must fail");
        assert!(matches!(err, ContentError::DigestMismatch { .. }));
        assert!(!store.exists(&wrong));
        assert!(!store.exists(&Digest::of(b"hello")));
        assert_eq!(ingest_entries(&dir), 0);
        assert_eq!(
            Error::from(err).kind,
            berth_types::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn partial_blob_is_never_visible() {
        let (dir, store) = store();
        let mut w = store.writer().expect("writer");
        w.write_all(b"partial").expect("write");
        // Mid-write: the data is in ingest, no blob exists.
        assert_eq!(ingest_entries(&dir), 1);
        assert!(store.list().expect("list").is_empty());
        drop(w);
        assert_eq!(ingest_entries(&dir), 0);
        assert!(store.list().expect("list").is_empty());

        // A reader failing mid-stream leaves nothing either.
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        assert!(store.write_from(&mut Failing(3), None).is_err());
        assert_eq!(ingest_entries(&dir), 0);
        assert!(store.list().expect("list").is_empty());
    }

    #[test]
    fn corrupted_blob_fails_verification_on_read() {
        let (_dir, store) = store();
        let d = store.write_bytes(b"{\"a\":1}", None).expect("write");
        fs::write(store.blob_path(&d), b"{\"a\":2}").expect("corrupt");
        assert!(matches!(
            store.read_bytes(&d),
            Err(ContentError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn leased_commit_protects_before_publishing_and_verify_rehashes() {
        let (_dir, store) = store();
        let leases = crate::Leases::new();
        let lease = leases.acquire("test").expect("lease");
        let (d, _) = store
            .write_from_leased(&mut &b"layer"[..], None, &lease)
            .expect("write");
        assert!(leases.freeze().expect("freeze").protects_blob(&d));
        // Reusing an existing blob protects it too.
        let other = leases.acquire("other").expect("lease");
        drop(lease);
        store
            .write_bytes_leased(b"layer", Some(&d), &other)
            .expect("again");
        assert!(leases.freeze().expect("freeze").protects_blob(&d));

        assert_eq!(store.verify(&d).expect("verify"), None);
        fs::write(store.blob_path(&d), b"LAYER").expect("corrupt");
        assert_eq!(
            store.verify(&d).expect("verify"),
            Some(Digest::of(b"LAYER"))
        );
    }

    #[test]
    fn parked_data_is_published_or_dropped() {
        let (dir, store) = store();
        let mut w = store.writer().expect("writer");
        w.write_all(b"spooled").expect("write");
        let parked = w.park().expect("park");
        assert_eq!(parked.digest(), &Digest::of(b"spooled"));
        assert_eq!(parked.size(), 7);
        let mut back = Vec::new();
        parked
            .open()
            .expect("open")
            .read_to_end(&mut back)
            .expect("read");
        assert_eq!(back, b"spooled");
        assert!(store.list().expect("list").is_empty());
        drop(parked);
        assert_eq!(ingest_entries(&dir), 0);

        let mut w = store.writer().expect("writer");
        w.write_all(b"spooled").expect("write");
        assert!(w.park().expect("park").publish().expect("publish"));
        assert!(store.exists(&Digest::of(b"spooled")));
        let mut w = store.writer().expect("writer");
        w.write_all(b"spooled").expect("write");
        assert!(!w.park().expect("park").publish().expect("again"));
        assert_eq!(ingest_entries(&dir), 0);
    }

    #[test]
    fn clean_ingest_sweeps_leftovers() {
        let (dir, store) = store();
        fs::write(dir.path().join("content/ingest/tmp-crashed"), b"x").expect("leftover");
        assert_eq!(store.clean_ingest().expect("clean"), 1);
        assert_eq!(ingest_entries(&dir), 0);
    }
}
