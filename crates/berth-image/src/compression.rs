//! Detects a stream's compression from its magic bytes and decompresses it on the fly.

use std::io::{self, Cursor, Read};

/// Compression formats berth recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

impl Compression {
    fn detect(prefix: &[u8]) -> Self {
        match prefix {
            [0x1f, 0x8b, ..] => Self::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Self::Zstd,
            [b'B', b'Z', b'h', ..] => Self::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Self::Xz,
            _ => Self::None,
        }
    }
}

/// Wraps `reader` in the right decoder. bzip2 and xz are recognised but refused with a clear
/// message rather than fed to the tar reader as garbage.
pub fn decompress<'a>(mut reader: impl Read + 'a) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    // A pipe may deliver the magic in pieces: read until we have 6 bytes or the stream ends.
    let mut prefix = Vec::with_capacity(6);
    let mut buf = [0u8; 6];
    while prefix.len() < 6 {
        let n = reader.read(&mut buf[..6 - prefix.len()])?;
        if n == 0 {
            break;
        }
        prefix.extend_from_slice(&buf[..n]);
    }
    let kind = Compression::detect(&prefix);
    let whole = Cursor::new(prefix).chain(reader);
    let out: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Compression::Bzip2 | Compression::Xz => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported compression format {kind:?}: use a plain, gzip or zstd tar"),
            ))
        }
    };
    Ok((kind, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Delivers one byte per read, like a slow pipe.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn roundtrip(data: &[u8]) -> (Compression, Vec<u8>) {
        let (kind, mut r) = decompress(Trickle(data)).expect("decompress");
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        (kind, out)
    }

    #[test]
    fn detects_and_decodes() {
        let plain = b"hello tar world".to_vec();
        assert_eq!(roundtrip(&plain), (Compression::None, plain.clone()));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).expect("gz");
        assert_eq!(
            roundtrip(&gz.finish().expect("gz")),
            (Compression::Gzip, plain.clone())
        );
        let zs = zstd::encode_all(&plain[..], 1).expect("zstd");
        assert_eq!(roundtrip(&zs), (Compression::Zstd, plain.clone()));
        assert_eq!(roundtrip(b"ab"), (Compression::None, b"ab".to_vec()));
        assert!(decompress(&b"BZh91AY"[..]).is_err());
    }
}
