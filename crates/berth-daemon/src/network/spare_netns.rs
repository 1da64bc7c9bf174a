//! One network namespace made ahead of the next container's start: the kernel's work for a
//! new namespace (about 1 ms of CPU here) then runs off the start's path, as the spare shim's
//! exec does (`runtime::shim_spare`). The spare is held by a descriptor only, so nothing is
//! left pinned when berthd exits; each start takes it fresh and a new one is made after it.
//! A container never gets a namespace another one used.

use std::path::Path;
use std::sync::Mutex;

use berth_network::netns::Prepared;

static SPARE: Mutex<Option<Prepared>> = Mutex::new(None);

/// Pins a new network namespace at `path`: the spare when there is one, else one made now.
/// Blocking (call from a blocking thread).
pub(crate) fn pin_new(path: &Path) -> Result<(), berth_network::NetworkError> {
    let taken = SPARE.lock().unwrap_or_else(|e| e.into_inner()).take();
    match taken {
        Some(ns) => ns.pin(path),
        None => Prepared::new()?.pin(path),
    }
}

/// Makes the next spare in a blocking thread, unless one is waiting.
pub(crate) fn replenish() {
    if waiting() {
        return;
    }
    tokio::task::spawn_blocking(|| {
        if waiting() {
            return;
        }
        match Prepared::new() {
            Ok(ns) => {
                let mut slot = SPARE.lock().unwrap_or_else(|e| e.into_inner());
                // Two starts may have raced here: the second namespace is dropped.
                if slot.is_none() {
                    *slot = Some(ns);
                }
            }
            Err(e) => tracing::warn!("cannot make a spare network namespace: {e}"),
        }
    });
}

fn waiting() -> bool {
    SPARE.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}
