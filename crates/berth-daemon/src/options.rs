//! Request options in domain terms (already parsed from query strings by the server).

use berth_api::Filters;

/// `GET /containers/json`
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    /// Show only the last `limit` created containers (any state); `None` or <= 0: no limit.
    pub limit: Option<i64>,
    pub size: bool,
    pub filters: Filters,
}

/// `GET /containers/{id}/logs`
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Only the last N lines; `None`: all.
    pub tail: Option<usize>,
    /// Unix seconds (fractional), inclusive.
    pub since: Option<f64>,
    /// Unix seconds (fractional), exclusive.
    pub until: Option<f64>,
    pub timestamps: bool,
}

/// `POST /containers/{id}/attach`
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stream: bool,
    pub logs: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// `ctrl-p,ctrl-q` style key sequence; `None`: the default ctrl-p,ctrl-q.
    pub detach_keys: Option<String>,
}

/// `POST /containers/{id}/wait?condition=`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// Wait for the container to be stopped, returning at once if it is not running.
    #[default]
    NotRunning,
    /// Wait for the next exit, even if the container is not running now.
    NextExit,
    /// Wait until the container is removed.
    Removed,
}

/// `POST /images/create?fromSrc=-`
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo` parameter (may carry a tag).
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV A=b`, ...).
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<String>,
}

/// `GET /events`
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    /// Unix seconds (fractional).
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub filters: Filters,
}

/// `DELETE /containers/{id}`
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    pub force: bool,
    pub volumes: bool,
    pub link: bool,
}

/// `DELETE /images/{name}`
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageRemoveOptions {
    pub force: bool,
    pub noprune: bool,
}
