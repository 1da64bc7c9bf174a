//! Reading a container's json-file log (dockerd's format), with follow, tail, since/until.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
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
fn open_lines(path: &Path, file: Option<&File>) -> Option<Box<dyn BufRead>> {
    let file = file?.try_clone().ok()?;
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
        if crate::container::log_config::driver(c.host_config.log_config.as_ref())
            == crate::container::log_config::NONE
        {
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
        // Opened now, before the answer goes out: a client that removes the container once it
        // has exited (docker-py's `containers.run`) still reads every line, from these fds.
        let files: Vec<(PathBuf, Option<File>)> = log_files(&live)
            .into_iter()
            .map(|p| {
                let f = File::open(&p).ok();
                (p, f)
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            // Existing lines (with tail), remembering where the live file ended.
            let mut lines: Vec<String> = Vec::new();
            let mut offset = 0u64;
            let mut follower: Option<File> = None;
            for (f, file) in &files {
                if *f == live {
                    follower = file.as_ref().and_then(|h| h.try_clone().ok());
                }
                let Some(mut r) = open_lines(f, file.as_ref()) else {
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
                            if *f == live {
                                offset += n as u64;
                            }
                            lines.push(line.clone());
                        }
                    }
                }
            }
            drop(files);
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
                // Rotated: finish the old file, then read the new one from its top. A file that
                // is gone (the container removed) is read to its end through the open fd.
                loop {
                    let Some(file) = follower.as_ref() else {
                        follower = File::open(&live).ok();
                        offset = 0;
                        if follower.is_none() {
                            break;
                        }
                        continue;
                    };
                    offset = match read_from(file, offset, &filter, &tx) {
                        Some(o) => o,
                        None => return,
                    };
                    let ours = file.metadata().map(|m| (m.dev(), m.ino())).ok();
                    let named = std::fs::metadata(&live).map(|m| (m.dev(), m.ino())).ok();
                    match named {
                        Some(n) if Some(n) != ours => follower = None,
                        _ => break,
                    }
                }
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

/// Sends complete lines of `file` after `offset`; returns the new offset (None: client gone).
fn read_from(
    mut file: &File,
    offset: u64,
    filter: &Filter,
    tx: &mpsc::Sender<Bytes>,
) -> Option<u64> {
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
