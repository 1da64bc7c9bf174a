//! Filters the prune endpoints share (containers, networks, images, volumes).

use berth_api::Filters;
use berth_types::{Error, Result};

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
