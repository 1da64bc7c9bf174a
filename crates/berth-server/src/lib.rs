//! The Docker Engine API over HTTP on a unix socket: one router per resource, the `/v1.NN`
//! middleware, hijacked attach/exec streams, and the single error-to-status mapping.

pub mod body;
pub mod error;
pub mod hijack;
pub mod query;
pub mod routes;
mod serve;
pub mod stopping;
pub mod version;
pub mod websocket;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use berth_daemon::Daemon;
use tower::Service;

pub use serve::{serve, serve_service, SHUTDOWN_GRACE};

/// Wraps `router` in what every request goes through: unknown routes and methods answer
/// dockerd's 404, and the version middleware runs before routing.
pub fn with_api_layers(
    router: Router,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
       + Clone
       + Send
       + 'static {
    let router = router
        .fallback(error::page_not_found)
        .method_not_allowed_fallback(error::page_not_found);
    tower::Layer::layer(&axum::middleware::from_fn(version::middleware), router)
}

/// The whole API over `daemon`.
pub fn app(
    daemon: Arc<Daemon>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
       + Clone
       + Send
       + 'static {
    with_api_layers(routes::all().with_state(daemon))
}
