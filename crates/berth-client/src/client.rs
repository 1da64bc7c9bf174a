//! The client: host, negotiated API version, and the request helpers every endpoint uses.

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use http::{Method, Request, StatusCode};
use hyper::body::{Body as _, Incoming};
use hyper::Response;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::body::{self, RequestBody};
use crate::error::{ClientError, Result};
use crate::hijack::HijackedStream;
use crate::host::Host;
use crate::transport;

/// The newest API version this client speaks.
pub const MAX_API_VERSION: &str = "1.47";

/// Query parameters in order.
pub type Query<'a> = Vec<(&'a str, String)>;

#[derive(Debug)]
pub struct Client {
    host: Host,
    version: OnceLock<String>,
}

/// What `GET /_ping` told us.
#[derive(Debug, Clone, Default)]
pub struct Ping {
    pub api_version: Option<String>,
    pub os_type: Option<String>,
    pub experimental: bool,
}

fn version_tuple(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// min(server, ours); ours when the server says nothing usable.
pub fn negotiate_version(server: Option<&str>) -> String {
    match server.and_then(|s| version_tuple(s).map(|t| (s, t))) {
        Some((s, t)) if version_tuple(MAX_API_VERSION).is_some_and(|max| t < max) => s.to_string(),
        _ => MAX_API_VERSION.to_string(),
    }
}

/// Percent-encodes a path segment the way Go's url.PathEscape leaves names readable.
pub fn escape_segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b':')
        .remove(b'/')
        .remove(b'@');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

impl Client {
    pub fn new(host: Host) -> Self {
        Self {
            host,
            version: OnceLock::new(),
        }
    }

    /// A client for `-H` (or `DOCKER_HOST`, or the default).
    pub fn from_flag(flag: Option<&str>) -> Result<Self> {
        Ok(Self::new(Host::resolve(flag)?))
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Pins the API version instead of negotiating (`DOCKER_API_VERSION`).
    pub fn with_version(self, version: &str) -> Self {
        let _ = self.version.set(version.to_string());
        self
    }

    /// The API version in use, negotiating it with `/_ping` the first time.
    pub async fn api_version(&self) -> Result<String> {
        if let Some(v) = self.version.get() {
            return Ok(v.clone());
        }
        let ping = self.ping().await?;
        let v = negotiate_version(ping.api_version.as_deref());
        Ok(self.version.get_or_init(|| v).clone())
    }

    /// `GET /_ping` (unversioned).
    pub async fn ping(&self) -> Result<Ping> {
        let req = Request::get("/_ping")
            .header(HOST, "docker")
            .body(body::empty())?;
        let resp = transport::send(&self.host, req).await?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let ping = Ping {
            api_version: header("API-Version"),
            os_type: header("OSType"),
            experimental: header("Docker-Experimental").is_some_and(|v| v == "true"),
        };
        // drain to let the connection close cleanly
        let _ = body::collect(resp.into_body()).await;
        Ok(ping)
    }

    async fn uri(&self, path: &str, query: &Query<'_>) -> Result<String> {
        let version = self.api_version().await?;
        versioned_uri(&version, path, query)
    }

    fn builder(method: Method, uri: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, "docker")
            .header("User-Agent", "berth-cli")
    }

    /// Sends a request; non-2xx answers become [`ClientError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &Query<'_>,
        content_type: Option<&str>,
        body: RequestBody,
    ) -> Result<Response<Incoming>> {
        self.request_with_headers(method, path, query, content_type, &[], body)
            .await
    }

    /// A request with extra headers (`X-Registry-Config`, ...).
    pub async fn request_with_headers(
        &self,
        method: Method,
        path: &str,
        query: &Query<'_>,
        content_type: Option<&str>,
        headers: &[(&str, String)],
        body: RequestBody,
    ) -> Result<Response<Incoming>> {
        // An empty body can be sent again: the request goes out before any negotiation.
        if self.version.get().is_none() && body.size_hint().exact() == Some(0) {
            return self
                .request_replayable(method, path, query, content_type, headers, None)
                .await;
        }
        let uri = self.uri(path, query).await?;
        let resp = transport::send(
            &self.host,
            Self::with_headers(Self::builder(method, &uri), content_type, headers).body(body)?,
        )
        .await?;
        check_status(resp).await
    }

    fn with_headers(
        mut b: http::request::Builder,
        content_type: Option<&str>,
        headers: &[(&str, String)],
    ) -> http::request::Builder {
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, ct);
        }
        for (name, value) in headers {
            b = b.header(*name, value.as_str());
        }
        b
    }

    /// A request whose body (`data`, or none) can be sent twice. Before the version is known
    /// it goes out at ours, on trust, where the docker CLI would first ask `GET /_ping`: a
    /// daemon as new as this client or newer serves it (one round trip less for the first
    /// request of every command); an older one refuses it ("client version 1.47 is too new"),
    /// and the request is sent again at the version `/_ping` then negotiates.
    async fn request_replayable(
        &self,
        method: Method,
        path: &str,
        query: &Query<'_>,
        content_type: Option<&str>,
        headers: &[(&str, String)],
        data: Option<Bytes>,
    ) -> Result<Response<Incoming>> {
        let send = |version: &str| {
            let uri = versioned_uri(version, path, query);
            let method = method.clone();
            let data = data.clone();
            async move {
                let b = Self::with_headers(Self::builder(method, &uri?), content_type, headers);
                let req = b.body(data.map_or_else(body::empty, body::full))?;
                transport::send(&self.host, req).await
            }
        };
        if let Some(version) = self.version.get() {
            return check_status(send(version).await?).await;
        }
        let resp = send(MAX_API_VERSION).await?;
        if resp.status() != StatusCode::BAD_REQUEST {
            // Served at ours: the daemon speaks it, so the negotiation would have given it.
            let _ = self.version.set(MAX_API_VERSION.to_string());
            return check_status(resp).await;
        }
        let error = error_of(resp).await?;
        match &error {
            ClientError::Api { message, .. } if is_too_new(message) => {
                let version = self.api_version().await?;
                check_status(send(&version).await?).await
            }
            _ => Err(error),
        }
    }

    /// POST with no body and one extra header (`X-Registry-Auth`).
    pub async fn post_with_header(
        &self,
        path: &str,
        query: &Query<'_>,
        name: &str,
        value: &str,
    ) -> Result<Response<Incoming>> {
        let uri = self.uri(path, query).await?;
        let b = Self::builder(Method::POST, &uri).header(name, value);
        let resp = transport::send(&self.host, b.body(body::empty())?).await?;
        check_status(resp).await
    }

    pub async fn get(&self, path: &str, query: &Query<'_>) -> Result<Response<Incoming>> {
        self.request(Method::GET, path, query, None, body::empty())
            .await
    }

    /// GET and return the raw body (inspect keeps the daemon's field order).
    pub async fn get_raw(&self, path: &str, query: &Query<'_>) -> Result<Bytes> {
        body::collect(self.get(path, query).await?.into_body()).await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &Query<'_>) -> Result<T> {
        let raw = self.get_raw(path, query).await?;
        Ok(serde_json::from_slice(&raw)?)
    }

    pub async fn post(&self, path: &str, query: &Query<'_>) -> Result<Response<Incoming>> {
        self.request(Method::POST, path, query, None, body::empty())
            .await
    }

    /// POST with no body; the answer is drained.
    pub async fn post_empty(&self, path: &str, query: &Query<'_>) -> Result<()> {
        body::collect(self.post(path, query).await?.into_body()).await?;
        Ok(())
    }

    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query<'_>,
        body: &B,
    ) -> Result<T> {
        let data = serde_json::to_vec(body)?;
        let resp = self
            .request_replayable(
                Method::POST,
                path,
                query,
                Some("application/json"),
                &[],
                Some(data.into()),
            )
            .await?;
        let raw = body::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&raw)?)
    }

    /// POST a JSON body whose answer carries nothing.
    pub async fn post_json_no_reply<B: Serialize>(&self, path: &str, body: &B) -> Result<()> {
        let data = serde_json::to_vec(body)?;
        let resp = self
            .request_replayable(
                Method::POST,
                path,
                &Vec::new(),
                Some("application/json"),
                &[],
                Some(data.into()),
            )
            .await?;
        body::collect(resp.into_body()).await?;
        Ok(())
    }

    pub async fn delete(&self, path: &str, query: &Query<'_>) -> Result<Bytes> {
        let resp = self
            .request(Method::DELETE, path, query, None, body::empty())
            .await?;
        body::collect(resp.into_body()).await
    }

    /// POSTs with `Connection: Upgrade` / `Upgrade: tcp` and returns the raw duplex stream
    /// after `101 Switching Protocols`.
    pub async fn hijack(
        &self,
        path: &str,
        query: &Query<'_>,
        json_body: Option<Vec<u8>>,
    ) -> Result<HijackedStream> {
        let uri = self.uri(path, query).await?;
        let mut b = Self::builder(Method::POST, &uri)
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "tcp");
        let body = match json_body {
            Some(data) => {
                b = b.header(CONTENT_TYPE, "application/json");
                body::full(data)
            }
            None => body::empty(),
        };
        let resp = transport::send(&self.host, b.body(body)?).await?;
        let resp = check_status(resp).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Protocol(format!(
                "unexpected response to an upgrade request: {}",
                resp.status()
            )));
        }
        let upgraded = hyper::upgrade::on(resp).await?;
        Ok(HijackedStream::new(upgraded))
    }
}

/// `/v<version><path>?<query>`.
fn versioned_uri(version: &str, path: &str, query: &Query<'_>) -> Result<String> {
    let mut uri = format!("/v{version}{path}");
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&serde_urlencoded::to_string(query)?);
    }
    Ok(uri)
}

/// A daemon's refusal of a version newer than its own (moby's wording: "client version 1.47
/// is too new. Maximum supported API version is 1.41").
fn is_too_new(message: &str) -> bool {
    message.starts_with("client version ") && message.contains(" is too new")
}

/// Turns a non-2xx/101 response into the daemon's error message.
async fn check_status(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success()
        || status == StatusCode::SWITCHING_PROTOCOLS
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(resp);
    }
    Err(error_of(resp).await?)
}

/// The error a non-2xx response carries (its JSON `message`, else its text or status).
async fn error_of(resp: Response<Incoming>) -> Result<ClientError> {
    let status = resp.status();
    let raw = body::collect(resp.into_body()).await?;
    let message = match serde_json::from_slice::<berth_api::ErrorResponse>(&raw) {
        Ok(e) => e.message,
        Err(_) => {
            let text = String::from_utf8_lossy(&raw).trim().to_string();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("unknown error")
                    .to_string()
            } else {
                text
            }
        }
    };
    Ok(ClientError::Api {
        status: status.as_u16(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_refusal_of_a_newer_version() {
        assert!(is_too_new(
            "client version 1.47 is too new. Maximum supported API version is 1.41"
        ));
        assert!(!is_too_new("No such container: x"));
        assert!(!is_too_new("invalid reference format: repository name (client version 1.47 is too new) must be lowercase"));
    }

    #[test]
    fn negotiates_the_lower_version() {
        assert_eq!(negotiate_version(Some("1.41")), "1.41");
        assert_eq!(negotiate_version(Some("1.50")), "1.47");
        assert_eq!(negotiate_version(Some("1.47")), "1.47");
        assert_eq!(negotiate_version(None), "1.47");
        assert_eq!(negotiate_version(Some("garbage")), "1.47");
    }

    #[test]
    fn escapes_segments() {
        assert_eq!(escape_segment("busybox:latest"), "busybox:latest");
        assert_eq!(escape_segment("a b"), "a%20b");
        assert_eq!(
            escape_segment("reg:5000/x/y@sha256:ab"),
            "reg:5000/x/y@sha256:ab"
        );
    }
}
