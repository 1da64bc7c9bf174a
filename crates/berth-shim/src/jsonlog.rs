//! dockerd's json-file log driver: one JSON object per line, split per output line, rotated by
//! size.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_runtime::shim_proto::LogFormat;

use crate::timefmt::{format_utc, Fraction};

/// dockerd's copier buffer: a line longer than this is logged in pieces, without newline.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("open log {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write log {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rotate log {path}: {source}")]
    Rotate {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The live log file plus its rotation policy.
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
    compress: bool,
    format: LogFormat,
}

impl JsonLog {
    /// Opens (appending to) `path`. `max_size` 0 never rotates.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> Result<Self, LogError> {
        let file = open_append(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            compress: false,
            format: LogFormat::JsonFile,
        })
    }

    /// Entries in json-file form (the default) or the CRI's.
    pub fn format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// Rotated files are gzipped (`<log>.N.gz`); the newest rotated one too, as berth
    /// compresses at rotation time rather than in the background.
    pub fn compress_rotated(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Opens the file at the log's path again, appending (a rotation done by someone else
    /// moved the old one away).
    pub fn reopen(&mut self) -> Result<(), LogError> {
        self.file = open_append(&self.path)?;
        self.size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(())
    }

    /// Writes one entry for `line` (already split) from `stream`.
    pub fn write_entry(
        &mut self,
        stream: &str,
        line: &[u8],
        at: SystemTime,
    ) -> Result<(), LogError> {
        let mut buf = Vec::with_capacity(line.len() + 80);
        match self.format {
            LogFormat::JsonFile => encode_entry(&mut buf, stream, line, at),
            LogFormat::Cri => encode_cri_entry(&mut buf, stream, line, at),
        }
        if self.max_size > 0 && self.size >= self.max_size {
            self.rotate()?;
        }
        self.file
            .write_all(&buf)
            .map_err(|source| LogError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// `<log>.N-1` -> `<log>.N`, ..., `<log>` -> `<log>.1`, then a fresh `<log>`; with a single
    /// file the live one is truncated, as dockerd does.
    fn rotate(&mut self) -> Result<(), LogError> {
        let rotate_err = |source| LogError::Rotate {
            path: self.path.clone(),
            source,
        };
        if self.max_files < 2 {
            self.file.set_len(0).map_err(rotate_err)?;
            self.size = 0;
            return Ok(());
        }
        let suffix = if self.compress { ".gz" } else { "" };
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}{suffix}"));
            PathBuf::from(name)
        };
        let last = self.max_files - 1;
        match fs::remove_file(numbered(last)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(rotate_err(e)),
            _ => {}
        }
        for n in (1..last).rev() {
            match fs::rename(numbered(n), numbered(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(rotate_err(e)),
                _ => {}
            }
        }
        if self.compress {
            gzip_into(&self.path, &numbered(1)).map_err(rotate_err)?;
            fs::remove_file(&self.path).map_err(rotate_err)?;
        } else {
            fs::rename(&self.path, numbered(1)).map_err(rotate_err)?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Writes `src` gzipped to `dest` through a temporary file, so `dest` is whole or absent.
fn gzip_into(src: &Path, dest: &Path) -> std::io::Result<()> {
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut input = File::open(src)?;
        let out = File::create(&tmp)?;
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        std::io::copy(&mut input, &mut gz)?;
        gz.finish()?.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn open_append(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// `{"log":"...","stream":"...","time":"..."}\n` exactly as dockerd's `MarshalJSONBuf`.
pub fn encode_entry(buf: &mut Vec<u8>, stream: &str, line: &[u8], at: SystemTime) {
    buf.push(b'{');
    if !line.is_empty() {
        buf.extend_from_slice(b"\"log\":");
        write_json_string(buf, line);
        buf.push(b',');
    }
    buf.extend_from_slice(b"\"stream\":");
    write_json_string(buf, stream.as_bytes());
    buf.extend_from_slice(b",\"time\":\"");
    buf.extend_from_slice(format_utc(at, Fraction::Trimmed).as_bytes());
    buf.extend_from_slice(b"\"}\n");
}

/// `<RFC3339Nano> <stream> F|P <line>\n`, the CRI log format (kubelet's `pkg/kubelet/kuberuntime/
/// logs`): `F` for a whole line (its newline dropped), `P` for a piece of a longer one.
pub fn encode_cri_entry(buf: &mut Vec<u8>, stream: &str, line: &[u8], at: SystemTime) {
    buf.extend_from_slice(format_utc(at, Fraction::Trimmed).as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(stream.as_bytes());
    match line.strip_suffix(b"\n") {
        Some(whole) => {
            buf.extend_from_slice(b" F ");
            buf.extend_from_slice(whole);
        }
        None => {
            buf.extend_from_slice(b" P ");
            buf.extend_from_slice(line);
        }
    }
    buf.push(b'\n');
}

/// Go's HTML-safe JSON string escaping as dockerd's ffjson writer does it: `<`, `>`, `&` and
/// control bytes as `\u00XX`, invalid UTF-8 as `\ufffd`, U+2028/U+2029 escaped.
fn write_json_string(buf: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            match b {
                b'\\' | b'"' => buf.extend_from_slice(&[b'\\', b]),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                b'<' | b'>' | b'&' | 0..=0x1f => {
                    buf.extend_from_slice(b"\\u00");
                    buf.push(HEX[(b >> 4) as usize]);
                    buf.push(HEX[(b & 0xf) as usize]);
                }
                _ => buf.push(b),
            }
            i += 1;
            continue;
        }
        let width = utf8_width(&s[i..]);
        match width {
            None => {
                buf.extend_from_slice(b"\\ufffd");
                i += 1;
            }
            Some(w) => {
                let ch = &s[i..i + w];
                if ch == "\u{2028}".as_bytes() || ch == "\u{2029}".as_bytes() {
                    buf.extend_from_slice(b"\\u202");
                    buf.push(HEX[(ch[2] & 0xf) as usize]);
                } else {
                    buf.extend_from_slice(ch);
                }
                i += w;
            }
        }
    }
    buf.push(b'"');
}

/// Length of the valid UTF-8 sequence at the start of `s` (non-ASCII lead), or `None`.
fn utf8_width(s: &[u8]) -> Option<usize> {
    let want = match s[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let candidate = s.get(..want)?;
    std::str::from_utf8(candidate).ok().map(|_| want)
}

/// Splits one stream's bytes into log lines the way dockerd's copier does.
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds `data`, calling `emit` for each complete line (with its `\n`) and for each
    /// [`MAX_LINE`]-sized piece of an overlong line (without).
    pub fn feed(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        let mut rest = data;
        while !rest.is_empty() {
            let room = MAX_LINE - self.pending.len();
            let take = rest.len().min(room);
            let chunk = &rest[..take];
            rest = &rest[take..];
            let mut start = 0;
            for (i, &b) in chunk.iter().enumerate() {
                if b == b'\n' {
                    if self.pending.is_empty() {
                        emit(&chunk[start..=i]);
                    } else {
                        self.pending.extend_from_slice(&chunk[start..=i]);
                        emit(&self.pending);
                        self.pending.clear();
                    }
                    start = i + 1;
                }
            }
            self.pending.extend_from_slice(&chunk[start..]);
            if self.pending.len() >= MAX_LINE {
                emit(&self.pending);
                self.pending.clear();
            }
        }
        if self.pending.capacity() > MAX_LINE && self.pending.is_empty() {
            self.pending = Vec::new();
        }
    }

    /// End of stream: whatever is left is logged without a newline.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
        }
        self.pending = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn cri_entries_mark_whole_and_partial_lines() {
        let at = UNIX_EPOCH + Duration::new(1_714_557_600, 123_456_000);
        let mut buf = Vec::new();
        encode_cri_entry(&mut buf, "stdout", b"hello\n", at);
        encode_cri_entry(&mut buf, "stderr", b"no newline yet", at);
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "2024-05-01T10:00:00.123456Z stdout F hello\n\
             2024-05-01T10:00:00.123456Z stderr P no newline yet\n"
        );
    }

    #[test]
    fn entry_matches_dockerd() {
        let at = UNIX_EPOCH + Duration::new(1_714_557_600, 123_456_789);
        let mut buf = Vec::new();
        encode_entry(&mut buf, "stdout", b"hello\n", at);
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.123456789Z\"}\n"
        );
        buf.clear();
        encode_entry(
            &mut buf,
            "stderr",
            b"<a>&\t\"\\\xff\xe2\x80\xa8\xc3\xa9",
            at,
        );
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.starts_with(
                r#"{"log":"\u003ca\u003e\u0026\u0009\"\\\ufffd\u2028é","stream":"stderr""#
            ),
            "{text}"
        );
    }

    #[test]
    fn splits_lines_and_long_partials() {
        let mut s = LineSplitter::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        s.feed(b"a\nbc", |l| got.push(l.to_vec()));
        s.feed(b"d\n\n", |l| got.push(l.to_vec()));
        assert_eq!(
            got,
            vec![b"a\n".to_vec(), b"bcd\n".to_vec(), b"\n".to_vec()]
        );
        got.clear();
        let long = vec![b'x'; MAX_LINE + 10];
        s.feed(&long, |l| got.push(l.to_vec()));
        s.feed(b"\n", |l| got.push(l.to_vec()));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], [vec![b'x'; 10], b"\n".to_vec()].concat());
        got.clear();
        s.feed(b"tail", |l| got.push(l.to_vec()));
        s.finish(|l| got.push(l.to_vec()));
        assert_eq!(got, vec![b"tail".to_vec()]);
    }

    #[test]
    fn compressed_rotation_keeps_gzipped_files() {
        use std::io::Read;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path, 100, 3)
            .expect("open")
            .compress_rotated(true);
        for i in 0..20 {
            log.write_entry(
                "stdout",
                format!("line {i}\n").as_bytes(),
                SystemTime::now(),
            )
            .expect("write");
        }
        let gz = dir.path().join("c-json.log.1.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&gz).expect("gz"))
            .read_to_string(&mut text)
            .expect("gunzip");
        assert!(text.contains("\"stream\":\"stdout\""), "{text}");
        assert!(dir.path().join("c-json.log.2.gz").exists());
        assert!(!dir.path().join("c-json.log.3.gz").exists());
        assert!(!dir.path().join("c-json.log.1").exists());
    }

    #[test]
    fn rotates_keeping_max_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path, 100, 3).expect("open");
        for i in 0..20 {
            log.write_entry(
                "stdout",
                format!("line {i}\n").as_bytes(),
                SystemTime::now(),
            )
            .expect("write");
        }
        assert!(path.exists());
        assert!(dir.path().join("c-json.log.1").exists());
        assert!(dir.path().join("c-json.log.2").exists());
        assert!(!dir.path().join("c-json.log.3").exists());
        let live = fs::read_to_string(&path).expect("read");
        assert!(live.contains("line 19"));
        for f in [path.clone(), dir.path().join("c-json.log.1")] {
            let len = fs::metadata(&f).expect("meta").len();
            assert!(len < 100 + 100, "{len}");
        }
    }
}
