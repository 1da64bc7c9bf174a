//! One router per resource, merged into the API.

pub mod archive;
pub mod auth;
pub mod build;
pub mod container_prune;
pub mod container_update;
pub mod containers;
pub mod distribution;
pub mod exec;
pub mod images;
pub mod networks;
pub mod pause;
pub mod plugins;
pub mod stats;
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
        .merge(containers::routes())
        .merge(images::routes())
        .merge(networks::routes())
        .merge(exec::routes())
        .merge(archive::routes())
        .merge(stats::routes())
        .merge(pause::routes())
        .merge(container_prune::routes())
        .merge(container_update::routes())
        .merge(volumes::routes())
        .merge(build::routes())
        .merge(auth::routes())
        .merge(distribution::routes())
        .merge(swarm::routes())
        .merge(plugins::routes())
}
