//! One router per resource, merged into the API.

pub mod auth;
pub mod build;
pub mod container;
pub mod distribution;
pub mod images;
pub mod networks;
pub mod plugins;
pub mod swarm;
pub mod system;
pub mod volumes;

use std::sync::Arc;

use axum::Router;
use berth_daemon::Daemon;

/// Every route, unversioned (the version middleware strips `/v1.NN` before routing).
pub fn all() -> Router<Arc<Daemon>> {
    Router::new()
        .merge(system::routes())
        .merge(container::routes())
        .merge(images::routes())
        .merge(networks::routes())
        .merge(volumes::routes())
        .merge(build::routes())
        .merge(auth::routes())
        .merge(distribution::routes())
        .merge(swarm::routes())
        .merge(plugins::routes())
}
