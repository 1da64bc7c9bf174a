//! The pidfile: refused when it names a live process (dockerd's check), removed on exit.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PidfileError {
    #[error("pid file found, ensure berthd is not running or delete {0}")]
    Running(String),
    #[error("writing pid file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Removes the pidfile when dropped.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
}

/// Whether `pid` is a live process (a zombie left by a killed berthd whose parent does not
/// reap it is not).
fn is_running(pid: i32) -> bool {
    if pid <= 0 || pid as u32 == std::process::id() {
        return false;
    }
    match std::fs::read_to_string(Path::new(&format!("/proc/{pid}/stat"))) {
        // The state follows the parenthesised command name.
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

pub fn write(path: &Path) -> Result<Pidfile, PidfileError> {
    let io = |source: std::io::Error| PidfileError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Ok(old) = std::fs::read_to_string(path) {
        if old.trim().parse::<i32>().is_ok_and(is_running) {
            return Err(PidfileError::Running(path.display().to_string()));
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, format!("{}", std::process::id())).map_err(io)?;
    Ok(Pidfile {
        path: path.to_path_buf(),
    })
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "removing the pid file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_removed_and_stale_files_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run/berthd.pid");
        // A pid that cannot be running (beyond pid_max).
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "99999999").expect("stale");
        let pf = write(&path).expect("pidfile");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            std::process::id().to_string()
        );
        drop(pf);
        assert!(!path.exists());
    }

    #[test]
    fn a_live_pid_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("berthd.pid");
        // pid 1 is always running.
        std::fs::write(&path, "1").expect("write");
        assert!(matches!(write(&path), Err(PidfileError::Running(_))));
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), "1");
    }
}
