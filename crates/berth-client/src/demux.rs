//! Splits a stdcopy-framed stream (8-byte header per chunk) into stdout and stderr.

use berth_api::stdcopy;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{ClientError, Result};

/// Copies frames from `src` to `stdout`/`stderr` until EOF. A `SYSTEMERR` frame (an error the
/// daemon hit mid-stream) ends the copy with that error.
pub async fn demux<R, O, E>(mut src: R, stdout: &mut O, stderr: &mut E) -> Result<()>
where
    R: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let mut header = [0u8; 8];
    let mut buf = Vec::new();
    loop {
        match src.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let (stream, len) = stdcopy::parse_header(&header);
        buf.resize(len, 0);
        src.read_exact(&mut buf).await?;
        match stream {
            stdcopy::STDOUT | stdcopy::STDIN => {
                stdout.write_all(&buf).await?;
                stdout.flush().await?;
            }
            stdcopy::STDERR => {
                stderr.write_all(&buf).await?;
                stderr.flush().await?;
            }
            stdcopy::SYSTEMERR => {
                return Err(ClientError::Protocol(
                    String::from_utf8_lossy(&buf).into_owned(),
                ));
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "unrecognized input header: {other}"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_streams() {
        let mut input = stdcopy::frame(stdcopy::STDOUT, b"out1");
        input.extend(stdcopy::frame(stdcopy::STDERR, b"err"));
        input.extend(stdcopy::frame(stdcopy::STDOUT, b"out2"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(&input[..], &mut out, &mut err).await.unwrap();
        assert_eq!(out, b"out1out2");
        assert_eq!(err, b"err");
    }

    #[tokio::test]
    async fn system_error_ends_stream() {
        let input = stdcopy::frame(stdcopy::SYSTEMERR, b"boom");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let e = demux(&input[..], &mut out, &mut err).await.unwrap_err();
        assert_eq!(e.to_string(), "boom");
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let mut input = stdcopy::frame(stdcopy::STDOUT, b"abcdef");
        input.truncate(10);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(demux(&input[..], &mut out, &mut err).await.is_err());
    }
}
