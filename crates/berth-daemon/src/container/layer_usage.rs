//! A container's writable layer as the CRI reports it (`ContainerStats.writable_layer`, the
//! `container_fs_*` metrics): the blocks and inodes of its upper directory, as containerd's
//! overlay snapshotter measures a snapshot's usage.

use std::time::SystemTime;

use berth_types::{Error, Result};

use crate::daemon::Daemon;
use crate::image::fs_usage::FsUsage;

impl Daemon {
    /// The usage of the writable layer (upper directory) of the container `key`.
    pub async fn container_writable_layer(&self, key: &str) -> Result<FsUsage> {
        let id = self.lookup(key)?.snapshot().id.clone();
        let svc = self.images.service();
        tokio::task::spawn_blocking(move || {
            let paths = svc
                .snapshot_paths(&id)
                .map_err(|e| Error::internal(format!("container {id} has no layer: {e}")))?;
            let u = berth_snapshot::dir_usage(&paths.upper).map_err(|e| {
                Error::internal(format!("measuring {}: {e}", paths.upper.display()))
            })?;
            Ok(FsUsage {
                path: paths.upper,
                timestamp: SystemTime::now(),
                used_bytes: u.bytes,
                inodes_used: u.inodes,
            })
        })
        .await
        .map_err(|e| Error::internal(format!("layer usage task: {e}")))?
    }
}
