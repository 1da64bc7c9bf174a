//! `POST /auth`: `docker login` asks the daemon to check credentials against a registry.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_daemon::distribution::Credentials;
use berth_daemon::Daemon;
use http::StatusCode;
use serde::Deserialize;

use crate::body::{json_response, RequiredJson};
use crate::error::ApiError;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new().route("/auth", post(auth))
}

/// dockerd's `registry.AuthConfig`.
#[derive(Debug, Default, Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    serveraddress: String,
    #[serde(default)]
    identitytoken: String,
}

async fn auth(
    State(d): State<Arc<Daemon>>,
    RequiredJson(body): RequiredJson<AuthConfig>,
) -> Result<Response, ApiError> {
    let creds = Credentials {
        username: body.username,
        password: body.password,
        identity_token: body.identitytoken,
    };
    d.registry_login(&body.serveraddress, creds).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
    ))
}
