//! `docker image prune` (`POST /images/prune`), as dockerd's `ImagePrune`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use berth_api::models::ImageDeleteResponseItem;
use berth_api::Filters;

use crate::config::unix_seconds;
use crate::error::ImageError;
use crate::filtering::{bool_or_default, match_prune_labels, until};
use crate::records;
use crate::remove::ImageUser;
use crate::service::ImageService;

const PRUNE_FILTERS: &[&str] = &["dangling", "label", "label!", "until"];

/// `ImagesDeleted` and `SpaceReclaimed` of dockerd's answer.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub images_deleted: Vec<ImageDeleteResponseItem>,
    /// Unpacked bytes of the layers removed.
    pub space_reclaimed: u64,
    /// Ids of the images deleted (the other `Deleted` entries are layers).
    pub deleted_images: Vec<String>,
}

/// Clears the "prune running" flag however the prune ends.
struct Running<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl ImageService {
    /// Removes unused images: by default the dangling ones (no tag); with `dangling=false`
    /// every image no container uses. `until`, `label` and `label!` narrow the choice. Images
    /// that a container uses, or that have children, stay (their conflicts are not errors).
    pub fn prune(
        &self,
        filters: &Filters,
        users: &dyn Fn(&str) -> Vec<ImageUser>,
    ) -> Result<PruneReport, ImageError> {
        if self
            .prune_running
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(ImageError::PruneRunning);
        }
        let _running = Running(&self.prune_running);
        filters
            .validate(PRUNE_FILTERS)
            .map_err(ImageError::Invalid)?;
        let dangling_only = bool_or_default(filters, "dangling", true)?;
        let until = until(filters, chrono::Utc::now().timestamp())?;
        let sizes = records::layer_sizes(&self.db)?;

        let mut candidates = Vec::new();
        for row in records::images_in(&self.db, &self.ns)? {
            let refs = records::refs_of(&self.db, &self.ns, &row.id)?;
            let has_children = !records::children_of(&self.db, &row.id)?.is_empty();
            // Intermediate images go with their children; heads only when dangling-only.
            if has_children && (dangling_only || refs.is_empty()) {
                continue;
            }
            let config = match self.read_config(&row.id) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(image = %row.id, error = %e, "prune: skipping unreadable image");
                    continue;
                }
            };
            if let Some(until) = until {
                if config.created.is_none() || unix_seconds(config.created.as_deref()) > until {
                    continue;
                }
            }
            let labels: HashMap<String, String> = config
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect();
            if !match_prune_labels(filters, &labels) {
                continue;
            }
            candidates.push((row.id, refs));
        }

        let mut report = PruneReport::default();
        for (id, refs) in candidates {
            let names: Vec<String> = if refs.is_empty() {
                vec![id.trim_start_matches("sha256:").to_string()]
            } else if !dangling_only || refs.iter().all(|(_, is_digest)| *is_digest) {
                refs.into_iter().map(|(n, _)| n).collect()
            } else {
                continue;
            };
            for name in names {
                match self.remove(&name, false, false, users) {
                    Ok(items) => {
                        if let Some(image) = items.iter().find_map(|i| i.deleted.clone()) {
                            report.deleted_images.push(image);
                        }
                        report.images_deleted.extend(items);
                    }
                    Err(ImageError::Conflict(_)) | Err(ImageError::NotFound(_)) => {}
                    Err(e) => tracing::warn!(image = %name, error = %e, "failed to prune image"),
                }
            }
        }
        report.space_reclaimed = report
            .images_deleted
            .iter()
            .filter_map(|d| d.deleted.as_ref())
            .filter_map(|d| sizes.get(d))
            .map(|s| *s as u64)
            .sum();
        Ok(report)
    }
}
