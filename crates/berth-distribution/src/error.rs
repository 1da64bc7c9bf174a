//! Why a registry operation failed.

/// A registry request that failed, with the registry's own words where it sent some.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error("Get \"{url}\": {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
        /// The TLS handshake failed (a certificate, or a plain-HTTP server).
        tls: bool,
    },
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    #[error("{0}")]
    Http(String),
    #[error("unauthorized: authentication required")]
    Unauthorized,
    #[error("{what} not found: {detail}")]
    NotFound { what: String, detail: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<DistributionError> for berth_types::Error {
    fn from(e: DistributionError) -> Self {
        match &e {
            DistributionError::NotFound { .. } => berth_types::Error::not_found(e.to_string()),
            DistributionError::Unauthorized => {
                berth_types::Error::new(berth_types::ErrorKind::Unauthenticated, e.to_string())
            }
            DistributionError::Invalid(_)
            | DistributionError::DigestMismatch { .. }
            | DistributionError::Endpoint(_) => berth_types::Error::invalid(e.to_string()),
            _ => berth_types::Error::internal(e.to_string()),
        }
    }
}
