//! Upload sessions: one [`BlobWriter`] per upload UUID, kept in memory between requests.
//!
//! A session is taken out of the table while a request streams into it, so two concurrent
//! PATCHes to one upload cannot interleave; the loser gets BLOB_UPLOAD_INVALID. Dropping a
//! session (DELETE, a failed digest check, a broken stream, or idling past the limit) drops its
//! writer, which removes the partial ingest file.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_store::BlobWriter;

use crate::error::RegistryError;

/// An upload in progress.
pub struct Upload {
    pub repo: String,
    pub writer: BlobWriter,
}

enum Slot {
    Idle {
        upload: Box<Upload>,
        touched: Instant,
    },
    Busy {
        repo: String,
        size: u64,
    },
}

/// Every open upload, by UUID.
pub struct Uploads {
    sessions: Mutex<HashMap<String, Slot>>,
    idle_limit: Duration,
}

impl Uploads {
    /// A table whose sessions are dropped after `idle_limit` without a request.
    pub fn new(idle_limit: Duration) -> Self {
        Self {
            sessions: Mutex::default(),
            idle_limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock leaves the map itself consistent.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new upload and returns its UUID. Abandoned sessions are swept first, so
    /// a client that never finishes cannot pile up ingest files.
    pub fn start(&self, repo: &str, writer: BlobWriter) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut map = self.lock();
        let limit = self.idle_limit;
        map.retain(|_, slot| match slot {
            Slot::Idle { touched, .. } => touched.elapsed() <= limit,
            Slot::Busy { .. } => true,
        });
        map.insert(
            id.clone(),
            Slot::Idle {
                upload: Box::new(Upload {
                    repo: repo.to_string(),
                    writer,
                }),
                touched: Instant::now(),
            },
        );
        id
    }

    /// Takes the upload out for writing; put it back with [`Uploads::put_back`].
    pub fn take(&self, repo: &str, id: &str) -> Result<Upload, RegistryError> {
        let mut map = self.lock();
        match map.get(id) {
            Some(Slot::Idle { upload, .. }) if upload.repo == repo => {}
            Some(Slot::Busy { repo: r, .. }) if r == repo => {
                return Err(RegistryError::BlobUploadInvalid(
                    "upload is being written by another request".into(),
                ))
            }
            _ => return Err(RegistryError::BlobUploadUnknown(id.to_string())),
        }
        match map.remove(id) {
            Some(Slot::Idle { upload, .. }) => {
                map.insert(
                    id.to_string(),
                    Slot::Busy {
                        repo: upload.repo.clone(),
                        size: upload.writer.size(),
                    },
                );
                Ok(*upload)
            }
            _ => Err(RegistryError::BlobUploadUnknown(id.to_string())),
        }
    }

    /// Returns an upload taken with [`Uploads::take`].
    pub fn put_back(&self, id: &str, upload: Upload) {
        self.lock().insert(
            id.to_string(),
            Slot::Idle {
                upload: Box::new(upload),
                touched: Instant::now(),
            },
        );
    }

    /// Forgets an upload that was taken (finished or failed).
    pub fn finish(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Bytes received so far.
    pub fn size(&self, repo: &str, id: &str) -> Result<u64, RegistryError> {
        match self.lock().get(id) {
            Some(Slot::Idle { upload, .. }) if upload.repo == repo => Ok(upload.writer.size()),
            Some(Slot::Busy { repo: r, size }) if r == repo => Ok(*size),
            _ => Err(RegistryError::BlobUploadUnknown(id.to_string())),
        }
    }

    /// Cancels an idle upload, removing its data.
    pub fn cancel(&self, repo: &str, id: &str) -> Result<(), RegistryError> {
        self.take(repo, id)?;
        self.finish(id);
        Ok(())
    }
}
