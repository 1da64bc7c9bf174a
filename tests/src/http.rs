//! Raw HTTP/1.1 over the daemon's unix socket, for what no CLI sends (malformed bodies) and for
//! the harness's own setup and cleanup, which must not depend on either CLI working.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("talking to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
}

/// A response, with the body de-chunked.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `message` of a JSON error body, as dockerd answers errors; empty when the body is
    /// not one.
    pub fn message(&self) -> String {
        self.json()
            .and_then(|j| j["message"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
/// The content type of a JSON request body.
pub const JSON: Option<&str> = Some("application/json");

pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
    timeout: Duration,
) -> Result<Response, HttpError> {
    let io = |e| HttpError::Io(socket.display().to_string(), e);
    let mut stream = UnixStream::connect(socket).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    write_body(&mut stream, body).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse(&raw)
}

/// Sends one request over TCP (`Connection: close`) with extra headers; for servers the suite
/// starts on 127.0.0.1, such as `berth registry serve`.
pub fn request_tcp(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, HttpError> {
    let io = |e| HttpError::Io(addr.to_string(), e);
    let mut stream = std::net::TcpStream::connect(addr).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    write_body(&mut stream, body).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse(&raw)
}

/// Sends one request with extra headers over the unix socket and reads until the server closes.
/// Without a `Connection` header among `headers` it sends `Connection: close`; with one (an
/// `Upgrade: tcp` request, as the docker CLI and docker-py send for attach and exec start) the
/// upgraded stream is read to its end, which the daemon marks by closing the connection.
pub fn request_with_headers(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, HttpError> {
    let io = |e| HttpError::Io(socket.display().to_string(), e);
    let mut stream = UnixStream::connect(socket).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
    {
        head.push_str("Connection: close\r\n");
    }
    if method != "GET" && method != "HEAD" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    write_body(&mut stream, body).map_err(io)?;
    // Read the head, then as much body as it announces: an upgrade request answered without an
    // upgrade (an error, say) leaves the connection open, so reading to the end would hang.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            return parse(&raw);
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status_101 = head.starts_with("http/1.1 101") || head.starts_with("http/1.0 101");
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    if method == "HEAD" || head.starts_with("http/1.1 204") || head.starts_with("http/1.1 304") {
        raw.truncate(head_end);
        return parse(&raw);
    }
    loop {
        let body = &raw[head_end..];
        let done = match (status_101, length, chunked) {
            (false, Some(len), _) => body.len() >= len,
            (false, None, true) => body.ends_with(b"0\r\n\r\n") && dechunk(body).is_ok(),
            _ => false,
        };
        if done {
            break;
        }
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    parse(&raw)
}

/// Writes a request's body. A server may answer a request it refuses (a bad reference, say)
/// before it has read the body and close the connection: the write then fails with EPIPE or
/// ECONNRESET while the answer waits to be read, as Go's HTTP client reads it too.
fn write_body(stream: &mut impl Write, body: &[u8]) -> std::io::Result<()> {
    match stream.write_all(body) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn parse(raw: &[u8]) -> Result<Response, HttpError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| HttpError::Malformed("no end of headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked && !rest.is_empty() {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| HttpError::Malformed("chunk size line".into()))?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_hex:?}")))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size {
            return Err(HttpError::Malformed("truncated chunk".into()));
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_chunked_response() {
        let raw = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mes\r\ne\r\nsage\":\"bad \"}\n\r\n0\r\n\r\n";
        let r = parse(raw).expect("parses");
        assert_eq!(r.status, 400);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), "{\"message\":\"bad \"}\n");
    }

    #[test]
    fn parses_a_plain_response() {
        let r = parse(b"HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\n\r\nOK").expect("parses");
        assert_eq!(
            (r.status, r.header("API-Version"), r.text().as_str()),
            (200, Some("1.47"), "OK")
        );
    }

    #[test]
    fn rejects_a_response_without_headers_end() {
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
