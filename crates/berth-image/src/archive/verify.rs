//! Readers that check content while it streams: a digest check at the end of the stream, and
//! a cap on how many bytes a (decompressed) stream may produce.

use std::io::{self, Read};

use berth_types::Digest;
use sha2::{Digest as _, Sha256};

/// Hashes what is read and fails the read that reaches the end if the digest differs, so a
/// consumer (a tar writer streaming a layer out) never finishes on corrupted data.
pub(crate) struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            expected,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {} is corrupted: content hashes to {actual}",
                        self.expected
                    ),
                ));
            }
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Fails once more than `limit` bytes have been read (a decompression bomb's guard).
pub(crate) struct LimitedReader<R> {
    inner: R,
    remaining: u64,
}

/// The error a [`LimitedReader`] returns; recognised by [`is_limit_error`].
#[derive(Debug)]
struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("size limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

pub(crate) fn is_limit_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>())
}

impl<R: Read> LimitedReader<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            remaining: limit,
        }
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Read one byte past the limit so "exactly the limit" is still fine.
        let want = buf
            .len()
            .min(self.remaining.saturating_add(1).min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.remaining {
            return Err(io::Error::other(LimitExceeded));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_reader_fails_at_the_end_on_a_mismatch() {
        let mut out = Vec::new();
        VerifyingReader::new(&b"abc"[..], Digest::of(b"abc"))
            .read_to_end(&mut out)
            .expect("matches");
        assert_eq!(out, b"abc");
        let err = VerifyingReader::new(&b"abd"[..], Digest::of(b"abc"))
            .read_to_end(&mut Vec::new())
            .expect_err("mismatch");
        assert!(err.to_string().contains("corrupted"), "{err}");
    }

    #[test]
    fn limited_reader_allows_the_limit_and_no_more() {
        let mut out = Vec::new();
        LimitedReader::new(&[0u8; 10][..], 10)
            .read_to_end(&mut out)
            .expect("at the limit");
        assert_eq!(out.len(), 10);
        let err = LimitedReader::new(&[0u8; 11][..], 10)
            .read_to_end(&mut Vec::new())
            .expect_err("over");
        assert!(is_limit_error(&err));
    }
}
