//! One router per resource, merged into the API.

pub mod archive;
pub mod containers;
pub mod exec;
pub mod images;
pub mod system;
pub mod volumes;

use std::sync::Arc;

use axum::Router;
use berth_daemon::Daemon;

/// Every route, unversioned (the version middleware strips `/v1.NN` before routing).
pub fn all() -> Router<Arc<Daemon>> {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(images::routes())
        .merge(exec::routes())
        .merge(archive::routes())
        .merge(volumes::routes())
}
