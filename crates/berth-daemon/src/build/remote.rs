//! `ADD <http(s) URL>`: the download, as dockerd's classic builder does it. The body goes to
//! an unlinked spool file (never into memory whole) with a size limit, hashed on the way;
//! redirects are followed (at most 10, as Go's client); the file is named after the URL's
//! path (or `Content-Disposition`), gets mode 0600 and the `Last-Modified` time (the epoch
//! without one). A downloaded archive is never extracted: that is the caller's rule.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

/// The largest download `ADD` accepts.
pub const MAX_DOWNLOAD_BYTES: u64 = 8 << 30;
const MAX_REDIRECTS: usize = 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the next piece of an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("parse \"{0}\": invalid URL")]
    BadUrl(String),
    #[error("Get \"{url}\": dial tcp {addr}: {reason}")]
    Connect {
        url: String,
        addr: String,
        reason: String,
    },
    #[error("Get \"{url}\": {reason}")]
    Protocol { url: String, reason: String },
    #[error("failed to GET {url} with status {status}: {body}")]
    Status {
        url: String,
        status: String,
        body: String,
    },
    #[error("Get \"{0}\": stopped after {MAX_REDIRECTS} redirects")]
    TooManyRedirects(String),
    #[error("{url}: the download is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("cannot determine filename for source {0}")]
    NoFilename(String),
    #[error("writing the download of {url}: {source}")]
    Spool { url: String, source: std::io::Error },
    #[error("TLS for {url}: {reason}")]
    Tls { url: String, reason: String },
}

/// One downloaded file, at `offset` in the spool.
#[derive(Debug, Clone)]
pub struct Download {
    pub name: String,
    pub offset: u64,
    pub size: u64,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Seconds since the epoch (`Last-Modified`, or 0).
    pub mtime: u64,
}

/// True for the sources ADD downloads.
pub fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn os_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut c = desc.chars();
            match c.next() {
                Some(f) => format!("connect: {}{}", f.to_lowercase(), c.as_str()),
                None => e.to_string(),
            }
        }
        None => e.to_string(),
    }
}

fn tls_config(url: &str) -> Result<Arc<rustls::ClientConfig>, FetchError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let tls = |reason: String| FetchError::Tls {
        url: url.to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for bundle in CA_BUNDLES {
        if let Ok(certs) = CertificateDer::pem_file_iter(bundle) {
            for c in certs.flatten() {
                let _ = roots.add(c);
            }
        }
    }
    if roots.is_empty() {
        return Err(tls("no CA certificates found on this host".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(url: &str, uri: &http::Uri) -> Result<Sender, FetchError> {
    let https = uri.scheme_str() == Some("https");
    let host = uri
        .host()
        .ok_or_else(|| FetchError::BadUrl(url.to_string()))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = format!("{host}:{port}");
    let connect_err = |reason: String| FetchError::Connect {
        url: url.to_string(),
        addr: addr.clone(),
        reason,
    };
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| connect_err("i/o timeout".into()))?
    .map_err(|e| connect_err(os_reason(&e)))?;
    let _ = tcp.set_nodelay(true);
    let proto = |e: hyper::Error| FetchError::Protocol {
        url: url.to_string(),
        reason: e.to_string(),
    };
    if https {
        let connector = tokio_rustls::TlsConnector::from(tls_config(url)?);
        let name =
            rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| FetchError::Tls {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Tls {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(proto)?;
        tokio::spawn(conn);
        Ok(sender)
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(proto)?;
        tokio::spawn(conn);
        Ok(sender)
    }
}

/// The file name for a download, as dockerd's `getFilenameForDownload`.
fn filename(url_path: &str, content_disposition: Option<&str>) -> Option<String> {
    let usable = |n: &str| {
        let base = n
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        (!n.ends_with('/') && !base.is_empty() && base != "." && base != "..")
            .then(|| base.to_string())
    };
    let decoded = percent_encoding::percent_decode_str(url_path)
        .decode_utf8_lossy()
        .into_owned();
    if let Some(n) = usable(&decoded) {
        return Some(n);
    }
    let cd = content_disposition?;
    let param = cd
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("filename"))?
        .1
        .trim()
        .trim_matches('"');
    usable(param)
}

fn last_modified(value: Option<&str>) -> u64 {
    value
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v.trim()).ok())
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0)
}

/// Downloads `url` to the end of `spool` (at `offset`), at most `limit` bytes.
pub async fn fetch(
    url: &str,
    spool: &mut std::fs::File,
    offset: u64,
    limit: u64,
) -> Result<Download, FetchError> {
    let mut current = url.to_string();
    let original_path = current
        .parse::<http::Uri>()
        .map_err(|_| FetchError::BadUrl(url.to_string()))?
        .path()
        .to_string();
    for _ in 0..=MAX_REDIRECTS {
        let uri: http::Uri = current
            .parse()
            .map_err(|_| FetchError::BadUrl(current.clone()))?;
        if !matches!(uri.scheme_str(), Some("http") | Some("https")) || uri.host().is_none() {
            return Err(FetchError::BadUrl(current));
        }
        let mut sender = connect(url, &uri).await?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let req = http::Request::get(path)
            .header(http::header::HOST, authority)
            .header(http::header::USER_AGENT, "berth-builder")
            .body(Empty::<Bytes>::new())
            .map_err(|_| FetchError::BadUrl(current.clone()))?;
        let proto = |reason: String| FetchError::Protocol {
            url: url.to_string(),
            reason,
        };
        let resp = tokio::time::timeout(READ_TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| proto("timeout awaiting response headers".into()))?
            .map_err(|e| proto(e.to_string()))?;
        let status = resp.status();
        if status.is_redirection() {
            if let Some(loc) = resp.headers().get(http::header::LOCATION) {
                let loc = loc.to_str().unwrap_or_default();
                current = if loc.starts_with('/') {
                    format!(
                        "{}://{}{loc}",
                        uri.scheme_str().unwrap_or("http"),
                        uri.authority().map(|a| a.as_str()).unwrap_or_default()
                    )
                } else {
                    loc.to_string()
                };
                continue;
            }
        }
        let header = |name: http::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let disposition = header(http::header::CONTENT_DISPOSITION);
        let modified = header(http::header::LAST_MODIFIED);
        let length = header(http::header::CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok());
        let mut body = resp.into_body();
        if status.as_u16() >= 400 {
            let mut text = Vec::new();
            while let Ok(Some(Ok(frame))) = tokio::time::timeout(READ_TIMEOUT, body.frame()).await {
                if let Ok(data) = frame.into_data() {
                    text.extend_from_slice(&data);
                }
                if text.len() > 4096 {
                    break;
                }
            }
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.to_string(),
                body: String::from_utf8_lossy(&text).trim().to_string(),
            });
        }
        let name = filename(&original_path, disposition.as_deref())
            .ok_or_else(|| FetchError::NoFilename(url.to_string()))?;
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit,
        };
        if length.is_some_and(|l| l > limit) {
            return Err(too_large());
        }
        let spool_err = |source: std::io::Error| FetchError::Spool {
            url: url.to_string(),
            source,
        };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            let frame = tokio::time::timeout(READ_TIMEOUT, body.frame())
                .await
                .map_err(|_| proto("timeout reading the body".into()))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| proto(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            size += data.len() as u64;
            if size > limit {
                return Err(too_large());
            }
            hasher.update(&data);
            // Local file writes of one frame: short, and this runs on a build task.
            spool.write_all(&data).map_err(spool_err)?;
        }
        return Ok(Download {
            name,
            offset,
            size,
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            mtime: last_modified(modified.as_deref()),
        });
    }
    Err(FetchError::TooManyRedirects(url.to_string()))
}

/// Checks `ADD --checksum`'s value; BuildKit's rules and wording.
pub fn parse_checksum(value: &str) -> Result<String, String> {
    let Some((algo, hex_part)) = value.split_once(':') else {
        return Err("invalid checksum digest format".into());
    };
    let len = match algo {
        "sha256" => 64,
        "sha384" | "sha512" => {
            return Err(format!(
                "unsupported digest algorithm {algo}: berth verifies sha256 checksums"
            ))
        }
        _ => return Err("unsupported digest algorithm".into()),
    };
    if hex_part.len() != len
        || !hex_part
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err("invalid checksum digest format".into());
    }
    Ok(value.to_string())
}

/// Downloads every URL into one spool file under `tmp` (unlinked).
pub async fn fetch_all(
    urls: &[String],
    tmp: &Path,
    limit: u64,
) -> Result<(std::fs::File, Vec<Download>), FetchError> {
    let spool_err = |source: std::io::Error| FetchError::Spool {
        url: urls.first().cloned().unwrap_or_default(),
        source,
    };
    std::fs::create_dir_all(tmp).map_err(spool_err)?;
    let mut spool = tempfile::tempfile_in(tmp).map_err(spool_err)?;
    let mut out = Vec::new();
    let mut offset = 0;
    for url in urls {
        let d = fetch(url, &mut spool, offset, limit).await?;
        offset += d.size;
        out.push(d);
    }
    spool.flush().map_err(spool_err)?;
    Ok((spool, out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Read, Seek};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves each connection one canned answer chosen by the request path.
    async fn server(answers: Vec<(&'static str, String)>) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let answers = answers.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let answer = answers
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, a)| a.clone())
                        .unwrap_or_else(|| {
                            "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found".into()
                        });
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn downloads_follow_redirects_and_keep_last_modified() {
        let addr = server(vec![
            ("/old", "HTTP/1.1 302 Found\r\nlocation: /files/data.bin\r\ncontent-length: 0\r\n\r\n".into()),
            ("/files/data.bin", "HTTP/1.1 200 OK\r\nlast-modified: Wed, 21 Oct 2015 07:28:00 GMT\r\ncontent-length: 5\r\n\r\nhello".into()),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, got) = fetch_all(&[format!("http://{addr}/old")], dir.path(), 100)
            .await
            .unwrap();
        assert_eq!(
            got[0].name, "old",
            "named after the URL asked for, as dockerd"
        );
        assert_eq!(got[0].size, 5);
        assert_eq!(got[0].mtime, 1_445_412_480);
        assert_eq!(
            got[0].digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        spool.rewind().unwrap();
        let mut s = String::new();
        spool.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[tokio::test]
    async fn errors_are_clear() {
        let addr = server(vec![(
            "/big",
            "HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n".to_string() + &"x".repeat(500),
        )])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let e = fetch_all(&[format!("http://{addr}/missing")], dir.path(), 100)
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("with status 404 Not Found: not found"),
            "{e}"
        );
        let e = fetch_all(&[format!("http://{addr}/big")], dir.path(), 100)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::TooLarge { .. }), "{e}");
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = fetch_all(&[format!("http://{closed}/x")], dir.path(), 100)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("connect: connection refused"), "{e}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the spool is unlinked"
        );
    }

    #[test]
    fn names_and_checksums() {
        assert_eq!(filename("/a/b.tar.gz", None).as_deref(), Some("b.tar.gz"));
        assert_eq!(filename("/a%20b", None).as_deref(), Some("a b"));
        assert_eq!(
            filename("/dir/", Some("attachment; filename=\"x.txt\"")).as_deref(),
            Some("x.txt")
        );
        assert_eq!(filename("/", None), None);
        assert_eq!(filename("/", Some("attachment; filename=\"..\"")), None);
        assert!(parse_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert_eq!(
            parse_checksum("sha256:xyz").unwrap_err(),
            "invalid checksum digest format"
        );
        assert_eq!(
            parse_checksum("md5:abc").unwrap_err(),
            "unsupported digest algorithm"
        );
    }
}
