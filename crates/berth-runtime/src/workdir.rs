//! A private temporary directory for one runtime call (pid files, process.json, console
//! sockets), removed when dropped.

use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// A new 0700 directory under the system temp dir. Short, so that socket paths in it stay
    /// under the 108-byte `sun_path` limit.
    pub fn new() -> io::Result<WorkDir> {
        let template = std::env::temp_dir().join("berth-rt-XXXXXX");
        nix::unistd::mkdtemp(&template)
            .map(WorkDir)
            .map_err(io::Error::from)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless and there is no one to tell.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
