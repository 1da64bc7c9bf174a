//! Progress lines as Compose v2 prints them in plain mode (` Container p-web-1  Started`), on
//! stderr. On a terminal Compose redraws a tree; berth prints the same lines.

use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Progress {
    quiet: bool,
    lock: Mutex<()>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress {
            quiet,
            lock: Mutex::new(()),
        }
    }

    /// ` <kind> <name>  <status>`.
    pub fn event(&self, kind: &str, name: &str, status: &str) {
        if self.quiet {
            return;
        }
        let _g = self.lock.lock();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, " {kind} {name}  {status}");
    }

    pub fn container(&self, name: &str, status: &str) {
        self.event("Container", name, status);
    }

    /// A free-form line (warnings).
    pub fn line(&self, text: &str) {
        let _g = self.lock.lock();
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}
