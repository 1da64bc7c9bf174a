//! Why an image archive could not be read or written.

use berth_types::Error;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading image archive: {0}")]
    Read(#[source] std::io::Error),
    #[error("invalid archive member {0:?}: path outside of the archive")]
    UnsafePath(String),
    #[error("invalid archive: more than {0} members")]
    TooManyMembers(usize),
    #[error("invalid archive: {0} not found")]
    MissingMember(String),
    #[error("invalid archive: {0:?} is not a regular file")]
    NotAFile(String),
    #[error("invalid archive: too many levels of symbolic links resolving {0:?}")]
    SymlinkLoop(String),
    #[error("invalid archive: {path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("invalid archive: blob {path} does not match its digest (got {actual})")]
    BlobDigest { path: String, actual: String },
    #[error("invalid archive: neither manifest.json nor index.json found")]
    NoManifest,
    #[error("invalid manifest, manifest cannot be null (but can be [])")]
    NullManifest,
    #[error("invalid {what}: {message}")]
    BadJson { what: String, message: String },
    #[error("invalid manifest, layers length mismatch: expected {expected}, got {actual}")]
    LayerCount { expected: usize, actual: usize },
    #[error("invalid diffID for layer {index}: expected {expected:?}, got {actual:?}")]
    DiffId {
        index: usize,
        expected: String,
        actual: String,
    },
    #[error("layer {index} is larger than the limit of {limit} bytes uncompressed")]
    LayerTooLarge { index: usize, limit: u64 },
    #[error("cannot load {0} image on linux")]
    WrongOs(String),
    #[error("no image in the archive matches platform {0}")]
    NoPlatform(String),
    #[error("invalid tag {0:?}")]
    BadTag(String),
    /// A `RepoTags` entry the reference grammar refuses (the parser's message).
    #[error("{0}")]
    BadReference(String),
    #[error("writing image archive: {0}")]
    Write(#[source] std::io::Error),
    #[error("empty export - not implemented")]
    EmptyImage,
}

impl From<ArchiveError> for Error {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Write(_) => Error::internal(e.to_string()),
            _ => Error::invalid(e.to_string()),
        }
    }
}
