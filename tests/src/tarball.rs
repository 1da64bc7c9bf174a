//! Minimal ustar archives written by hand, for images whose layers the tests control: small
//! ones with given files, and a large one streamed from a generator (never held in memory).

use std::io::{self, Write};

const BLOCK: usize = 512;

/// One ustar header block for a regular file.
fn header(path: &str, size: u64, mode: u32) -> [u8; BLOCK] {
    header_of(path, size, mode, b'0')
}

/// One ustar header block of entry type `kind` (`b'0'` a file, `b'5'` a directory).
fn header_of(path: &str, size: u64, mode: u32, kind: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let name = path.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    let octal = |field: &mut [u8], value: u64| {
        let text = format!("{:0width$o}\0", value, width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    };
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

fn padding(size: u64) -> usize {
    (BLOCK - (size as usize % BLOCK)) % BLOCK
}

/// A tar of regular files (`path`, content); a path ending in `/` is a directory.
pub fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, data) in files {
        if path.ends_with('/') {
            out.extend_from_slice(&header_of(path, 0, 0o755, b'5'));
            continue;
        }
        let data = data.as_bytes();
        out.extend_from_slice(&header(path, data.len() as u64, 0o644));
        out.extend_from_slice(data);
        out.extend(std::iter::repeat_n(0u8, padding(data.len() as u64)));
    }
    out.extend(std::iter::repeat_n(0u8, 2 * BLOCK));
    out
}

/// The byte length of [`write_big_tar`]'s archive for a file of `size` bytes.
pub fn big_tar_len(size: u64) -> u64 {
    BLOCK as u64 + size + padding(size) as u64 + 2 * BLOCK as u64
}

/// Streams a tar holding one `size`-byte file of pseudo-random (incompressible) bytes seeded by
/// `seed`; `pace` is called after each chunk written, with the bytes written so far, and may
/// sleep or stop the stream by returning an error.
pub fn write_big_tar(
    out: &mut dyn Write,
    path: &str,
    size: u64,
    seed: u64,
    pace: &mut dyn FnMut(u64) -> io::Result<()>,
) -> io::Result<()> {
    out.write_all(&header(path, size, 0o644))?;
    let mut written = BLOCK as u64;
    let mut state = seed | 1;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = chunk.len().min(left as usize);
        for word in chunk[..n].chunks_mut(8) {
            // xorshift64: fast and good enough to defeat compression.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        out.write_all(&chunk[..n])?;
        left -= n as u64;
        written += n as u64;
        pace(written)?;
    }
    out.write_all(&vec![0u8; padding(size) + 2 * BLOCK])?;
    out.flush()
}

/// One member (header, bytes, padding) of a hand-written tar.
fn member(out: &mut Vec<u8>, path: &str, data: &[u8]) {
    out.extend_from_slice(&header(path, data.len() as u64, 0o644));
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(0u8, padding(data.len() as u64)));
}

/// An image config whose `rootfs.diff_ids` are `diff_ids` (hex), running `sh`.
pub fn image_config(diff_ids: &[String]) -> Vec<u8> {
    let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"sha256:{d}\"")).collect();
    format!(
        r#"{{"architecture":"amd64","config":{{"Cmd":["sh"],"Env":["PATH=/bin"]}},"created":"2024-05-06T07:08:09Z","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        ids.join(",")
    )
    .into_bytes()
}

/// A docker-archive (`docker save` layout: `config.json`, `l<n>/layer.tar`, `manifest.json`)
/// of one image named `repo_tags`: the layers are the given bytes, the config's diff ids those
/// given (hex), which need not match them (hostile and broken archives).
pub fn docker_archive(layers: &[Vec<u8>], diff_ids: &[String], repo_tags: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    member(&mut out, "config.json", &image_config(diff_ids));
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let path = format!("l{i}/layer.tar");
        member(&mut out, &path, l);
        paths.push(path);
    }
    let manifest = format!(
        r#"[{{"Config":"config.json","RepoTags":{},"Layers":{}}}]"#,
        serde_json::to_string(repo_tags).unwrap_or_default(),
        serde_json::to_string(&paths).unwrap_or_default()
    );
    member(&mut out, "manifest.json", manifest.as_bytes());
    out.extend(std::iter::repeat_n(0u8, 2 * BLOCK));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_valid_ustar() {
        let t = tar_of(&[("etc/hello", "hi\n")]);
        assert_eq!(t.len(), 512 + 512 + 1024);
        assert_eq!(&t[257..262], b"ustar");
        let mut big = Vec::new();
        write_big_tar(&mut big, "big", 1000, 7, &mut |_| Ok(())).expect("write");
        assert_eq!(big.len() as u64, big_tar_len(1000));
    }
}
