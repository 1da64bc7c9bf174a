//! Registry errors and their wire form: the Distribution Spec's `{"errors":[...]}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_store::ContentError;

/// Why a registry request failed. Each variant maps to one spec error code.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid repository name")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown(String),
    #[error("manifest tag did not match URI")]
    TagInvalid(String),
    #[error("provided digest did not match uploaded content")]
    DigestInvalid(String),
    #[error("blob unknown to registry")]
    BlobUnknown(String),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown(String),
    #[error("blob upload invalid")]
    BlobUploadInvalid(String),
    #[error("invalid content range")]
    RangeInvalid(String),
    #[error("requested range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("manifest unknown")]
    ManifestUnknown(String),
    #[error("manifest invalid")]
    ManifestInvalid(String),
    #[error("blob unknown to registry")]
    ManifestBlobUnknown(String),
    #[error("manifest too big")]
    ManifestTooLarge(String),
    #[error("provided length did not match content length")]
    SizeInvalid(String),
    #[error("invalid number of results requested")]
    PaginationNumberInvalid(String),
    #[error("The operation is unsupported.")]
    Unsupported(String),
    #[error("authentication required")]
    Unauthorized {
        /// The `WWW-Authenticate` challenge telling the client how to authenticate.
        challenge: String,
        detail: String,
    },
    #[error("requested access to the resource is denied")]
    Denied(String),
    #[error("storage error: {0}")]
    Storage(String),
}

impl RegistryError {
    /// The spec's error code string.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NameInvalid(_) => "NAME_INVALID",
            Self::NameUnknown(_) => "NAME_UNKNOWN",
            Self::TagInvalid(_) => "TAG_INVALID",
            Self::DigestInvalid(_) => "DIGEST_INVALID",
            Self::BlobUnknown(_) => "BLOB_UNKNOWN",
            Self::BlobUploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            Self::BlobUploadInvalid(_) => "BLOB_UPLOAD_INVALID",
            Self::RangeInvalid(_) => "RANGE_INVALID",
            Self::RangeNotSatisfiable { .. } => "RANGE_INVALID",
            Self::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            Self::ManifestInvalid(_) => "MANIFEST_INVALID",
            Self::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            Self::SizeInvalid(_) => "SIZE_INVALID",
            Self::ManifestTooLarge(_) => "MANIFEST_INVALID",
            Self::PaginationNumberInvalid(_) => "PAGINATION_NUMBER_INVALID",
            Self::Unsupported(_) => "UNSUPPORTED",
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::Denied(_) => "DENIED",
            Self::Storage(_) => "UNKNOWN",
        }
    }

    /// The HTTP status the reference registry answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NameUnknown(_)
            | Self::BlobUnknown(_)
            | Self::BlobUploadUnknown(_)
            | Self::ManifestUnknown(_) => StatusCode::NOT_FOUND,
            Self::RangeInvalid(_) | Self::RangeNotSatisfiable { .. } => {
                StatusCode::RANGE_NOT_SATISFIABLE
            }
            Self::Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Denied(_) => StatusCode::FORBIDDEN,
            Self::ManifestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::RangeNotSatisfiable { size } => format!("blob size is {size}"),
            Self::NameInvalid(d)
            | Self::NameUnknown(d)
            | Self::TagInvalid(d)
            | Self::DigestInvalid(d)
            | Self::BlobUnknown(d)
            | Self::BlobUploadUnknown(d)
            | Self::BlobUploadInvalid(d)
            | Self::RangeInvalid(d)
            | Self::ManifestUnknown(d)
            | Self::ManifestInvalid(d)
            | Self::ManifestBlobUnknown(d)
            | Self::SizeInvalid(d)
            | Self::ManifestTooLarge(d)
            | Self::PaginationNumberInvalid(d)
            | Self::Unsupported(d)
            | Self::Unauthorized { detail: d, .. }
            | Self::Denied(d)
            | Self::Storage(d) => d.clone(),
        }
    }
}

impl From<ContentError> for RegistryError {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::NotFound(d) => Self::BlobUnknown(d.to_string()),
            ContentError::DigestMismatch { expected, actual } => {
                Self::DigestInvalid(format!("expected {expected}, got {actual}"))
            }
            other => Self::Storage(other.to_string()),
        }
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "registry request failed");
        }
        let body = serde_json::json!({
            "errors": [{
                "code": self.code(),
                "message": self.to_string(),
                "detail": self.detail(),
            }]
        });
        let mut resp = (status, axum::Json(body)).into_response();
        match &self {
            Self::RangeNotSatisfiable { size } => {
                if let Ok(v) = format!("bytes */{size}").parse() {
                    resp.headers_mut().insert(http::header::CONTENT_RANGE, v);
                }
            }
            Self::Unauthorized { challenge, .. } => {
                if let Ok(v) = challenge.parse() {
                    resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
                }
            }
            _ => {}
        }
        resp
    }
}
