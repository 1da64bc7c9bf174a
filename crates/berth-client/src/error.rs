//! Errors a request to the engine can end in.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    /// The daemon's socket could not be reached; docker's wording.
    #[error("Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")]
    Connect { host: String },
    /// A non-2xx answer: the body's `message`, printed the way the docker CLI prints it.
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: String },
    #[error("error during connect: {0}")]
    Http(#[from] hyper::Error),
    #[error("error building request: {0}")]
    Request(#[from] http::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("error decoding response: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("error encoding query: {0}")]
    Query(#[from] serde_urlencoded::ser::Error),
    #[error("{0}")]
    Protocol(String),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the daemon answered 404 (no such container, image, exec...).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The daemon's message without the "Error response from daemon: " prefix.
    pub fn daemon_message(&self) -> Option<&str> {
        match self {
            Self::Api { message, .. } => Some(message),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
