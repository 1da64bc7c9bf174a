//! Writes the final exit status atomically: a temp file beside it, then renamed.
//!
//! Not fsynced: the file (in the container's directory) serves a berthd that restarts while
//! the host stays up, for which the page cache is enough;
//! after a host crash no container is left to report on. An fsync here would hold every exit
//! report (and `run --rm`) behind a journal commit of the whole filesystem.

use std::fs;
use std::io::Write;
use std::path::Path;

use berth_runtime::shim_proto::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum ExitFileError {
    #[error("write exit file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub fn write(path: &Path, status: &ExitStatus) -> Result<(), ExitFileError> {
    let err = |source| ExitFileError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    let mut bytes = serde_json::to_vec(status).map_err(|e| err(e.into()))?;
    bytes.push(b'\n');
    let result = (|| {
        let mut file = fs::File::create(tmp)?;
        file.write_all(&bytes)?;
        fs::rename(tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result.map_err(err)
}
