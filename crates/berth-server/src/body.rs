//! JSON in and out, as dockerd's `httputils.ReadJSON` / `WriteJSON` do it.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("unsupported Content-Type header ({0}): must be 'application/json'")]
    ContentType(String),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid JSON: got EOF while reading request body")]
    Empty,
    #[error("reading request body: {0}")]
    Read(String),
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        ApiError::invalid(e.to_string())
    }
}

/// dockerd's `CheckForJSON`: no Content-Type is fine for an empty body; otherwise it must be
/// `application/json` (parameters such as `charset` allowed).
pub fn check_json_content_type(headers: &HeaderMap, body_is_empty: bool) -> Result<(), BodyError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.is_empty() && body_is_empty {
        return Ok(());
    }
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(BodyError::ContentType(ct.to_string()))
    }
}

/// Decodes `bytes` as one JSON value, refusing trailing content.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(&mut de).map_err(|e| {
        if e.is_eof() && bytes.iter().all(u8::is_ascii_whitespace) {
            BodyError::Empty
        } else {
            BodyError::Json(e.to_string())
        }
    })?;
    de.end()
        .map_err(|_| BodyError::Json("unexpected content after JSON".into()))?;
    Ok(value)
}

/// The largest JSON body read. dockerd sets none; axum's default of 2 MiB would refuse an exec
/// or create whose environment the kernel accepts (up to 6 MiB of arguments and environment,
/// more once JSON-escaped), so the kernel, not the API, has the last word.
pub const JSON_BODY_LIMIT: usize = 64 << 20;

/// The whole body, up to [`JSON_BODY_LIMIT`].
async fn read_body(body: Body) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, JSON_BODY_LIMIT)
        .await
        .map_err(|e| BodyError::Read(e.to_string()))
}

/// A JSON body; an empty body gives `T::default()` (an empty body is not invalid for dockerd).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read_body(body).await?;
        check_json_content_type(&parts.headers, bytes.is_empty())?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        Ok(Self(decode(&bytes)?))
    }
}

/// How much of a body a handler that answers without reading it takes in first, as Go's HTTP
/// server drains an unread body (up to 256 KiB) before it answers: a client still sending a
/// small body reads the answer instead of a broken pipe.
pub const UNREAD_DRAIN: usize = 256 << 10;

/// Reads and drops up to [`UNREAD_DRAIN`] bytes of a body the handler has no use for.
pub async fn drain_unread(body: Body) {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut seen = 0usize;
    while seen < UNREAD_DRAIN {
        match body.frame().await {
            Some(Ok(frame)) => {
                seen += frame.data_ref().map_or(0, |d| d.len());
            }
            _ => return,
        }
    }
}

/// A JSON body that must be present (container create: an empty body is "invalid JSON: EOF").
pub struct RequiredJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for RequiredJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read_body(body).await?;
        check_json_content_type(&parts.headers, bytes.is_empty())?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Json("EOF".into()).into());
        }
        Ok(Self(decode(&bytes)?))
    }
}

/// `value` as dockerd writes it: JSON with a trailing newline.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => ApiError(berth_types::Error::internal(format!(
            "encoding response: {e}"
        )))
        .into_response(),
    }
}

/// `value` written as dockerd's Go type `t` at API version `v` (berth_api::gojson): the
/// fields dockerd always sends get their zero value when berth left them unset, empty
/// `omitempty` fields go.
pub fn go_json<T: Serialize>(
    status: StatusCode,
    value: &T,
    t: berth_api::gojson::GoType,
    v: &crate::version::ApiVersion,
) -> Response {
    match berth_api::gojson::to_value(value, t, &v.0) {
        Ok(doc) => json_response(status, &doc),
        Err(e) => ApiError(berth_types::Error::internal(format!(
            "encoding response: {e}"
        )))
        .into_response(),
    }
}

/// A `200` of `content_type` whose body is `chunks`, sent as they come.
pub fn streamed<S>(chunks: S, content_type: &'static str) -> Response
where
    S: Stream + Send + 'static,
    S::Item: Into<Bytes>,
{
    let body = chunks.map(|c| Ok::<_, std::convert::Infallible>(c.into()));
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A bodiless answer (`204 No Content`, `200` for resize, ...).
pub fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    struct Start {
        #[serde(rename = "Detach", default)]
        detach: bool,
    }

    fn headers(ct: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(ct).expect("header"),
            );
        }
        h
    }

    #[test]
    fn content_type_rules() {
        assert!(check_json_content_type(&headers(None), true).is_ok());
        assert!(
            check_json_content_type(&headers(Some("application/json; charset=utf-8")), false)
                .is_ok()
        );
        let e = check_json_content_type(&headers(Some("text/plain")), false).expect_err("text");
        assert_eq!(
            e.to_string(),
            "unsupported Content-Type header (text/plain): must be 'application/json'"
        );
        assert!(check_json_content_type(&headers(None), false).is_err());
    }

    #[test]
    fn decode_reports_bad_json() {
        assert_eq!(
            decode::<Start>(br#"{"Detach":true}"#).ok(),
            Some(Start { detach: true })
        );
        let e = decode::<Start>(b"{nope").expect_err("bad");
        assert!(e.to_string().starts_with("invalid JSON: "), "{e}");
        assert!(decode::<Start>(br#"{"Detach":true} {}"#).is_err());
        assert!(matches!(decode::<Start>(b"  "), Err(BodyError::Empty)));
    }
}
