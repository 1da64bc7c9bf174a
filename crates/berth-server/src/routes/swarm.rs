//! Swarm-mode endpoints. berthd is never part of a swarm, so it answers them as dockerd
//! answers on a node outside one: 503 with dockerd's words (clients such as docker-py and
//! `docker info`-driven tooling probe these and expect exactly that). Creating or joining a
//! swarm is not something berth does: 501.

use std::sync::Arc;

use axum::routing::{any, get, post};
use axum::Router;
use berth_daemon::Daemon;
use berth_types::{Error, ErrorKind};

use crate::error::ApiError;

/// dockerd's `errNoManager` for a node that has no swarm.
pub const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// dockerd's `errNoSwarm`.
pub const NOT_IN_A_SWARM: &str = "This node is not part of a swarm";

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/swarm", get(not_a_manager))
        .route("/swarm/unlockkey", get(not_a_manager))
        .route("/swarm/update", post(not_a_manager))
        .route("/swarm/unlock", post(not_a_manager))
        .route("/swarm/leave", post(not_in_a_swarm))
        .route("/swarm/init", post(no_swarm_mode))
        .route("/swarm/join", post(no_swarm_mode))
        // Every method on the cluster's objects, as dockerd's routers for them.
        .route("/nodes", any(not_a_manager))
        .route("/nodes/{*rest}", any(not_a_manager))
        .route("/services", any(not_a_manager))
        .route("/services/{*rest}", any(not_a_manager))
        .route("/tasks", any(not_a_manager))
        .route("/tasks/{*rest}", any(not_a_manager))
        .route("/secrets", any(not_a_manager))
        .route("/secrets/{*rest}", any(not_a_manager))
        .route("/configs", any(not_a_manager))
        .route("/configs/{*rest}", any(not_a_manager))
}

async fn not_a_manager(body: axum::body::Body) -> ApiError {
    crate::body::drain_unread(body).await;
    ApiError(Error::new(ErrorKind::Unavailable, NOT_A_MANAGER))
}

async fn not_in_a_swarm(body: axum::body::Body) -> ApiError {
    crate::body::drain_unread(body).await;
    ApiError(Error::new(ErrorKind::Unavailable, NOT_IN_A_SWARM))
}

async fn no_swarm_mode(body: axum::body::Body) -> ApiError {
    crate::body::drain_unread(body).await;
    ApiError(Error::new(
        ErrorKind::NotImplemented,
        "berthd does not support swarm mode",
    ))
}
