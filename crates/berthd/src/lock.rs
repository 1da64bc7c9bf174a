//! One berthd per data root: an exclusive `flock` on `<data-root>/berthd.lock`, held for the
//! life of the process, with the holder's pid inside for the refusal message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

pub const LOCK_FILE: &str = "berthd.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another berthd (pid {pid}) is already using data root {root}")]
    Held { root: String, pid: String },
    #[error("locking {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Holds the data root until dropped.
#[derive(Debug)]
pub struct DataRootLock {
    _lock: Flock<File>,
}

pub fn acquire(data_root: &Path) -> Result<DataRootLock, LockError> {
    let path = data_root.join(LOCK_FILE);
    let io = |source: std::io::Error| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LockError::Held {
                root: data_root.display().to_string(),
                pid: if pid.is_empty() {
                    "unknown".into()
                } else {
                    pid.to_string()
                },
            });
        }
        Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
    };
    lock.set_len(0).map_err(io)?;
    lock.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(lock, "{}", std::process::id()).map_err(io)?;
    Ok(DataRootLock { _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_root_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = acquire(dir.path()).expect("first lock");
        // flock locks belong to the open file description, so a second open conflicts even
        // within one process.
        let err = acquire(dir.path()).expect_err("second lock");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        drop(first);
        assert!(acquire(dir.path()).is_ok());
    }
}
