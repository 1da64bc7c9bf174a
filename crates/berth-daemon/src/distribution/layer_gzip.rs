//! Gzip for pushed layers, fast on any core count and on incompressible data: the tar is cut
//! into [`SEGMENT`]-sized pieces, each compressed as a gzip member of its own on one of a few
//! threads and written in order (a multi-member gzip stream, which every gzip reader takes,
//! pigz-style). A piece whose sample does not shrink (random or already compressed bytes) is
//! stored instead of deflated, which costs a copy and a CRC. The output depends only on the
//! input: no name or time in the headers, fixed pieces, a level chosen from the data.

use std::io::{self, Read, Write};

/// Bytes of tar per gzip member.
const SEGMENT: usize = 4 << 20;
/// Bytes of a piece deflated to judge whether the piece compresses.
const SAMPLE: usize = 64 << 10;
/// A sample must shrink below this fraction of its size for its piece to be deflated.
const WORTH_IT: f64 = 0.95;

/// Reads up to `buf.len()` bytes (fewer only at the end of the stream).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The level for a piece: deflate only when a sample of it shrinks.
fn level_for(piece: &[u8]) -> io::Result<flate2::Compression> {
    let sample = &piece[..piece.len().min(SAMPLE)];
    let mut probe = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(sample.len()),
        flate2::Compression::fast(),
    );
    probe.write_all(sample)?;
    let out = probe.finish()?;
    Ok(if (out.len() as f64) < sample.len() as f64 * WORTH_IT {
        flate2::Compression::fast()
    } else {
        flate2::Compression::none()
    })
}

/// One gzip member holding `piece`.
fn member(piece: &[u8]) -> io::Result<Vec<u8>> {
    let level = level_for(piece)?;
    let mut enc = flate2::GzBuilder::new().write(Vec::with_capacity(piece.len() / 2 + 64), level);
    enc.write_all(piece)?;
    enc.finish()
}

/// Compresses `tar` into `out` as described in the module docs.
pub(crate) fn compress(mut tar: impl Read, out: &mut impl Write) -> io::Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let mut pieces: Vec<Vec<u8>> = (0..threads).map(|_| vec![0u8; SEGMENT]).collect();
    let mut wrote_any = false;
    loop {
        // A batch of pieces, one per thread.
        let mut lens = Vec::with_capacity(threads);
        for p in pieces.iter_mut() {
            let n = read_full(&mut tar, p)?;
            if n == 0 {
                break;
            }
            lens.push(n);
            if n < SEGMENT {
                break;
            }
        }
        if lens.is_empty() {
            break;
        }
        let members: Vec<io::Result<Vec<u8>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pieces
                .iter()
                .zip(&lens)
                .map(|(p, &n)| scope.spawn(move || member(&p[..n])))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("a gzip worker panicked")))
                })
                .collect()
        });
        for m in members {
            out.write_all(&m?)?;
            wrote_any = true;
        }
        if lens.len() < threads || lens.last().is_some_and(|&n| n < SEGMENT) {
            break;
        }
    }
    if !wrote_any {
        // An empty layer is still one (empty) gzip member.
        out.write_all(&member(&[])?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut gz = Vec::new();
        compress(data, &mut gz).unwrap();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        gz
    }

    #[test]
    fn multi_member_output_decodes_and_is_deterministic() {
        // Compressible and random pieces, more than one batch of them.
        let mut data: Vec<u8> = (0..SEGMENT * 3).map(|i| (i % 7) as u8).collect();
        let mut x = 0x9e3779b97f4a7c15u64;
        data.extend((0..SEGMENT * 2 + 1234).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }));
        let a = roundtrip(&data);
        assert_eq!(a, roundtrip(&data), "the same input gives the same blob");
        // The compressible part shrank; the random part was stored (a little overhead only).
        assert!(a.len() < SEGMENT * 2 + 1234 + SEGMENT, "{}", a.len());
        assert!(a.len() > SEGMENT * 2);
        roundtrip(b"");
        roundtrip(b"small");
    }
}
