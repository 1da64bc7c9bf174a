//! The CRI streaming server's WebSocket handshake (RFC 6455 section 4.2, by tokio-tungstenite):
//! what a bad upgrade request is answered, checked with raw HTTP on an exec URL.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::time::Duration;

use berth_tests::cri_grpc::grpc;
use berth_tests::{Client, TestDaemon};

/// A fresh exec URL for `echo hi` in container `id` (each URL is good for one request).
fn exec_url(sock: &std::path::Path, id: &str) -> String {
    grpc(sock, async |mut rt, _| {
        rt.exec(berth_cri::proto::ExecRequest {
            container_id: id.into(),
            cmd: vec!["echo".into(), "hi".into()],
            tty: false,
            stdin: false,
            stdout: true,
            stderr: true,
        })
        .await
        .unwrap()
        .into_inner()
        .url
    })
}

/// Sends a WebSocket upgrade for `url` with `headers`; the response's head (lower-cased) and
/// body.
fn upgrade(url: &str, headers: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    assert!(host.starts_with("127.0.0.1:"), "{url}");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n{headers}\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
        // The head, and the body its Content-Length gives (the connection stays open).
        let text = String::from_utf8_lossy(&resp).to_ascii_lowercase();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn websocket_handshakes_are_checked() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = d.run_detached(
        Client::Docker,
        &["--network", "none", "busybox", "sleep", "300"],
    );
    // A version other than 13: 400, naming the version served.
    let (head, body) = upgrade(
        &exec_url(&sock, &id),
        "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    );
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(head.contains("sec-websocket-version: 13"), "{head}");
    assert!(body.contains("Sec-WebSocket-Version"), "{body}");
    // No version at all.
    let (head, _) = upgrade(
        &exec_url(&sock, &id),
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    );
    assert!(head.starts_with("http/1.1 400"), "{head}");
    // No key, or one that is not 16 bytes in base64.
    let (head, body) = upgrade(&exec_url(&sock, &id), "Sec-WebSocket-Version: 13\r\n");
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(body.contains("missing Sec-WebSocket-Key"), "{body}");
    let (head, body) = upgrade(
        &exec_url(&sock, &id),
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n",
    );
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(body.contains("invalid Sec-WebSocket-Key"), "{body}");
    // A good one is switched, with RFC 6455's accept value and the protocol chosen.
    let (head, _) = upgrade(
        &exec_url(&sock, &id),
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    );
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(
        head.contains("sec-websocket-protocol: v5.channel.k8s.io"),
        "{head}"
    );
}
