//! The image service's errors, converted into [`berth_types::Error`] at the crate boundary.

use berth_types::Error;

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error(transparent)]
    Change(#[from] crate::changes::ChangeError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("reading image archive: {0}")]
    Input(#[source] std::io::Error),
    #[error("image config {digest}: {message}")]
    BadConfig { digest: String, message: String },
    #[error(transparent)]
    Db(#[from] berth_store::DbError),
    #[error(transparent)]
    Content(#[from] berth_store::ContentError),
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    #[error("image store lock poisoned")]
    Poisoned,
    /// Check-on-use found damaged content; `berth system check` lists everything damaged.
    #[error("image {image} is corrupt: {detail}; run `berth system check`")]
    Corrupt { image: String, detail: String },
    #[error(transparent)]
    Lease(#[from] berth_store::LeaseError),
    #[error("a prune operation is already running")]
    PruneRunning,
}

impl From<ImageError> for Error {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound(_) => Error::not_found(e.to_string()),
            ImageError::Change(_) | ImageError::Invalid(_) | ImageError::Input(_) => {
                Error::invalid(e.to_string())
            }
            ImageError::Conflict(_) | ImageError::PruneRunning => Error::conflict(e.to_string()),
            ImageError::Db(e) => e.into(),
            ImageError::Content(e) => e.into(),
            ImageError::Snapshot(e) => e.into(),
            ImageError::Archive(e) => e.into(),
            ImageError::BadConfig { .. }
            | ImageError::Poisoned
            | ImageError::Corrupt { .. }
            | ImageError::Lease(_) => Error::internal(e.to_string()),
        }
    }
}
