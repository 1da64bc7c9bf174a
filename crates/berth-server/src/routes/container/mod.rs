//! `/containers/*`, `/exec/*` and `POST /commit`: one route table (as moby's
//! `api/server/router/container/container.go`), the handlers beside it, one file per group.

mod archive;
mod exec;
mod lifecycle;
mod pause;
mod prune;
mod stats;
mod target;
mod update;

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;
use berth_daemon::Daemon;

/// Every container route.
pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/containers/create", post(lifecycle::create))
        .route("/containers/json", get(lifecycle::list))
        .route("/containers/{id}/json", get(lifecycle::inspect))
        .route("/containers/{id}/start", post(lifecycle::start))
        .route("/containers/{id}/stop", post(lifecycle::stop))
        .route("/containers/{id}/restart", post(lifecycle::restart))
        .route("/containers/{id}/kill", post(lifecycle::kill))
        .route("/containers/{id}/wait", post(lifecycle::wait))
        .route("/containers/{id}", delete(lifecycle::remove))
        .route(
            "/containers/{parent}/{alias}",
            delete(lifecycle::remove_by_link_name),
        )
        .route("/containers/{id}/logs", get(lifecycle::logs))
        .route("/containers/{id}/attach", post(lifecycle::attach))
        .route("/containers/{id}/attach/ws", get(lifecycle::attach_ws))
        .route("/containers/{id}/resize", post(lifecycle::resize))
        .route("/containers/{id}/rename", post(lifecycle::rename))
        .route("/containers/{id}/top", get(lifecycle::top))
        .route("/containers/{id}/export", get(archive::export))
        .route("/containers/{id}/changes", get(archive::changes))
        .route(
            "/containers/{id}/archive",
            get(archive::get_archive)
                .head(archive::head_archive)
                .put(archive::put_archive),
        )
        .route("/commit", post(archive::commit))
        .route("/containers/prune", post(prune::prune))
        .route("/containers/{id}/update", post(update::update))
        .route("/containers/{id}/pause", post(pause::pause))
        .route("/containers/{id}/unpause", post(pause::unpause))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/exec/{id}/resize", post(exec::resize))
}
