//! `POST /containers/prune`: removes every stopped container, narrowed by `until` and
//! `label`/`label!`, as dockerd's `ContainersPrune`.

use std::collections::HashMap;

use berth_api::models::ContainerPruneResponse;
use berth_api::Filters;
use berth_types::{Error, Result};

use crate::daemon::Daemon;
use crate::system::events::Kind;

const PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

/// The `until` filter as unix seconds, with dockerd's errors.
pub(crate) fn until(filters: &Filters) -> Result<Option<i64>> {
    match filters.get("until") {
        [] => Ok(None),
        [v] => berth_image::parse_timestamp(v, chrono::Utc::now().timestamp())
            .map(Some)
            .map_err(|e| Error::invalid(format!("invalid value for 'until' filter: {e}"))),
        _ => Err(Error::invalid("more than one until filter specified")),
    }
}

impl Daemon {
    pub async fn container_prune(&self, filters: &Filters) -> Result<ContainerPruneResponse> {
        filters.validate(PRUNE_FILTERS).map_err(Error::invalid)?;
        let until = until(filters)?;
        let mut deleted = Vec::new();
        let mut reclaimed: i64 = 0;
        for ctr in self.all() {
            let c = ctr.snapshot();
            if c.state.running() {
                continue;
            }
            if let Some(until) = until {
                let created = chrono::DateTime::parse_from_rfc3339(&c.created)
                    .map(|t| t.timestamp())
                    .unwrap_or(0);
                if created >= until {
                    continue;
                }
            }
            let labels = c.config.labels.clone().unwrap_or_default();
            if !berth_image::match_prune_labels(filters, &labels) {
                continue;
            }
            let (rw, _) = self.container_sizes(&c).await;
            let _op = ctr.op.lock().await;
            // It may have been started, or removed, while we waited for the lock.
            if ctr.snapshot().state.running() {
                continue;
            }
            match self.remove_locked(&ctr).await {
                Ok(()) => {
                    deleted.push(c.id.clone());
                    reclaimed += rw;
                }
                Err(e) => tracing::warn!(container = %c.id, error = %e, "prune: removing"),
            }
        }
        let mut attrs = HashMap::new();
        attrs.insert("reclaimed".to_string(), reclaimed.to_string());
        self.events.emit(Kind::Container, "prune", "", attrs);
        Ok(ContainerPruneResponse {
            containers_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: Some(reclaimed),
        })
    }
}
