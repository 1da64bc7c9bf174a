//! Running a project: the planner and convergence of Compose v2 (`pkg/compose`), driving the
//! daemon through berth-client only.
//!
//! - [`labels`]: the labels and names compose gives containers, networks and volumes;
//! - [`hash`]: the config hash that decides whether a container is recreated;
//! - [`graph`]: dependency order, with independent services visited concurrently;
//! - [`spec`]: a service's `/containers/create` body;
//! - [`up`], [`down`]: the convergence and the teardown; [`state`]: reading a project back;
//! - [`inject`]: `environment`/`content` secrets and configs written at start; [`hooks`]:
//!   `post_start`/`pre_stop` execs and `restart`'s `depends_on.restart` selection.

pub mod down;
pub mod graph;
pub mod hash;
pub mod hooks;
pub mod inject;
pub mod labels;
pub mod progress;
pub mod spec;
pub mod spec_keys;
pub mod state;
pub mod up;
pub mod watch;

use berth_client::{Client, ClientError};

pub use progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Msg(String),
    /// A container the user waited on exited with this code (`--exit-code-from`, `run`).
    #[error("")]
    Exit(i64),
}

impl EngineError {
    pub fn msg(s: impl Into<String>) -> Self {
        EngineError::Msg(s.into())
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// What every operation needs: the client and the progress printer.
pub struct Engine {
    pub client: Client,
    pub progress: Progress,
    /// Where hook output goes (attached `up`): the hook's container short name + ` ->`, and
    /// the text; without it hooks run detached, as compose's `up -d`.
    pub hook_sink: Option<hooks::HookSink>,
}

impl Engine {
    pub fn new(client: Client, quiet: bool) -> Self {
        Engine {
            client,
            progress: Progress::new(quiet),
            hook_sink: None,
        }
    }
}

/// The daemon's message of an API error (what compose prints), else the error itself.
pub fn api_message(e: &ClientError) -> String {
    e.daemon_message()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}
