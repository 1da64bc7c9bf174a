//! `GET /images/search` and the download of `POST /images/create?fromSrc=<url>`.
//!
//! Search is the registry's v1 search API, as dockerd asks it: Docker Hub's index
//! (`https://index.docker.io/v1/`) for unqualified terms, else the registry the term names,
//! over the endpoints a pull of it would use (HTTPS, then HTTP for an insecure registry), each
//! pinged at `/v1/_ping` first.

use std::io;

use berth_api::models::ImageSearchResponseItem;
use berth_api::Filters;
use berth_distribution::endpoint::Scheme;
use berth_distribution::{Credentials, RegistryClient};
use berth_types::{Error, Result};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::daemon::Daemon;

/// Docker Hub's v1 index, which dockerd searches for unqualified terms.
const INDEX_SERVER: &str = "https://index.docker.io/v1/";
const DEFAULT_LIMIT: i64 = 25;

#[derive(Deserialize)]
struct SearchResults {
    #[serde(default)]
    results: Vec<ImageSearchResponseItem>,
}

/// dockerd's `splitReposSearchTerm`: the index a term names, and the name to search for.
fn split_term(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => ("docker.io", term),
    }
}

fn is_official_index(index: &str) -> bool {
    matches!(
        index,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

fn query_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn bool_value(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(format!("invalid filter '{key}={v}'"))),
    }
}

/// What the search filters keep.
struct SearchFilters {
    automated: Option<bool>,
    official: Option<bool>,
    stars: i64,
}

impl SearchFilters {
    fn parse(f: &Filters) -> Result<Self> {
        f.validate(&["is-automated", "is-official", "stars"])
            .map_err(Error::invalid)?;
        let one = |key: &str| -> Result<Option<bool>> {
            f.get(key).first().map(|v| bool_value(key, v)).transpose()
        };
        let mut stars = 0;
        for v in f.get("stars") {
            let n: i64 = v
                .parse()
                .map_err(|_| Error::invalid(format!("invalid filter 'stars={v}'")))?;
            stars = stars.max(n);
        }
        Ok(Self {
            automated: one("is-automated")?,
            official: one("is-official")?,
            stars,
        })
    }

    fn keeps(&self, r: &ImageSearchResponseItem) -> bool {
        self.automated
            .is_none_or(|a| r.is_automated.unwrap_or(false) == a)
            && self
                .official
                .is_none_or(|o| r.is_official.unwrap_or(false) == o)
            && r.star_count.unwrap_or(0) >= self.stars
    }
}

async fn body_of(resp: http::Response<hyper::body::Incoming>) -> Result<Bytes> {
    resp.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| Error::internal(format!("error while reading the http response: {e}")))
}

impl Daemon {
    /// `GET /images/search?term=&limit=&filters=`.
    pub async fn image_search(
        &self,
        term: &str,
        limit: Option<i64>,
        filters: &Filters,
        creds: Credentials,
    ) -> Result<Vec<ImageSearchResponseItem>> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=100).contains(&limit) {
            return Err(Error::invalid(format!(
                "Limit {limit} is outside the range of [1, 100]"
            )));
        }
        let keep = SearchFilters::parse(filters)?;
        let (index, remote) = split_term(term);
        let (client, base) = if is_official_index(index) {
            let client = RegistryClient::new("index.docker.io", "", creds, false);
            (client, INDEX_SERVER.to_string())
        } else {
            self.v1_endpoint(index, creds).await?
        };
        let remote = if is_official_index(index) {
            remote.strip_prefix("library/").unwrap_or(remote)
        } else {
            remote
        };
        let url = format!("{base}search?q={}&n={limit}", query_escape(remote));
        let resp = client
            .send(Method::GET, &url, &[], Bytes::new())
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let status = resp.status();
        let body = body_of(resp).await?;
        if status != StatusCode::OK {
            return Err(Error::internal(format!(
                "Unexpected status code {}",
                status.as_u16()
            )));
        }
        let found: SearchResults = serde_json::from_slice(&body)
            .map_err(|e| Error::internal(format!("error decoding search results: {e}")))?;
        Ok(found
            .results
            .into_iter()
            .filter(|r| keep.keeps(r))
            .collect())
    }

    /// The first of a registry's (non-mirror) endpoints that answers `/v1/_ping`, with
    /// dockerd's `validateEndpoint` error when none does.
    async fn v1_endpoint(
        &self,
        index: &str,
        creds: Credentials,
    ) -> Result<(RegistryClient, String)> {
        let settings = &self.config.registries;
        let mut attempts: Vec<(Scheme, String)> = Vec::new();
        let mut last_base = String::new();
        for endpoint in settings
            .endpoints(index, false)
            .await
            .into_iter()
            .filter(|e| !e.mirror)
        {
            let base = format!("{}://{}/v1/", endpoint.scheme.as_str(), endpoint.host);
            let client = RegistryClient::for_endpoint(
                &endpoint,
                settings.certs_dir(),
                "",
                creds.clone(),
                false,
            )
            .map_err(|e| Error::internal(e.to_string()))?;
            let ping = format!("{base}_ping");
            match client.send(Method::GET, &ping, &[], Bytes::new()).await {
                // Any answer will do, as dockerd's ping (it only reads the body).
                Ok(_) => return Ok((client, base)),
                Err(e) => {
                    attempts.push((endpoint.scheme, e.to_string()));
                    last_base = base;
                }
            }
        }
        let message = match attempts.as_slice() {
            [(Scheme::Https, https), (Scheme::Http, http)] => format!(
                "invalid registry endpoint {last_base:?}. HTTPS attempt: {https}. HTTP attempt: {http}"
            ),
            [(_, e)] => format!(
                "invalid registry endpoint {last_base}: {e}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add `--insecure-registry {index}` to the daemon's arguments."
            ),
            _ => format!("no endpoint for registry {index}"),
        };
        Err(Error::internal(message))
    }

    /// The body of `url` for an import (`fromSrc=<url>`; no scheme means `http://`), as
    /// dockerd's `GetWithStatusError`: an answer other than 2xx is an error.
    pub async fn import_source(
        &self,
        url: &str,
    ) -> Result<(String, BoxStream<'static, io::Result<Bytes>>)> {
        let url = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::invalid(format!("parse {url:?}: {e}")))?;
        let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let client = RegistryClient::new(&host, "", Credentials::default(), false);
        let resp = client
            .send(Method::GET, &url, &[], Bytes::new())
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            let body = body_of(resp).await.unwrap_or_default();
            return Err(Error::internal(format!(
                "failed to GET {url} with status {status}: {}",
                String::from_utf8_lossy(&body).trim()
            )));
        }
        let stream = resp
            .into_body()
            .into_data_stream()
            .map(|r| r.map_err(io::Error::other))
            .boxed();
        Ok((url, stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_as_dockerd() {
        assert_eq!(split_term("busybox"), ("docker.io", "busybox"));
        assert_eq!(
            split_term("library/busybox"),
            ("docker.io", "library/busybox")
        );
        assert_eq!(split_term("127.0.0.1:1/dh"), ("127.0.0.1:1", "dh"));
        assert_eq!(split_term("localhost/a/b"), ("localhost", "a/b"));
    }
}
