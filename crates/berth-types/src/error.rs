//! The few kinds of error every berth subsystem reports.

use std::fmt;

/// What went wrong, independent of which subsystem noticed it. `berth-server` maps each kind to
/// an HTTP status; the CLI maps them to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request was malformed or a value is out of range (HTTP 400).
    InvalidArgument,
    /// The object does not exist (HTTP 404).
    NotFound,
    /// The object exists, or is in a state that forbids the request (HTTP 409).
    Conflict,
    /// The request asks for a state the object already has (HTTP 304).
    NotModified,
    /// The caller may not do this (HTTP 403).
    Forbidden,
    /// Credentials were missing or refused (HTTP 401), e.g. a failed registry login.
    Unauthenticated,
    /// Not implemented by berth (HTTP 501).
    NotImplemented,
    /// A dependency is not reachable (HTTP 503).
    Unavailable,
    /// Anything else (HTTP 500).
    Internal,
}

/// An error with a kind and a user-facing message (dockerd's wording where it has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn not_modified(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotModified, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorKind::Conflict,
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                ErrorKind::InvalidArgument
            }
            std::io::ErrorKind::PermissionDenied => ErrorKind::Forbidden,
            _ => ErrorKind::Internal,
        };
        Self::new(kind, e.to_string())
    }
}
