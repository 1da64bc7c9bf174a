//! The shim's own error log, `<bundle>/shim.log`: its stdio is /dev/null once detached.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use crate::timefmt::now_fixed;

static LOG: OnceLock<File> = OnceLock::new();

/// Opens `<bundle>/shim.log` for appending; later [`error`] calls go there.
pub fn init(bundle: &Path) {
    if let Ok(file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(bundle.join("shim.log"))
    {
        let _ = LOG.set(file);
    }
}

/// Records one line; a failure to log has nowhere else to go and is dropped.
pub fn error(message: &str) {
    if let Some(mut file) = LOG.get() {
        let _ = writeln!(file, "{} error: {message}", now_fixed());
    }
}

/// Records one line as given (the trace's own format).
pub fn raw(line: &str) {
    if let Some(mut file) = LOG.get() {
        let _ = writeln!(file, "{line}");
    }
}
