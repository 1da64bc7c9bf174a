//! Reading a container's json-file log (dockerd's format), with follow, tail, since/until.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_api::stdcopy;
use berth_types::Result;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::daemon::{Daemon, LogStream};
use crate::options::LogsOptions;

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// How often a follower looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

struct Filter {
    stdout: bool,
    stderr: bool,
    since: Option<f64>,
    until: Option<f64>,
    timestamps: bool,
    tty: bool,
}

impl Filter {
    /// The client bytes for one log line, or None when it is filtered out.
    fn render(&self, line: &str) -> Option<Bytes> {
        let e: Entry = serde_json::from_str(line).ok()?;
        let is_err = e.stream == "stderr";
        if (is_err && !self.stderr) || (!is_err && !self.stdout) {
            return None;
        }
        if self.since.is_some() || self.until.is_some() {
            let t = chrono::DateTime::parse_from_rfc3339(&e.time).ok()?;
            let secs = t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9;
            if self.since.is_some_and(|s| secs < s) || self.until.is_some_and(|u| secs >= u) {
                return None;
            }
        }
        let mut payload = Vec::with_capacity(e.log.len() + 40);
        if self.timestamps {
            payload.extend_from_slice(e.time.as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(e.log.as_bytes());
        Some(if self.tty {
            Bytes::from(payload)
        } else {
            Bytes::from(stdcopy::frame(
                if is_err {
                    stdcopy::STDERR
                } else {
                    stdcopy::STDOUT
                },
                &payload,
            ))
        })
    }
}

/// The live log and its rotated siblings (`.N`, or `.N.gz` when compressed), oldest first.
fn log_files(live: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for n in 1..100 {
        let plain = PathBuf::from(format!("{}.{n}", live.display()));
        let gz = PathBuf::from(format!("{}.{n}.gz", live.display()));
        match (plain.exists(), gz.exists()) {
            (true, _) => rotated.push(plain),
            (false, true) => rotated.push(gz),
            (false, false) => break,
        }
    }
    rotated.reverse();
    rotated.push(live.to_path_buf());
    rotated
}

/// A log file's lines, gunzipped when it is a `.gz`.
fn open_lines(path: &Path) -> Option<Box<dyn BufRead>> {
    let file = std::fs::File::open(path).ok()?;
    if path.extension().is_some_and(|e| e == "gz") {
        Some(Box::new(BufReader::new(flate2::read::GzDecoder::new(file))))
    } else {
        Some(Box::new(BufReader::new(file)))
    }
}

impl Daemon {
    pub async fn container_logs(&self, key: &str, opts: LogsOptions) -> Result<LogStream> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        if crate::log_config::driver(c.host_config.log_config.as_ref()) == crate::log_config::NONE {
            return Err(berth_types::Error::not_implemented(
                "configured logging driver does not support reading",
            ));
        }
        let tty = c.tty();
        let filter = Filter {
            stdout: opts.stdout,
            stderr: opts.stderr,
            since: opts.since,
            until: opts.until,
            timestamps: opts.timestamps,
            tty,
        };
        let live = self.log_path(&c.id);
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let mut life = ctr.life.subscribe();
        let follow = opts.follow && c.state.running();
        let tail = opts.tail;
        tokio::task::spawn_blocking(move || {
            // Existing lines (with tail), remembering where the live file ended.
            let mut lines: Vec<String> = Vec::new();
            let mut offset = 0u64;
            for f in log_files(&live) {
                let Some(mut r) = open_lines(&f) else {
                    continue;
                };
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if !line.ends_with('\n') {
                                break; // a line being written: the follower picks it up
                            }
                            if f == live {
                                offset += n as u64;
                            }
                            lines.push(line.clone());
                        }
                    }
                }
            }
            let start = match tail {
                Some(n) => lines.len().saturating_sub(n),
                None => 0,
            };
            for l in &lines[start..] {
                if let Some(b) = filter.render(l) {
                    if tx.blocking_send(b).is_err() {
                        return;
                    }
                }
            }
            if !follow {
                return;
            }
            loop {
                let running = life.borrow_and_update().running;
                offset = match read_from(&live, offset, &filter, &tx) {
                    Some(o) => o,
                    None => return,
                };
                if !running {
                    return;
                }
                if filter.until.is_some_and(|u| now_secs() >= u) {
                    return;
                }
                std::thread::sleep(FOLLOW_POLL);
                if tx.is_closed() {
                    return;
                }
            }
        });
        let body = tokio_stream_from(rx);
        Ok(LogStream { tty, body })
    }
}

/// Sends complete lines of `path` after `offset`; returns the new offset (None: client gone).
fn read_from(path: &Path, offset: u64, filter: &Filter, tx: &mpsc::Sender<Bytes>) -> Option<u64> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Some(offset);
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Rotated under us: start the new file from the top.
    let offset = if len < offset { 0 } else { offset };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return Some(offset);
    }
    let mut r = BufReader::new(file);
    let mut pos = offset;
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return Some(pos),
            Ok(n) => {
                if !line.ends_with('\n') {
                    return Some(pos);
                }
                pos += n as u64;
                if let Some(b) = filter.render(&line) {
                    if tx.blocking_send(b).is_err() {
                        return None;
                    }
                }
            }
        }
    }
}

fn now_secs() -> f64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as f64 / 1e9
}

fn tokio_stream_from(rx: mpsc::Receiver<Bytes>) -> futures::stream::BoxStream<'static, Bytes> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_frames_timestamps_and_filters() {
        let f = Filter {
            stdout: true,
            stderr: false,
            since: None,
            until: None,
            timestamps: true,
            tty: false,
        };
        let line = r#"{"log":"hi\n","stream":"stdout","time":"2024-01-01T00:00:00.000000001Z"}"#;
        let b = f.render(line).expect("rendered");
        assert_eq!(&b[..8], &stdcopy::header(stdcopy::STDOUT, b.len() - 8));
        assert_eq!(&b[8..], b"2024-01-01T00:00:00.000000001Z hi\n");
        let err = r#"{"log":"e\n","stream":"stderr","time":"2024-01-01T00:00:00Z"}"#;
        assert!(f.render(err).is_none());
        let g = Filter {
            stdout: true,
            stderr: true,
            since: Some(1_704_067_201.0),
            until: None,
            timestamps: false,
            tty: true,
        };
        assert!(g.render(line).is_none());
    }
}
