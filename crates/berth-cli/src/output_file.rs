//! Writing a streamed answer to stdout or to a file, as docker's `CopyToFile` does: a
//! temporary file beside the target, renamed over it once complete, removed on failure.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWriteExt};

use crate::error::{CliError, CliResult};

/// What docker's `ValidateOutputPathFileMode` says about a non-directory, non-regular file.
pub fn file_mode_problem(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_block_device() || t.is_char_device() {
        Some("got a device")
    } else if t.is_dir() || t.is_file() {
        None
    } else {
        Some("got an irregular file")
    }
}

/// docker's `ValidateOutputPath`: the parent directory exists and the path, if it exists, is a
/// directory or a regular file.
pub fn validate(path: &str) -> Result<(), String> {
    let cleaned = Path::new(path);
    if let Some(dir) = cleaned.parent().filter(|d| !d.as_os_str().is_empty()) {
        if matches!(std::fs::metadata(dir), Err(e) if e.kind() == ErrorKind::NotFound) {
            return Err(format!(
                "invalid output path: stat {}: no such file or directory",
                dir.display()
            ));
        }
    }
    match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(meta) => match file_mode_problem(&meta) {
            None => Ok(()),
            Some(problem) => Err(format!(
                "invalid output path: {path:?} must be a directory or a regular file: {problem}"
            )),
        },
    }
}

pub async fn copy_to_stdout(mut body: impl AsyncRead + Unpin) -> CliResult {
    let mut out = tokio::io::stdout();
    match tokio::io::copy(&mut body, &mut out).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    out.flush().await.or_else(|e| match e.kind() {
        ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e.into()),
    })
}

fn temp_path(target: &Path) -> PathBuf {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(".docker_temp_{}", std::process::id()))
}

pub async fn copy_to_file(target: &str, mut body: impl AsyncRead + Unpin) -> CliResult {
    let target = Path::new(target);
    let tmp = temp_path(target);
    let written = async {
        let mut f = tokio::fs::File::create(&tmp).await?;
        tokio::io::copy(&mut body, &mut f).await?;
        f.sync_all().await?;
        tokio::fs::rename(&tmp, target).await
    }
    .await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(CliError::status(1, e.to_string()));
    }
    Ok(())
}
