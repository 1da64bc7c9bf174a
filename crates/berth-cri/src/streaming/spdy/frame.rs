//! SPDY/3.1 frames (draft-mbelshe-httpbis-spdy-00 and the 3.1 additions), read and written with
//! the connection's two zlib streams for header blocks: what kubelet's streaming clients
//! (moby/spdystream under client-go) send and expect. Flow control is not enforced, as
//! spdystream neither sends nor honours WINDOW_UPDATE.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::dictionary::DICTIONARY;

const VERSION: u16 = 3;
/// FLAG_FIN of data frames, SYN_STREAM, SYN_REPLY and HEADERS.
pub(crate) const FLAG_FIN: u8 = 0x01;
/// The largest frame accepted (the 24-bit length allows 16 MiB; spdystream's data frames are
/// at most 32 KiB).
const MAX_FRAME: usize = 1 << 24;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes used here.
pub(crate) const RST_CANCEL: u32 = 5;
/// GOAWAY status OK.
pub(crate) const GOAWAY_OK: u32 = 0;

/// A header block: lower-case names, values as sent (several values joined by NUL).
pub(crate) type Headers = Vec<(String, String)>;

/// The value of header `name` (names compared without case, as Go's http.Header does).
pub(crate) fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    SynStream {
        stream_id: u32,
        associated: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings,
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// A control frame of a type SPDY/3.1 does not define (ignored, as the spec asks).
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SpdyError {
    #[error("SPDY: reading: {0}")]
    Io(#[from] std::io::Error),
    #[error("SPDY: unsupported version {0}")]
    Version(u16),
    #[error("SPDY: frame of {0} bytes is too large")]
    TooLarge(usize),
    #[error("SPDY: malformed {0} frame")]
    Malformed(&'static str),
    #[error("SPDY: header compression: {0}")]
    Zlib(String),
}

fn be32(b: &[u8], at: usize) -> Result<u32, SpdyError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(SpdyError::Malformed("control"))
}

/// Writes frames; owns the connection's compression stream for header blocks.
pub(crate) struct Encoder {
    zlib: Compress,
}

impl Encoder {
    pub(crate) fn new() -> Result<Self, SpdyError> {
        let mut zlib = Compress::new(Compression::best(), true);
        zlib.set_dictionary(DICTIONARY)
            .map_err(|e| SpdyError::Zlib(e.to_string()))?;
        Ok(Self { zlib })
    }

    fn header_block(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let start = self.zlib.total_in();
        loop {
            let done = (self.zlib.total_in() - start) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(raw.len() + 64);
            }
            self.zlib
                .compress_vec(&raw[done..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Zlib(e.to_string()))?;
            // A sync flush is complete when all input is taken and output room is left.
            if (self.zlib.total_in() - start) as usize == raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    pub(crate) fn encode(&mut self, frame: &Frame) -> Result<Vec<u8>, SpdyError> {
        let control = |kind: u16, flags: u8, body: &[u8]| {
            let mut out = Vec::with_capacity(8 + body.len());
            out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
            out.extend_from_slice(&kind.to_be_bytes());
            let len = body.len() as u32;
            out.push(flags);
            out.extend_from_slice(&len.to_be_bytes()[1..]);
            out.extend_from_slice(body);
            out
        };
        Ok(match frame {
            Frame::SynStream {
                stream_id,
                associated,
                priority,
                flags,
                headers,
            } => {
                let mut body = Vec::new();
                body.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                body.extend_from_slice(&(associated & 0x7fff_ffff).to_be_bytes());
                body.push((priority & 0x7) << 5);
                body.push(0);
                body.extend_from_slice(&self.header_block(headers)?);
                control(SYN_STREAM, *flags, &body)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&self.header_block(headers)?);
                control(SYN_REPLY, *flags, &body)
            }
            Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&self.header_block(headers)?);
                control(HEADERS, *flags, &body)
            }
            Frame::RstStream { stream_id, status } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(RST_STREAM, 0, &body)
            }
            Frame::Settings => control(SETTINGS, 0, &0u32.to_be_bytes()),
            Frame::Ping { id } => control(PING, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                let mut body = (last_good & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(GOAWAY, 0, &body)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                control(WINDOW_UPDATE, 0, &body)
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                out.push(*flags);
                out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                out.extend_from_slice(data);
                out
            }
            Frame::Unknown => Vec::new(),
        })
    }
}

/// Reads frames; owns the connection's decompression stream for header blocks.
pub(crate) struct Decoder {
    zlib: Decompress,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Self {
            zlib: Decompress::new(true),
        }
    }

    fn header_block(&mut self, compressed: &[u8]) -> Result<Headers, SpdyError> {
        let mut raw: Vec<u8> = Vec::with_capacity(compressed.len() * 4 + 64);
        let start = self.zlib.total_in();
        loop {
            let done = (self.zlib.total_in() - start) as usize;
            if raw.capacity() - raw.len() < 256 {
                raw.reserve(raw.capacity().max(1024));
            }
            match self
                .zlib
                .decompress_vec(&compressed[done..], &mut raw, FlushDecompress::Sync)
            {
                Ok(Status::Ok | Status::BufError | Status::StreamEnd) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.zlib
                        .set_dictionary(DICTIONARY)
                        .map_err(|e| SpdyError::Zlib(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Zlib(e.to_string())),
            }
            if (self.zlib.total_in() - start) as usize == compressed.len()
                && raw.len() < raw.capacity()
            {
                break;
            }
            if raw.len() > MAX_FRAME {
                return Err(SpdyError::TooLarge(raw.len()));
            }
        }
        parse_header_block(&raw)
    }

    /// Reads one frame; `None` at a clean end of the connection (between frames).
    pub(crate) async fn read<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<Frame>, SpdyError> {
        let mut head = [0u8; 8];
        match r.read_exact(&mut head[..1]).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        r.read_exact(&mut head[1..]).await?;
        let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        if len > MAX_FRAME {
            return Err(SpdyError::TooLarge(len));
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        self.decode(head, body).map(Some)
    }

    pub(crate) fn decode(&mut self, head: [u8; 8], body: Vec<u8>) -> Result<Frame, SpdyError> {
        let flags = head[4];
        if head[0] & 0x80 == 0 {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            return Ok(Frame::Data {
                stream_id,
                flags,
                data: body,
            });
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        let id = |name| {
            be32(&body, 0)
                .map(|v| v & 0x7fff_ffff)
                .map_err(|_| SpdyError::Malformed(name))
        };
        Ok(match kind {
            SYN_STREAM => {
                if body.len() < 10 {
                    return Err(SpdyError::Malformed("SYN_STREAM"));
                }
                Frame::SynStream {
                    stream_id: id("SYN_STREAM")?,
                    associated: be32(&body, 4)? & 0x7fff_ffff,
                    priority: body[8] >> 5,
                    flags,
                    headers: self.header_block(&body[10..])?,
                }
            }
            SYN_REPLY => Frame::SynReply {
                stream_id: id("SYN_REPLY")?,
                flags,
                headers: self.header_block(&body[4..])?,
            },
            HEADERS => Frame::Headers {
                stream_id: id("HEADERS")?,
                flags,
                headers: self.header_block(&body[4..])?,
            },
            RST_STREAM => Frame::RstStream {
                stream_id: id("RST_STREAM")?,
                status: be32(&body, 4)?,
            },
            SETTINGS => Frame::Settings,
            PING => Frame::Ping {
                id: be32(&body, 0)?,
            },
            GOAWAY => Frame::GoAway {
                last_good: id("GOAWAY")?,
                status: be32(&body, 4).unwrap_or(0),
            },
            WINDOW_UPDATE => Frame::WindowUpdate {
                stream_id: id("WINDOW_UPDATE")?,
                delta: be32(&body, 4)? & 0x7fff_ffff,
            },
            _ => Frame::Unknown,
        })
    }
}

fn parse_header_block(raw: &[u8]) -> Result<Headers, SpdyError> {
    let bad = || SpdyError::Malformed("header block");
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        let s = raw.get(at..at + n).ok_or_else(bad)?;
        at += n;
        Ok(s)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?);
    let mut headers = Vec::new();
    for _ in 0..count {
        let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
        let name = String::from_utf8_lossy(take(n)?).to_ascii_lowercase();
        let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
        let value = String::from_utf8_lossy(take(n)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames written by moby/spdystream's framer (Go, spdystream v0.5.1), one framer for all.
    const GO_SYN1: &str = "80030001000000290000000100000000000078f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a6800000000ffff";
    const GO_SYN3: &str = "800300010000001900000003000000000000c22ac5565c92925f5a02000000ffff";
    const GO_DATA: &str = "000000030100000568656c6c6f";
    const GO_PING: &str = "800300060000000400000007";
    const GO_GOAWAY: &str = "80030007000000080000000500000000";
    const GO_RST: &str = "80030003000000080000000300000005";
    const GO_WINDOW: &str = "80030009000000080000000300000400";
    /// A SYN_REPLY from a fresh Go framer.
    const GO_REPLY1: &str =
        "80030002000000230000000178f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a6800000000ffff";

    /// Two SYN_REPLY frames of one encoder, which moby/spdystream's framer reads as
    /// `{Streamtype: [error]}` and `{Port: [8080]}` (FIN).
    const OURS_TWO_REPLIES: &str = "80030002000000220000000178f9e3c6a7c202a62346703a2b294a4dcc851625aca9a08006000000ffff800300020100001600000003824a018be622702eb030b03000000000ffff";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Frame {
        let head: [u8; 8] = bytes[..8].try_into().expect("head");
        d.decode(head, bytes[8..].to_vec()).expect("decode")
    }

    fn h(name: &str, value: &str) -> Headers {
        vec![(name.to_string(), value.to_string())]
    }

    #[test]
    fn reads_go_frames_with_one_zlib_stream() {
        let mut d = Decoder::new();
        assert_eq!(
            decode_all(&mut d, &unhex(GO_SYN1)),
            Frame::SynStream {
                stream_id: 1,
                associated: 0,
                priority: 0,
                flags: 0,
                headers: h("streamtype", "error")
            }
        );
        // The second header block continues the first's zlib stream.
        assert_eq!(
            decode_all(&mut d, &unhex(GO_SYN3)),
            Frame::SynStream {
                stream_id: 3,
                associated: 0,
                priority: 0,
                flags: 0,
                headers: h("streamtype", "stdout")
            }
        );
        assert_eq!(
            decode_all(&mut d, &unhex(GO_DATA)),
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: b"hello".to_vec()
            }
        );
        assert_eq!(decode_all(&mut d, &unhex(GO_PING)), Frame::Ping { id: 7 });
        assert_eq!(
            decode_all(&mut d, &unhex(GO_GOAWAY)),
            Frame::GoAway {
                last_good: 5,
                status: 0
            }
        );
        assert_eq!(
            decode_all(&mut d, &unhex(GO_RST)),
            Frame::RstStream {
                stream_id: 3,
                status: RST_CANCEL
            }
        );
        assert_eq!(
            decode_all(&mut d, &unhex(GO_WINDOW)),
            Frame::WindowUpdate {
                stream_id: 3,
                delta: 1024
            }
        );
    }

    #[test]
    fn writes_frames_as_go_does() {
        let mut e = Encoder::new().expect("encoder");
        let reply = e
            .encode(&Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: h("streamType", "error"),
            })
            .expect("encode");
        let second = e
            .encode(&Frame::SynReply {
                stream_id: 3,
                flags: FLAG_FIN,
                headers: h("port", "8080"),
            })
            .expect("encode");
        let hex: String = reply
            .iter()
            .chain(&second)
            .map(|b| format!("{b:02x}"))
            .collect();
        // zlib-rs deflates differently from Go's compress/flate, so the bytes differ: what
        // matters is that both read the other's (OURS_TWO_REPLIES was read by Go's framer).
        assert_eq!(
            &reply[..4],
            &unhex(GO_REPLY1)[..4],
            "control bit, version, type"
        );
        assert_eq!(hex, OURS_TWO_REPLIES);
        let mut d = Decoder::new();
        assert_eq!(
            decode_all(&mut d, &unhex(GO_REPLY1)),
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: h("streamtype", "error")
            }
        );
        for (frame, go) in [
            (
                Frame::Data {
                    stream_id: 3,
                    flags: FLAG_FIN,
                    data: b"hello".to_vec(),
                },
                GO_DATA,
            ),
            (Frame::Ping { id: 7 }, GO_PING),
            (
                Frame::GoAway {
                    last_good: 5,
                    status: GOAWAY_OK,
                },
                GO_GOAWAY,
            ),
            (
                Frame::RstStream {
                    stream_id: 3,
                    status: RST_CANCEL,
                },
                GO_RST,
            ),
            (
                Frame::WindowUpdate {
                    stream_id: 3,
                    delta: 1024,
                },
                GO_WINDOW,
            ),
        ] {
            assert_eq!(e.encode(&frame).expect("encode"), unhex(go), "{frame:?}");
        }
    }

    #[test]
    fn round_trips_many_header_blocks() {
        let mut e = Encoder::new().expect("encoder");
        let mut d = Decoder::new();
        for i in 0..50u32 {
            let headers = vec![
                ("streamtype".to_string(), "data".to_string()),
                ("port".to_string(), format!("{}", 8000 + i)),
                ("requestid".to_string(), i.to_string()),
            ];
            let frame = Frame::SynStream {
                stream_id: 2 * i + 1,
                associated: 0,
                priority: 0,
                flags: 0,
                headers,
            };
            let bytes = e.encode(&frame).expect("encode");
            assert_eq!(decode_all(&mut d, &bytes), frame);
        }
    }

    #[test]
    fn refuses_other_versions_and_bad_blocks() {
        let mut d = Decoder::new();
        let mut v2 = unhex(GO_PING);
        v2[1] = 2;
        assert!(matches!(decode_all_err(&mut d, &v2), SpdyError::Version(2)));
        let mut d = Decoder::new();
        let mut bad = unhex(GO_SYN1);
        let n = bad.len();
        bad[n - 10] ^= 0xff;
        assert!(d
            .decode(bad[..8].try_into().expect("head"), bad[8..].to_vec())
            .is_err());
    }

    fn decode_all_err(d: &mut Decoder, bytes: &[u8]) -> SpdyError {
        let head: [u8; 8] = bytes[..8].try_into().expect("head");
        d.decode(head, bytes[8..].to_vec()).expect_err("error")
    }
}
