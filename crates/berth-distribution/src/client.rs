//! One repository on one registry: requests with auth, manifests, blobs, uploads.

use std::io::Write;
use std::sync::Mutex;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest as _, Sha256};

use crate::auth::{Credentials, WwwAuthenticate};
use crate::endpoint::{Endpoint, EndpointError};
use crate::error::DistributionError;
use crate::media::{ACCEPT_MANIFESTS, MAX_MANIFEST_BYTES};

/// Where a downloaded blob goes (a file in the ingest area, usually).
pub trait BlobSink: Write + Send {}
impl<T: Write + Send> BlobSink for T {}

/// A client for one repository.
pub struct RegistryClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `scheme://host[:port][/prefix]`: where `/v2/...` paths go.
    base: String,
    repo: String,
    creds: Credentials,
    /// The Authorization header that worked last (Basic or a Bearer token).
    authorization: Mutex<Option<String>>,
    /// The actions asked for in token scopes (`pull` or `pull,push`).
    actions: &'static str,
}

pub(crate) fn err(msg: impl Into<String>) -> DistributionError {
    DistributionError::Http(msg.into())
}

/// The registry's error text from a JSON body (`{"errors":[{"code":..,"message":..}]}`).
pub(crate) fn registry_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|errs| {
                errs.iter()
                    .map(|e| {
                        let code = e["code"].as_str().unwrap_or_default().to_ascii_lowercase();
                        let msg = e["message"].as_str().unwrap_or_default();
                        format!("{}: {msg}", code.replace('_', " "))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

impl RegistryClient {
    /// Plain HTTP to `host[:port]`, with no endpoint selection (see [`Self::for_endpoint`]).
    /// `push` asks for push rights in token scopes too.
    pub fn new(host: &str, repo: &str, creds: Credentials, push: bool) -> Self {
        let endpoint = Endpoint {
            scheme: crate::endpoint::Scheme::Http,
            host: host.to_string(),
            path: String::new(),
            verify: true,
            mirror: false,
        };
        Self::with_tls(&endpoint, None, repo, creds, push)
    }

    /// A client for one endpoint chosen by [`crate::RegistryConfig::endpoints`], with its TLS
    /// settings (system roots, `<certs_dir>/<host>/` CAs and client certificate, or no
    /// verification for an insecure registry).
    pub fn for_endpoint(
        endpoint: &Endpoint,
        certs_dir: &std::path::Path,
        repo: &str,
        creds: Credentials,
        push: bool,
    ) -> Result<Self, EndpointError> {
        let tls = endpoint.tls_config(certs_dir)?;
        Ok(Self::with_tls(endpoint, tls, repo, creds, push))
    }

    fn with_tls(
        endpoint: &Endpoint,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
        repo: &str,
        creds: Credentials,
        push: bool,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // The TLS layer below takes `https://` URLs: the TCP connector must let them through.
        connector.enforce_http(false);
        // Token realms and blob redirects may be on other hosts, over either scheme.
        let tls = tls.unwrap_or_else(crate::tls::system_config);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Self {
            http: Client::builder(TokioExecutor::new()).build(https),
            base: endpoint.base_url(),
            repo: repo.to_string(),
            creds,
            authorization: Mutex::new(None),
            actions: if push { "pull,push" } else { "pull" },
        }
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// `scheme://host[:port]` this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub(crate) fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn current_auth(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|a| a.clone())
    }

    pub(crate) async fn raw(
        &self,
        method: &Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<Response<Incoming>, DistributionError> {
        let mut req = Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(a) = self.current_auth() {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| err(format!("bad request to {url}: {e}")))?;
        self.http
            .request(req)
            .await
            .map_err(|e| connect_error(url, &e))
    }

    /// Sends a request; on 401 answers the challenge once and retries.
    pub async fn send(
        &self,
        method: Method,
        path_or_url: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<Response<Incoming>, DistributionError> {
        let url = self.url(path_or_url);
        let resp = self.raw(&method, &url, headers, body.clone()).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(WwwAuthenticate::parse);
        let authorization = match challenge {
            Some(WwwAuthenticate::Basic) if !self.creds.is_empty() => self.creds.basic(),
            Some(WwwAuthenticate::Bearer {
                realm,
                service,
                scope,
            }) => self.token(&realm, &service, &scope).await?,
            _ => return Err(DistributionError::Unauthorized),
        };
        if let Ok(mut a) = self.authorization.lock() {
            *a = Some(authorization);
        }
        let resp = self.raw(&method, &url, headers, body).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(DistributionError::Unauthorized);
        }
        Ok(resp)
    }

    /// The Bearer token flow: GET realm?service=..&scope=.. (with Basic credentials if any).
    async fn token(
        &self,
        realm: &str,
        service: &str,
        scope: &str,
    ) -> Result<String, DistributionError> {
        // A login asks for a token without a scope: it only proves the credentials.
        let scope = if !scope.is_empty() {
            scope.to_string()
        } else if self.repo.is_empty() {
            String::new()
        } else {
            format!("repository:{}:{}", self.repo, self.actions)
        };
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let sep = if realm.contains('?') { '&' } else { '?' };
        let mut url = format!("{realm}{sep}service={}", enc(service));
        if !scope.is_empty() {
            url.push_str(&format!("&scope={}", enc(&scope)));
        }
        let mut req = Request::builder().method(Method::GET).uri(&url);
        if !self.creds.is_empty() {
            req = req.header(header::AUTHORIZATION, self.creds.basic());
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| err(format!("token request: {e}")))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| connect_error(&url, &e))?;
        let status = resp.status();
        let body = collect(resp).await?;
        if !status.is_success() {
            return Err(if status == StatusCode::UNAUTHORIZED {
                DistributionError::Unauthorized
            } else {
                err(format!(
                    "token server answered {status}: {}",
                    registry_message(&body)
                ))
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| err(format!("token server answered no JSON: {e}")))?;
        let token = v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .ok_or_else(|| err("token server answered no token"))?;
        Ok(format!("Bearer {token}"))
    }

    /// `GET /v2/`: reachable, and auth settled.
    pub async fn ping(&self) -> Result<(), DistributionError> {
        let resp = self.send(Method::GET, "/v2/", &[], Bytes::new()).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(err(format!("registry /v2/ answered {}", resp.status())))
        }
    }

    /// A manifest by tag or digest: its bytes, content type and digest (verified when asked
    /// by digest).
    pub async fn manifest(
        &self,
        reference: &str,
    ) -> Result<(Bytes, String, String), DistributionError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repo);
        let resp = self
            .send(
                Method::GET,
                &path,
                &[(header::ACCEPT, ACCEPT_MANIFESTS.to_string())],
                Bytes::new(),
            )
            .await?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = collect(resp).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(DistributionError::NotFound {
                what: format!("manifest for {}:{reference}", self.repo),
                detail: registry_message(&body),
            });
        }
        if !status.is_success() {
            return Err(err(format!(
                "manifest {reference}: {status}: {}",
                registry_message(&body)
            )));
        }
        if body.len() > MAX_MANIFEST_BYTES {
            return Err(DistributionError::Invalid(format!(
                "manifest {reference} is larger than 4 MiB"
            )));
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        if reference.starts_with("sha256:") && reference != digest {
            return Err(DistributionError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: reference.to_string(),
                actual: digest,
            });
        }
        Ok((body, content_type, digest))
    }

    /// Streams blob `digest` into `sink`, verifying it; `progress` gets the bytes so far.
    pub async fn fetch_blob(
        &self,
        digest: &str,
        sink: &mut dyn BlobSink,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, DistributionError> {
        let resp = self.blob_from(digest, 0).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| err(format!("reading blob {digest}: {e}")))?;
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                sink.write_all(&data)?;
                size += data.len() as u64;
                progress(size);
            }
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest {
            return Err(DistributionError::DigestMismatch {
                what: format!("blob in {}", self.repo),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(size)
    }

    /// Whether the registry has blob `digest` in this repository.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, DistributionError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repo);
        let resp = self.send(Method::HEAD, &path, &[], Bytes::new()).await?;
        Ok(resp.status().is_success())
    }

    /// Uploads blob `digest` (a POST for the session, then one PUT with the bytes).
    pub async fn upload_blob(&self, digest: &str, data: Bytes) -> Result<(), DistributionError> {
        let path = format!("/v2/{}/blobs/uploads/", self.repo);
        let resp = self.send(Method::POST, &path, &[], Bytes::new()).await?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = collect(resp).await?;
        if status != StatusCode::ACCEPTED {
            return Err(err(format!(
                "starting an upload: {status}: {}",
                registry_message(&body)
            )));
        }
        let location = location.ok_or_else(|| err("the registry gave no upload location"))?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let len = data.len().to_string();
        let resp = self
            .send(
                Method::PUT,
                &put,
                &[
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (header::CONTENT_LENGTH, len),
                ],
                data,
            )
            .await?;
        expect(resp, StatusCode::CREATED, &format!("uploading {digest}")).await?;
        Ok(())
    }

    /// PUTs a manifest under `reference`; returns its digest.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        data: Bytes,
    ) -> Result<String, DistributionError> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        let path = format!("/v2/{}/manifests/{reference}", self.repo);
        let resp = self
            .send(
                Method::PUT,
                &path,
                &[(header::CONTENT_TYPE, media_type.to_string())],
                data,
            )
            .await?;
        expect(
            resp,
            StatusCode::CREATED,
            &format!("putting manifest {reference}"),
        )
        .await?;
        Ok(digest)
    }
}

/// A request that got no answer; TLS failures in Go's words (`Get "https://h/v2/": tls:
/// failed to verify certificate: x509: certificate signed by unknown authority`).
fn connect_error(url: &str, e: &hyper_util::client::legacy::Error) -> DistributionError {
    let message = match crate::tls::find_rustls_error(e) {
        Some(tls) => crate::tls::go_message(tls),
        None => {
            // hyper-util says only "client error (Connect)"; the cause is further down.
            let mut parts = vec![e.to_string()];
            let mut cur = std::error::Error::source(e);
            while let Some(c) = cur {
                parts.push(c.to_string());
                cur = c.source();
            }
            parts
                .into_iter()
                .skip(1)
                .last()
                .unwrap_or_else(|| e.to_string())
        }
    };
    DistributionError::Connect {
        url: url.to_string(),
        source: std::io::Error::other(message),
        tls: crate::tls::find_rustls_error(e).is_some(),
    }
}

/// The body of a response with status `want`; any other status is an error about `what`.
pub(crate) async fn expect(
    resp: Response<Incoming>,
    want: StatusCode,
    what: &str,
) -> Result<Bytes, DistributionError> {
    let status = resp.status();
    let body = collect(resp).await?;
    if status != want {
        return Err(err(format!(
            "{what}: {status}: {}",
            registry_message(&body)
        )));
    }
    Ok(body)
}

pub(crate) async fn collect(resp: Response<Incoming>) -> Result<Bytes, DistributionError> {
    resp.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| err(format!("reading the registry's answer: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::endpoint::Scheme;

    #[test]
    fn clients_build_for_every_kind_of_endpoint() {
        let certs = tempfile::tempdir().unwrap();
        for (scheme, verify) in [
            (Scheme::Https, true),
            (Scheme::Https, false),
            (Scheme::Http, false),
        ] {
            let ep = Endpoint {
                scheme,
                host: "reg.example:5000".into(),
                path: String::new(),
                verify,
                mirror: false,
            };
            let c = RegistryClient::for_endpoint(
                &ep,
                certs.path(),
                "a/b",
                Credentials::default(),
                false,
            )
            .unwrap();
            assert_eq!(
                c.url("/v2/"),
                format!("{}://reg.example:5000/v2/", scheme.as_str())
            );
        }
        let plain = RegistryClient::new("127.0.0.1:5000", "a", Credentials::default(), true);
        assert_eq!(plain.base_url(), "http://127.0.0.1:5000");
    }
}
