//! dockerd's multiplexed stream framing for attach, logs and exec without a TTY:
//! an 8-byte header `[stream, 0, 0, 0, len as u32 big-endian]` before each chunk.

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// Written by dockerd for errors that occur mid-stream.
pub const SYSTEMERR: u8 = 3;

/// The header for a chunk of `len` bytes on `stream`.
pub fn header(stream: u8, len: usize) -> [u8; 8] {
    let l = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Frames `data` for `stream`.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&header(stream, data.len()));
    v.extend_from_slice(data);
    v
}

/// Parses a header: `(stream, len)`.
pub fn parse_header(h: &[u8; 8]) -> (u8, usize) {
    (h[0], u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize)
}

#[cfg(test)]
mod tests {
    #[test]
    fn frame_round_trips() {
        let f = super::frame(super::STDERR, b"hi");
        let mut h = [0u8; 8];
        h.copy_from_slice(&f[..8]);
        assert_eq!(super::parse_header(&h), (2, 2));
        assert_eq!(&f[8..], b"hi");
    }
}
