//! A container's disk sizes as `ps -s` and `inspect --size` show them: the writable layer
//! (`SizeRw`) and the whole root filesystem, image included (`SizeRootFs`).

use crate::container::record::Container;
use crate::daemon::Daemon;

impl Daemon {
    /// `(SizeRw, SizeRootFs)`; a part that cannot be measured counts as 0.
    pub(crate) async fn container_sizes(&self, c: &Container) -> (i64, i64) {
        let svc = self.images.service();
        let id = c.id.clone();
        let image_id = c.image_id.clone();
        tokio::task::spawn_blocking(move || {
            let rw = svc
                .snapshot_paths(&id)
                .ok()
                .and_then(|p| berth_snapshot::dir_size(&p.upper).ok())
                .unwrap_or(0) as i64;
            let image = svc
                .inspect(&image_id)
                .ok()
                .and_then(|i| i.size)
                .unwrap_or(0);
            (rw, rw + image)
        })
        .await
        .unwrap_or((0, 0))
    }
}
