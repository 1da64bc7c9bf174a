//! docker's `archive` copy rules for `cp`: what is copied, where it is extracted, and which
//! top-level name the archive's entries get (`CopyInfo`, `PrepareArchiveCopy`, rebasing).

use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// Why the copy cannot go ahead (docker's `archive` errors).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("not a directory")]
    NotDirectory,
    #[error("no such directory")]
    DirNotExists,
    #[error("cannot copy directory")]
    CannotCopyDir,
    #[error("too many symlinks in {0}")]
    TooManySymlinks(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One side of a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyInfo {
    pub path: String,
    pub exists: bool,
    pub is_dir: bool,
    /// The name the archived entry takes instead of its own (a followed symlink's name).
    pub rebase_name: Option<String>,
}

/// Go's `filepath.Clean`.
pub fn clean(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            ".." if abs => {}
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Base`.
pub fn base(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() {
            ".".into()
        } else {
            "/".into()
        };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `filepath.Dir`.
pub fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_string(),
    }
}

fn specifies_current_dir(path: &str) -> bool {
    base(path) == "."
}

fn has_trailing_separator(path: &str) -> bool {
    path.ends_with('/')
}

/// Whether `path` says it must be a directory (`dir/` or `dir/.`).
pub fn asserts_directory(path: &str) -> bool {
    has_trailing_separator(path) || specifies_current_dir(path)
}

/// `SplitPathDirEntry`: the directory and the entry in it, keeping a trailing `/.`.
pub fn split_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = clean(path);
    if specifies_current_dir(path) {
        cleaned.push_str("/.");
    }
    (dir(&cleaned), base(&cleaned))
}

/// `GetRebaseName`: re-applies the trailing `/` or `/.` of `path` to its resolved form and
/// names the entry after `path` when resolution changed the last component.
pub fn rebase_name(path: &str, resolved: &str) -> (String, Option<String>) {
    let mut resolved = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    }
    if has_trailing_separator(path) && !has_trailing_separator(&resolved) {
        resolved.push('/');
    }
    let rebase = (base(path) != base(&resolved)).then(|| base(path));
    (resolved, rebase)
}

/// Joins a link target to the directory of the link (`path`) unless it is absolute.
pub fn link_target_path(path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let (parent, _) = split_dir_entry(path);
    clean(&format!("{parent}/{target}"))
}

fn lstat(path: &str) -> io::Result<std::fs::Metadata> {
    std::fs::symlink_metadata(path)
}

/// `CopyInfoSourcePath` on the local side: the path (symlinks in its parent resolved, the last
/// one too with `follow`) and what it is.
pub fn local_source(path: &str, follow: bool) -> Result<CopyInfo, CopyError> {
    let (resolved, rebase) = if follow {
        let real = std::fs::canonicalize(path)?;
        rebase_name(path, &real.to_string_lossy())
    } else {
        let (dir_part, base_part) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let dir_real = std::fs::canonicalize(if dir_part.is_empty() { "." } else { dir_part })?;
        let resolved = format!(
            "{}/{base_part}",
            dir_real.to_string_lossy().trim_end_matches('/')
        );
        let rebase =
            (has_trailing_separator(path) && base(path) != base(&resolved)).then(|| base(path));
        (resolved, rebase)
    };
    let meta = lstat(&resolved)?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: meta.is_dir(),
        rebase_name: rebase,
    })
}

/// `CopyInfoDestinationPath` on the local side: a final symlink is followed (to where the copy
/// then goes); a missing path is fine when its parent directory exists.
pub fn local_destination(path: &str) -> Result<CopyInfo, CopyError> {
    const MAX_SYMLINKS: usize = 10;
    let mut path = path.to_string();
    let mut stat = lstat(&path);
    let mut n = 0;
    while let Ok(meta) = &stat {
        if !meta.file_type().is_symlink() {
            break;
        }
        if n > MAX_SYMLINKS {
            return Err(CopyError::TooManySymlinks(path));
        }
        n += 1;
        let target = std::fs::read_link(&path)?;
        path = link_target_path(&path, &target.to_string_lossy());
        stat = lstat(&path);
    }
    match stat {
        Ok(meta) => Ok(CopyInfo {
            path,
            exists: true,
            is_dir: meta.is_dir(),
            rebase_name: None,
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let (parent, _) = split_dir_entry(&path);
            let parent_meta = std::fs::metadata(&parent)?;
            if !parent_meta.is_dir() {
                return Err(CopyError::NotDirectory);
            }
            Ok(CopyInfo {
                path,
                ..CopyInfo::default()
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Where a prepared archive is extracted, and how its top-level entry is renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub dst_dir: String,
    /// (old, new) top-level names; `None` when the archive is extracted as it is.
    pub rebase: Option<(String, String)>,
}

/// `PrepareArchiveCopy`.
pub fn prepare(src: &CopyInfo, dst: &CopyInfo) -> Result<Prepared, CopyError> {
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    let (_, src_base) = split_dir_entry(&src.path);
    let src_base = src.rebase_name.clone().unwrap_or(src_base);
    let renamed = || Prepared {
        dst_dir: dst_dir.clone(),
        rebase: Some((src_base.clone(), dst_base.clone())),
    };
    if dst.exists && dst.is_dir {
        return Ok(Prepared {
            dst_dir: dst.path.clone(),
            rebase: None,
        });
    }
    if dst.exists && src.is_dir {
        return Err(CopyError::CannotCopyDir);
    }
    if dst.exists || src.is_dir {
        return Ok(renamed());
    }
    if asserts_directory(&dst.path) {
        return Err(CopyError::DirNotExists);
    }
    Ok(renamed())
}

/// The entry name with its first component `old` replaced by `new` (`RebaseArchiveEntries`);
/// names elsewhere are left alone.
pub fn rebase_entry_name(name: &[u8], old: &str, new: &str) -> Vec<u8> {
    let old = if old == "/" { "" } else { old };
    let old = old.as_bytes();
    let matches = name.starts_with(old)
        && (name.len() == old.len() || old.is_empty() || name[old.len()] == b'/');
    if !matches {
        return name.to_vec();
    }
    let mut out = new.as_bytes().to_vec();
    out.extend_from_slice(&name[old.len()..]);
    out
}

fn bytes_path(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// Copies the tar stream `src` to `dst` with every entry rebased from `old` to `new`.
pub fn rebase_archive(src: impl Read, dst: impl Write, old: &str, new: &str) -> io::Result<()> {
    let mut archive = tar::Archive::new(src);
    let mut builder = tar::Builder::new(dst);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = rebase_entry_name(&entry.path_bytes(), old, new);
        let path = bytes_path(name);
        let mut header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_hard_link() || kind.is_symlink() {
            let mut target = entry
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            if kind.is_hard_link() {
                target = rebase_entry_name(&target, old, new);
            }
            let target = bytes_path(target);
            builder.append_link(&mut header, &path, &target)?;
        } else {
            builder.append_data(&mut header, &path, &mut entry)?;
        }
    }
    builder.into_inner()?.flush()
}

/// The local source's directory and entry, ready to be archived.
pub fn source_parts(src: &CopyInfo) -> (PathBuf, String) {
    let (dir_part, entry) = split_dir_entry(&src.path);
    (Path::new(&dir_part).to_path_buf(), entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(path: &str, exists: bool, is_dir: bool) -> CopyInfo {
        CopyInfo {
            path: path.into(),
            exists,
            is_dir,
            rebase_name: None,
        }
    }

    #[test]
    fn splits_like_docker() {
        assert_eq!(split_dir_entry("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_dir_entry("/"), ("/".into(), "/".into()));
        assert_eq!(split_dir_entry("x"), (".".into(), "x".into()));
    }

    #[test]
    fn prepares_like_docker() {
        let file = info("/src/f", true, false);
        let dir = info("/src/d", true, true);
        // Into an existing directory: as is.
        let p = prepare(&file, &info("/dst", true, true)).unwrap();
        assert_eq!((p.dst_dir.as_str(), p.rebase), ("/dst", None));
        // Over an existing file: renamed.
        let p = prepare(&file, &info("/dst/g", true, false)).unwrap();
        assert_eq!(p.rebase, Some(("f".into(), "g".into())));
        assert!(matches!(
            prepare(&dir, &info("/dst/g", true, false)),
            Err(CopyError::CannotCopyDir)
        ));
        // A new directory takes the destination's name; `d/.` copies the contents.
        let p = prepare(
            &info("/src/d/.", true, true),
            &info("/dst/new", false, false),
        )
        .unwrap();
        assert_eq!(
            (p.dst_dir.as_str(), p.rebase),
            ("/dst", Some((".".into(), "new".into())))
        );
        assert!(matches!(
            prepare(&file, &info("/dst/new/", false, false)),
            Err(CopyError::DirNotExists)
        ));
    }

    #[test]
    fn rebases_only_the_first_component() {
        assert_eq!(rebase_entry_name(b"d/x", "d", "e"), b"e/x");
        assert_eq!(rebase_entry_name(b"d", "d", "e"), b"e");
        assert_eq!(rebase_entry_name(b"dd/x", "d", "e"), b"dd/x");
        assert_eq!(rebase_entry_name(b"./x", ".", "e"), b"e/x");
    }

    #[test]
    fn rebase_names_follow_docker() {
        assert_eq!(
            rebase_name("/a/link", "/b/real"),
            ("/b/real".into(), Some("link".into()))
        );
        assert_eq!(
            rebase_name("/a/link/.", "/b/real"),
            ("/b/real/.".into(), None)
        );
        assert_eq!(rebase_name("/a/x", "/b/x"), ("/b/x".into(), None));
    }
}
