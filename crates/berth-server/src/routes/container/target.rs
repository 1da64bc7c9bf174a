//! What a handler of `/containers/{id}/...` or `/exec/{id}/...` starts from, as moby's
//! container router hands each of its handlers the request's variables: the daemon and the id
//! in the path.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::response::{IntoResponse, Response};
use berth_daemon::Daemon;
use http::request::Parts;

/// The daemon and the id named in the path (a container's, or an exec instance's).
pub(super) struct Target {
    pub d: Arc<Daemon>,
    pub id: String,
}

impl FromRequestParts<Arc<Daemon>> for Target {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &Arc<Daemon>) -> Result<Self, Response> {
        let Path(id) = Path::<String>::from_request_parts(parts, d)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            d: Arc::clone(d),
            id,
        })
    }
}
