//! Operations in flight: a request streamed over the daemon's socket in the background, its
//! progress recorded as markers (`sent`, `body-sent`, `status`, `line: ...`) that kill points
//! wait for.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What an operation has done so far.
#[derive(Default)]
pub struct Progress {
    markers: Mutex<Vec<String>>,
    /// Threads of the operation still running.
    running: Mutex<usize>,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn mark(&self, m: impl Into<String>) {
        self.markers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(m.into());
    }

    /// How many markers start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.markers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|m| m.starts_with(prefix))
            .count()
    }

    pub fn markers(&self) -> Vec<String> {
        self.markers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether every thread of the operation has ended.
    pub fn finished(&self) -> bool {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) == 0
    }

    /// Runs `f` on a thread counted by [`Progress::finished`].
    pub fn spawn(self: &Arc<Self>, f: impl FnOnce(&Progress) + Send + 'static) -> JoinHandle<()> {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let me = self.clone();
        std::thread::spawn(move || {
            f(&me);
            *me.running.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        })
    }
}

/// Sends `method path` with `body` (in 64 KiB pieces, `pace` between them) and reads the
/// response line by line, marking `sent` once the head is out, `body-sent`, `status <n>`, and
/// `line: <text>` for each line of the response body. Errors end the stream (`error: ...`).
pub fn request(
    p: &Progress,
    socket: &Path,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
    pace: Duration,
) {
    if let Err(e) = request_inner(p, socket, method, path, content_type, body, pace) {
        p.mark(format!("error: {e}"));
    }
    p.mark("done");
}

fn request_inner(
    p: &Progress,
    socket: &Path,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
    pace: Duration,
) -> std::io::Result<()> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.set_write_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    p.mark("sent");
    let half = body.len() / 2;
    let mut written = 0;
    for chunk in body.chunks(64 << 10) {
        s.write_all(chunk)?;
        let before = written;
        written += chunk.len();
        if before < half && written >= half {
            p.mark("body-half");
        }
        if !pace.is_zero() {
            std::thread::sleep(pace);
        }
    }
    p.mark("body-sent");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut in_body = false;
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line).trim().to_string();
            if !in_body {
                if let Some(status) = line.strip_prefix("HTTP/1.1 ") {
                    p.mark(format!(
                        "status {}",
                        status.split_whitespace().next().unwrap_or_default()
                    ));
                } else if line.is_empty() {
                    in_body = true;
                }
            } else if !line.is_empty() {
                p.mark(format!("line: {line}"));
            }
        }
    }
    Ok(())
}

/// `request` on a background thread of `p`.
pub fn spawn_request(
    p: &Arc<Progress>,
    socket: PathBuf,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Arc<Vec<u8>>,
    pace: Duration,
) -> JoinHandle<()> {
    p.spawn(move |p| request(p, &socket, method, &path, content_type, &body, pace))
}
