//! The one place where an error becomes an HTTP response: `ErrorKind` picks the status and the
//! body is dockerd's `{"message": "..."}`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_types::{Error, ErrorKind};
use http::{header, HeaderValue, StatusCode};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self(Error::invalid(message))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self(Error::not_found(message))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// The HTTP status dockerd answers for each kind of error.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.kind);
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self.0.message, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), error = %self.0.message, "request failed");
        }
        // A 304 carries no body (net/http drops it in dockerd too).
        let body = if status == StatusCode::NOT_MODIFIED {
            Body::empty()
        } else {
            let text = serde_json::to_string(&berth_api::ErrorResponse {
                message: self.0.message,
            })
            .unwrap_or_else(|_| String::from(r#"{"message":"internal error"}"#));
            Body::from(format!("{text}\n"))
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// `{"message":"page not found"}` for unknown routes and methods, as dockerd answers.
pub async fn page_not_found() -> ApiError {
    ApiError::not_found("page not found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(e: Error) -> (StatusCode, Option<String>, String) {
        let resp = ApiError(e).into_response();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (status, ct, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn every_kind_maps_to_dockerds_status() {
        let cases = [
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::Unauthenticated, 401),
            (ErrorKind::NotImplemented, 501),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Internal, 500),
        ];
        for (kind, code) in cases {
            let (status, ct, body) = render(Error::new(kind, "No such container: x")).await;
            assert_eq!(status.as_u16(), code, "{kind:?}");
            assert_eq!(ct.as_deref(), Some("application/json"));
            assert_eq!(body, "{\"message\":\"No such container: x\"}\n");
        }
    }

    #[tokio::test]
    async fn not_modified_has_an_empty_body() {
        let (status, _, body) = render(Error::not_modified("container already started")).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn messages_are_json_escaped() {
        let (_, _, body) = render(Error::invalid("bad \"quote\"")).await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["message"], "bad \"quote\"");
    }
}
