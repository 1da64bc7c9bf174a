//! Container output as compose prints it: each line prefixed with the container's short name
//! (`web-1  | `), padded to the widest, coloured on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use berth_api::stdcopy;
use berth_client::BodyReader;
use tokio::io::AsyncReadExt;

/// Compose's colour cycle (bright then normal, without black/white).
const COLORS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

#[derive(Clone)]
pub struct LogPrinter {
    width: usize,
    color: bool,
    prefix: bool,
    out: Arc<Mutex<()>>,
}

impl LogPrinter {
    /// `names`: every short name that may print (sets the padding).
    pub fn new(names: &[String], no_color: bool, no_prefix: bool) -> Self {
        LogPrinter {
            width: names.iter().map(|n| n.chars().count()).max().unwrap_or(0),
            color: !no_color && std::io::stdout().is_terminal(),
            prefix: !no_prefix,
            out: Arc::new(Mutex::new(())),
        }
    }

    fn prefix_of(&self, name: &str, index: usize) -> String {
        if !self.prefix {
            return String::new();
        }
        let p = format!("{name:<w$} | ", w = self.width);
        if self.color {
            format!("\x1b[{}m{p}\x1b[0m", COLORS[index % COLORS.len()])
        } else {
            p
        }
    }

    /// Prints whole lines of `text`.
    pub fn lines(&self, name: &str, index: usize, text: &str) {
        let prefix = self.prefix_of(name, index);
        let _g = self.out.lock();
        let mut out = std::io::stdout().lock();
        for line in text.lines() {
            let _ = writeln!(out, "{prefix}{line}");
        }
        let _ = out.flush();
    }

    /// A line of `--watch` (compose's `⦿` prefix).
    pub fn watch_line(&self, text: &str) {
        let line = if self.prefix {
            // Compose pads to its widest presenter name, `#watch` included, plus one.
            let p = format!("{} ⦿ ", " ".repeat(self.width.max("#watch".len()) + 1));
            if self.color {
                format!("\x1b[92m{p}\x1b[0m{text}")
            } else {
                format!("{p}{text}")
            }
        } else {
            text.to_string()
        };
        self.status(&line);
    }

    /// A status line without prefix (`web-1 exited with code 0`).
    pub fn status(&self, text: &str) {
        let _g = self.out.lock();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Copies a log/attach stream line by line until it ends.
    pub async fn copy(
        &self,
        name: &str,
        index: usize,
        mut body: BodyReader,
        tty: bool,
    ) -> std::io::Result<()> {
        let mut pending = Vec::new();
        let flush_lines = |pending: &mut Vec<u8>, last: bool| {
            let cut = if last {
                pending.len()
            } else {
                match pending.iter().rposition(|b| *b == b'\n') {
                    Some(i) => i + 1,
                    None => return,
                }
            };
            let chunk: Vec<u8> = pending.drain(..cut).collect();
            if !chunk.is_empty() {
                self.lines(name, index, &String::from_utf8_lossy(&chunk));
            }
        };
        if tty {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = body.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                flush_lines(&mut pending, false);
            }
        } else {
            let mut header = [0u8; 8];
            let mut buf = Vec::new();
            loop {
                match body.read_exact(&mut header).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
                let (stream, len) = stdcopy::parse_header(&header);
                buf.resize(len, 0);
                body.read_exact(&mut buf).await?;
                if stream == stdcopy::SYSTEMERR {
                    break;
                }
                pending.extend_from_slice(&buf);
                flush_lines(&mut pending, false);
            }
        }
        flush_lines(&mut pending, true);
        Ok(())
    }
}

/// The name compose shows in prefixes: without `<project>-`.
pub fn short_name(project: &str, container: &str) -> String {
    container
        .strip_prefix(&format!("{project}-"))
        .unwrap_or(container)
        .to_string()
}
