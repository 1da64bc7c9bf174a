//! COPY and ADD: which context entries a step copies, where they land (Docker's directory
//! rules), and the tar that puts them there. The tar is extracted inside the step's opened
//! rootfs, so a symlink in the image cannot lead a destination outside it.

use std::io::{self, Read, Write};
use std::path::Path;

use berth_dockerfile::ignore::clean;
use berth_snapshot::container_path::ContainerRoot;
use berth_types::{Error, Result};
use regex::Regex;

use super::context::{key_of, BuildContext, Entry, Kind};

/// A resolved COPY/ADD.
pub struct CopyPlan {
    /// Context keys of the sources, in order.
    pub sources: Vec<String>,
    /// Absolute destination as written (a trailing `/` kept).
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<u32>,
    /// ADD: local tar archives are extracted at the destination.
    pub extract_archives: bool,
    pub excludes: Vec<String>,
    /// Keep the sources' owners (bind mounts) instead of root's (COPY without `--chown`).
    pub keep_owners: bool,
    /// `COPY --parents`: for each source, its path below the destination (the source path
    /// as written, less what precedes a `/./` pivot) and that path in the context.
    pub parents: Option<Vec<(String, String)>>,
}

fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// filepath.Match over whole paths: `*` and `?` stop at `/`.
fn glob(pattern: &str) -> Result<Regex> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let mut class = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    class.push(d);
                }
                if let Some(rest) = class.strip_prefix('!') {
                    class = format!("^{rest}");
                }
                re.push('[');
                re.push_str(&class.replace('\\', "\\\\"));
                re.push(']');
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| Error::invalid(format!("bad pattern {pattern:?}: {e}")))
}

/// A resolved COPY source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The context key of its content (symlinks followed).
    pub key: String,
    /// The path as written or matched, cleaned (symlinks not followed).
    pub written: String,
    /// `COPY --parents`: the leading part a `/./` pivot drops (`""` without a pivot).
    pub pivot: String,
}

impl Source {
    /// The path `COPY --parents` keeps below the destination.
    pub fn kept_path(&self) -> String {
        if self.pivot.is_empty() {
            return self.written.clone();
        }
        self.written
            .strip_prefix(&self.pivot)
            .map(|r| r.trim_start_matches('/').to_string())
            .unwrap_or_else(|| self.written.clone())
    }
}

/// The part of a source before BuildKit's `/./` pivot, cleaned.
fn pivot_of(pattern: &str) -> String {
    match pattern.find("/./") {
        Some(i) => key_of(&pattern[..i]).unwrap_or_default(),
        None => String::new(),
    }
}

/// Context keys for the COPY sources `patterns` (globs expanded, symlinks followed inside the
/// context) with their written paths and `--parents` pivots, and dockerd's errors for what
/// is missing.
pub fn resolve_sources_named(
    ctx: &BuildContext,
    patterns: &[String],
    verb: &str,
) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for p in patterns {
        let key = key_of(p).unwrap_or_default();
        let pivot = pivot_of(p);
        if has_wildcards(&key) {
            let re = glob(&key)?;
            let matched: Vec<Source> = ctx
                .keys()
                .filter(|k| re.is_match(k))
                .map(|k| Source {
                    key: k.clone(),
                    written: k.clone(),
                    pivot: pivot.clone(),
                })
                .collect();
            if matched.is_empty() {
                continue;
            }
            out.extend(matched);
            continue;
        }
        match ctx.resolve(&key, true) {
            Some(k) if ctx.entry(&k).is_some() => out.push(Source {
                key: k,
                written: key.clone(),
                pivot,
            }),
            _ => {
                return Err(Error::invalid(format!(
                    "{verb} failed: file not found in build context or excluded by .dockerignore: stat {key}: file does not exist"
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(format!(
            "{verb} failed: no source files were specified"
        )));
    }
    Ok(out)
}

/// The absolute destination: relative ones are below the working directory; a trailing `/`
/// (or `/.`) is kept because it means "a directory".
pub fn absolute_dest(dest: &str, workdir: &str) -> String {
    let dir_like = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", if workdir.is_empty() { "/" } else { workdir })
    };
    let mut c = clean(&joined);
    if dir_like && !c.ends_with('/') {
        c.push('/');
    }
    c
}

fn dest_is_dir(root: &ContainerRoot, dest: &str) -> bool {
    let Ok(r) = root.resolve(dest.trim_end_matches('/')) else {
        return false;
    };
    // Follow a final symlink inside the root, as Docker does for the destination.
    root.extraction_dir(&r.abs_path).is_ok()
}

fn is_tar_archive(bytes: &[u8]) -> bool {
    let plain: Vec<u8> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let _ = flate2::read::GzDecoder::new(bytes)
            .take(1024)
            .read_to_end(&mut out);
        out
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut out = Vec::new();
        if let Ok(d) = zstd::stream::read::Decoder::new(bytes) {
            let _ = d.take(1024).read_to_end(&mut out);
        }
        out
    } else {
        bytes.iter().take(1024).copied().collect()
    };
    if plain.len() < 512 {
        return false;
    }
    let mut block = [0u8; 512];
    block.copy_from_slice(&plain[..512]);
    let h = tar::Header::from_byte_slice(&block);
    match h.cksum() {
        Ok(sum) => {
            let computed: u32 = block
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u32::from(*b)
                    }
                })
                .sum();
            sum == computed
        }
        Err(_) => false,
    }
}

struct Writer<'a, W: Write> {
    tar: tar::Builder<W>,
    owner: Option<(u32, u32)>,
    keep_owners: bool,
    chmod: Option<u32>,
    clamp: Option<u64>,
    ctx: &'a BuildContext,
}

impl<W: Write> Writer<'_, W> {
    fn header(&self, e: &Entry, typ: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(typ);
        h.set_mode(self.chmod.unwrap_or(e.mode));
        let (uid, gid) = self.owner.unwrap_or(if self.keep_owners {
            (e.uid, e.gid)
        } else {
            (0, 0)
        });
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mtime(self.clamp.map_or(e.mtime, |c| e.mtime.min(c)));
        h.set_size(0);
        h
    }

    fn entry(&mut self, name: &str, e: &Entry) -> io::Result<()> {
        let name = name.trim_start_matches('/');
        match &e.kind {
            Kind::Dir => {
                let mut h = self.header(e, tar::EntryType::Directory);
                self.tar
                    .append_data(&mut h, format!("{name}/"), io::empty())
            }
            Kind::Symlink(target) => {
                let mut h = self.header(e, tar::EntryType::Symlink);
                self.tar.append_link(&mut h, name, target)
            }
            Kind::File { offset, size } => {
                let mut h = self.header(e, tar::EntryType::Regular);
                h.set_size(*size);
                let r = self.ctx.reader(*offset, *size);
                self.tar.append_data(&mut h, name, r)
            }
        }
    }

    /// An ADD source archive's entries below `dest` (names clamped to it; owners kept unless
    /// `--chown`).
    fn extract(&mut self, dest: &str, bytes: &[u8]) -> io::Result<()> {
        let input: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(bytes))
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::new(bytes)?)
        } else {
            Box::new(bytes)
        };
        let mut archive = tar::Archive::new(input);
        for item in archive.entries()? {
            let mut item = item?;
            let rel = key_of(&String::from_utf8_lossy(&item.path_bytes())).unwrap_or_default();
            if rel.is_empty() {
                continue;
            }
            let name = format!("{}/{rel}", dest.trim_matches('/'));
            let mut h = item.header().clone();
            if let Some((uid, gid)) = self.owner {
                h.set_uid(u64::from(uid));
                h.set_gid(u64::from(gid));
            }
            if let Some(c) = self.clamp {
                h.set_mtime(h.mtime().unwrap_or(0).min(c));
            }
            match h.entry_type() {
                tar::EntryType::Link => {
                    let target = item
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let target = format!(
                        "{}/{}",
                        dest.trim_matches('/'),
                        key_of(&target).unwrap_or_default()
                    );
                    self.tar.append_link(&mut h, &name, target)?;
                }
                tar::EntryType::Symlink => {
                    let target = item
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    self.tar.append_link(&mut h, &name, target)?;
                }
                _ => {
                    let mut data = Vec::new();
                    item.read_to_end(&mut data)?;
                    self.tar.append_data(&mut h, &name, &data[..])?;
                }
            }
        }
        Ok(())
    }
}

/// Writes the tar of `plan` (names relative to the rootfs) into `out`. `root` is the step's
/// rootfs, consulted for whether the destination is an existing directory.
pub fn write_copy_tar(
    ctx: &BuildContext,
    plan: &CopyPlan,
    root: &ContainerRoot,
    rootfs: &Path,
    clamp: Option<u64>,
    verb: &str,
    out: impl Write,
) -> Result<()> {
    let owner = match &plan.chown {
        None => None,
        Some(spec) => {
            let u = berth_runtime::user::resolve(rootfs, spec).map_err(|e| {
                Error::invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: {e}"
                ))
            })?;
            Some((u.uid, u.gid))
        }
    };
    let many = plan.sources.len() > 1;
    if many && !plan.dest.ends_with('/') {
        return Err(Error::invalid(format!(
            "When using {verb} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let dest_dir = plan.dest.ends_with('/') || dest_is_dir(root, &plan.dest);
    let excludes: Vec<Regex> = plan
        .excludes
        .iter()
        .map(|p| glob(&key_of(p).unwrap_or_default()))
        .collect::<Result<_>>()?;
    let excluded = |k: &str| excludes.iter().any(|re| re.is_match(k));
    let io_err = |e: io::Error| Error::internal(format!("{verb}: {e}"));
    let mut w = Writer {
        tar: tar::Builder::new(out),
        owner,
        keep_owners: plan.keep_owners,
        chmod: plan.chmod,
        clamp,
        ctx,
    };
    let dest_base = plan.dest.trim_end_matches('/');
    let mut made_parents = std::collections::BTreeSet::new();
    for (i, src) in plan.sources.iter().enumerate() {
        if excluded(src) {
            continue;
        }
        let Some(entry) = ctx.entry(src) else {
            continue;
        };
        // `--parents`: the source keeps its path below the destination, parents included.
        let kept = plan
            .parents
            .as_ref()
            .and_then(|p| p.get(i))
            .filter(|(kept, _)| !kept.is_empty());
        let owned_base;
        let base = match kept {
            None => dest_base,
            Some((kept, written)) => {
                let written_parent_len = written.len().saturating_sub(kept.len());
                let mut end = 0;
                while let Some(j) = kept[end..].find('/') {
                    let dir = &kept[..end + j];
                    if made_parents.insert(dir.to_string()) {
                        let ctx_key = format!("{}{dir}", &written[..written_parent_len]);
                        let meta = ctx.entry(&ctx_key).filter(|e| e.kind == Kind::Dir);
                        let fallback = Entry {
                            kind: Kind::Dir,
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                            mtime: entry.mtime,
                        };
                        w.entry(&format!("{dest_base}/{dir}"), meta.unwrap_or(&fallback))
                            .map_err(io_err)?;
                    }
                    end += j + 1;
                }
                if entry.kind != Kind::Dir {
                    w.entry(&format!("{dest_base}/{kept}"), entry)
                        .map_err(io_err)?;
                    continue;
                }
                owned_base = format!("{dest_base}/{kept}");
                owned_base.as_str()
            }
        };
        match &entry.kind {
            Kind::Dir => {
                // A directory's contents go into the destination directory.
                // The context root is synthetic: its metadata is nobody's.
                if !base.is_empty() && !src.is_empty() {
                    w.entry(base, entry).map_err(io_err)?;
                }
                let prefix_len = if src.is_empty() { 0 } else { src.len() + 1 };
                for (k, e) in ctx.below(src) {
                    if excluded(k) {
                        continue;
                    }
                    w.entry(&format!("{base}/{}", &k[prefix_len..]), e)
                        .map_err(io_err)?;
                }
            }
            Kind::File { offset, size } => {
                let name = src.rsplit('/').next().unwrap_or(src);
                if plan.extract_archives {
                    let bytes = ctx.read_at(*offset, *size)?;
                    if is_tar_archive(&bytes) {
                        w.extract(base, &bytes).map_err(io_err)?;
                        continue;
                    }
                }
                let target = if dest_dir {
                    format!("{base}/{name}")
                } else {
                    base.to_string()
                };
                w.entry(&target, entry).map_err(io_err)?;
            }
            Kind::Symlink(_) => {
                // Only reached for a glob match: links are copied as links.
                let name = src.rsplit('/').next().unwrap_or(src);
                w.entry(&format!("{base}/{name}"), entry).map_err(io_err)?;
            }
        }
    }
    w.tar.finish().map_err(io_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn destinations_follow_the_workdir_and_keep_the_slash() {
        assert_eq!(absolute_dest(".", "/app"), "/app/");
        assert_eq!(absolute_dest("x", "/app"), "/app/x");
        assert_eq!(absolute_dest("x/", ""), "/x/");
        assert_eq!(absolute_dest("/abs/../y", "/app"), "/y");
    }

    #[test]
    fn globs_stay_in_one_segment() {
        let re = glob("src/*.txt").unwrap();
        assert!(re.is_match("src/a.txt"));
        assert!(!re.is_match("src/sub/a.txt"));
        assert!(glob("a[!b]c").unwrap().is_match("axc"));
    }

    #[test]
    fn tar_archives_are_detected_by_content() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        b.append_data(&mut h, "f", &b"x"[..]).unwrap();
        let t = b.into_inner().unwrap();
        assert!(is_tar_archive(&t));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        assert!(is_tar_archive(&gz.finish().unwrap()));
        assert!(!is_tar_archive(b"just some text that is not a tar archive"));
    }
}
