//! With `--debug`, the shim writes the start path's trace (its spans with durations and the
//! embedded runtime's debug events, from every process of the create) to `<bundle>/shim.log`;
//! the bundle goes when the container stops, so its trace lines are relayed into berthd's own
//! log first, beside the daemon's spans of the same run (`create`, `start`, `launch_shim`, ...).

use std::path::Path;

/// Logs the trace lines of `bundle`'s shim log at debug level.
pub(crate) fn relay(id: &str, bundle: &Path) {
    let Ok(text) = std::fs::read_to_string(bundle.join("shim.log")) else {
        return;
    };
    for line in text.lines().filter(|l| l.contains(" trace pid=")) {
        tracing::debug!(target: "berth_shim", container = %id, "{line}");
    }
}
