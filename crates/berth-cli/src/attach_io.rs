//! Pumps a hijacked attach/exec stream to the local terminal: output (demultiplexed without a
//! TTY), stdin with the detach-key escape, and window resizes.

use std::future::Future;

use berth_client::{ClientError, HijackedStream};
use thiserror::Error;

use crate::error::CliError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Error)]
pub enum DetachKeysError {
    #[error("Invalid detach keys ({0}) provided")]
    Invalid(String),
}

/// The detach keys `spec`, or docker's default (`ctrl-p,ctrl-q`) when none is given: the spec
/// and its bytes. Bad keys are an error of status 1.
pub fn detach_keys(spec: Option<&str>) -> Result<(String, Vec<u8>), CliError> {
    let spec = spec
        .unwrap_or(crate::commands::run::DEFAULT_DETACH_KEYS)
        .to_string();
    let keys = parse_detach_keys(&spec).map_err(|e| CliError::status(1, e.to_string()))?;
    Ok((spec, keys))
}

/// A streaming attach of stdout and stderr, and of stdin when `stdin`, that the detach keys
/// `spec` (docker's default when none) end: the options and the keys' bytes.
pub fn stream_attach(
    spec: Option<&str>,
    stdin: bool,
) -> Result<(berth_client::AttachOptions, Vec<u8>), CliError> {
    let (spec, keys) = detach_keys(spec)?;
    let opts = berth_client::AttachOptions {
        stream: true,
        stdin,
        stdout: true,
        stderr: true,
        logs: false,
        detach_keys: Some(spec),
    };
    Ok((opts, keys))
}

/// "ctrl-p,ctrl-q" -> [0x10, 0x11].
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, DetachKeysError> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let bad = || DetachKeysError::Invalid(spec.to_string());
        if let Some(c) = key.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [l @ b'a'..=b'z'] => l - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// Watches stdin for the detach sequence, passing everything else through.
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

pub enum Scan {
    Forward(Vec<u8>),
    Detach(Vec<u8>),
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    /// Feeds bytes; returns what to forward, or a detach with what preceded it.
    pub fn scan(&mut self, input: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        Scan::Forward(out)
    }
}

pub enum StreamEnd {
    /// The container (or exec) closed its output.
    Finished,
    /// The user typed the detach keys.
    Detached,
}

/// Runs the stream until output ends or the user detaches.
pub async fn pump(
    stream: HijackedStream,
    tty: bool,
    stdin: bool,
    detach_keys: Vec<u8>,
) -> Result<StreamEnd, ClientError> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let output = async move {
        let mut stdout = tokio::io::stdout();
        if tty {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = rd.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                stdout.write_all(&buf[..n]).await?;
                stdout.flush().await?;
            }
            Ok::<(), ClientError>(())
        } else {
            let mut stderr = tokio::io::stderr();
            berth_client::demux(rd, &mut stdout, &mut stderr).await
        }
    };
    let input = async move {
        if !stdin {
            return std::future::pending::<Result<StreamEnd, ClientError>>().await;
        }
        let mut proxy = EscapeProxy::new(detach_keys);
        let mut local = tokio::io::stdin();
        let mut buf = vec![0u8; 4096];
        loop {
            let n = local.read(&mut buf).await?;
            if n == 0 {
                // EOF: half-close so the container sees it, then keep reading output
                let _ = wr.shutdown().await;
                return std::future::pending().await;
            }
            match proxy.scan(&buf[..n]) {
                Scan::Forward(data) => {
                    if wr.write_all(&data).await.is_err() {
                        return std::future::pending().await;
                    }
                }
                Scan::Detach(data) => {
                    let _ = wr.write_all(&data).await;
                    return Ok(StreamEnd::Detached);
                }
            }
        }
    };
    tokio::select! {
        r = output => r.map(|_| StreamEnd::Finished),
        r = input => r,
    }
}

/// Sends the current window size now and on every SIGWINCH, until the returned task is aborted.
pub fn monitor_resize<F, Fut>(resize: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(u16, u16) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        if let Some((h, w)) = crate::term::window_size() {
            resize(h, w).await;
        }
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Some((h, w)) = crate::term::window_size() {
                resize(h, w).await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-_").unwrap(),
            vec![b'a', 0, 31]
        );
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("xy").is_err());
    }

    #[test]
    fn escape_proxy_detects_sequence_across_reads() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert!(matches!(p.scan(b"ab\x10"), Scan::Forward(v) if v == b"ab"));
        assert!(matches!(p.scan(b"\x11zz"), Scan::Detach(v) if v.is_empty()));
    }

    #[test]
    fn escape_proxy_releases_partial_match() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert!(matches!(p.scan(b"\x10x"), Scan::Forward(v) if v == b"\x10x"));
        assert!(matches!(p.scan(b"\x10\x10\x11"), Scan::Detach(v) if v == b"\x10"));
    }
}
