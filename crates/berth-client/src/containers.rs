//! `/containers/...` endpoints.

use berth_api::models::{
    ContainerCreateResponse, ContainerSummary, ContainerTopResponse, ContainerWaitResponse,
};
use berth_api::{ContainerCreateBody, Filters};
use bytes::Bytes;
use hyper::body::Incoming;

use crate::body::{self, BodyReader};
use crate::client::{escape_segment as esc, Client, Query};
use crate::error::{ClientError, Result};
use crate::hijack::HijackedStream;

/// `GET /containers/json` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub size: bool,
    pub limit: Option<i64>,
    pub filters: Filters,
}

/// `GET /containers/{id}/logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<String>,
    pub until: Option<String>,
    pub timestamps: bool,
    pub tail: Option<String>,
    pub details: bool,
}

/// `POST /containers/{id}/attach` options.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stream: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub logs: bool,
    pub detach_keys: Option<String>,
}

/// A `wait` whose response headers have arrived: the daemon is now watching the container,
/// so starting it cannot race the exit.
pub struct WaitHandle {
    body: Incoming,
}

impl WaitHandle {
    /// Blocks until the container reaches the condition.
    pub async fn result(self) -> Result<ContainerWaitResponse> {
        let raw = body::collect(self.body).await?;
        if raw.is_empty() {
            return Err(ClientError::Protocol("wait: empty response".into()));
        }
        Ok(serde_json::from_slice(&raw)?)
    }
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

impl Client {
    pub async fn container_create(
        &self,
        body: &ContainerCreateBody,
        name: Option<&str>,
        platform: Option<&str>,
    ) -> Result<ContainerCreateResponse> {
        let mut q: Query = Vec::new();
        if let Some(n) = name {
            q.push(("name", n.to_string()));
        }
        if let Some(p) = platform {
            q.push(("platform", p.to_string()));
        }
        self.post_json("/containers/create", &q, body).await
    }

    pub async fn container_start(&self, id: &str, detach_keys: Option<&str>) -> Result<()> {
        let mut q: Query = Vec::new();
        if let Some(k) = detach_keys {
            q.push(("detachKeys", k.to_string()));
        }
        self.post_empty(&format!("/containers/{}/start", esc(id)), &q)
            .await
    }

    fn stop_query(signal: Option<&str>, timeout: Option<i64>) -> Query<'static> {
        let mut q: Query = Vec::new();
        if let Some(s) = signal {
            q.push(("signal", s.to_string()));
        }
        if let Some(t) = timeout {
            q.push(("t", t.to_string()));
        }
        q
    }

    pub async fn container_stop(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.post_empty(
            &format!("/containers/{}/stop", esc(id)),
            &Self::stop_query(signal, timeout),
        )
        .await
    }

    pub async fn container_restart(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.post_empty(
            &format!("/containers/{}/restart", esc(id)),
            &Self::stop_query(signal, timeout),
        )
        .await
    }

    pub async fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let mut q: Query = Vec::new();
        if let Some(s) = signal {
            q.push(("signal", s.to_string()));
        }
        self.post_empty(&format!("/containers/{}/kill", esc(id)), &q)
            .await
    }

    pub async fn container_remove(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
        link: bool,
    ) -> Result<()> {
        let q: Query = vec![
            ("force", flag(force)),
            ("v", flag(volumes)),
            ("link", flag(link)),
        ];
        self.delete(&format!("/containers/{}", esc(id)), &q)
            .await
            .map(|_| ())
    }

    pub async fn container_list(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let mut q: Query = Vec::new();
        if opts.all {
            q.push(("all", "1".into()));
        }
        if opts.size {
            q.push(("size", "1".into()));
        }
        if let Some(l) = opts.limit {
            q.push(("limit", l.to_string()));
        }
        if !opts.filters.is_empty() {
            q.push(("filters", opts.filters.to_json()));
        }
        self.get_json("/containers/json", &q).await
    }

    /// The daemon's JSON as sent (field order kept for `inspect`).
    pub async fn container_inspect_raw(&self, id: &str, size: bool) -> Result<Bytes> {
        let q: Query = if size {
            vec![("size", "1".into())]
        } else {
            Vec::new()
        };
        self.get_raw(&format!("/containers/{}/json", esc(id)), &q)
            .await
    }

    /// The inspect document as JSON.
    pub async fn container_inspect(&self, id: &str) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(
            &self.container_inspect_raw(id, false).await?,
        )?)
    }

    pub async fn container_top(
        &self,
        id: &str,
        ps_args: Option<&str>,
    ) -> Result<ContainerTopResponse> {
        let q: Query = ps_args
            .map(|a| vec![("ps_args", a.to_string())])
            .unwrap_or_default();
        self.get_json(&format!("/containers/{}/top", esc(id)), &q)
            .await
    }

    pub async fn container_rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.post_empty(
            &format!("/containers/{}/rename", esc(id)),
            &vec![("name", new_name.to_string())],
        )
        .await
    }

    /// Starts a wait; returns once the daemon has accepted it.
    pub async fn container_wait(&self, id: &str, condition: Option<&str>) -> Result<WaitHandle> {
        let q: Query = condition
            .map(|c| vec![("condition", c.to_string())])
            .unwrap_or_default();
        let resp = self
            .post(&format!("/containers/{}/wait", esc(id)), &q)
            .await?;
        Ok(WaitHandle {
            body: resp.into_body(),
        })
    }

    /// The log stream: stdcopy-framed unless the container has a TTY.
    pub async fn container_logs(&self, id: &str, opts: &LogsOptions) -> Result<BodyReader> {
        let mut q: Query = vec![("stdout", flag(opts.stdout)), ("stderr", flag(opts.stderr))];
        if opts.follow {
            q.push(("follow", "1".into()));
        }
        if opts.timestamps {
            q.push(("timestamps", "1".into()));
        }
        if opts.details {
            q.push(("details", "1".into()));
        }
        if let Some(s) = &opts.since {
            q.push(("since", s.clone()));
        }
        if let Some(u) = &opts.until {
            q.push(("until", u.clone()));
        }
        if let Some(t) = &opts.tail {
            q.push(("tail", t.clone()));
        }
        let resp = self
            .get(&format!("/containers/{}/logs", esc(id)), &q)
            .await?;
        Ok(BodyReader::new(resp.into_body()))
    }

    pub async fn container_attach(&self, id: &str, opts: &AttachOptions) -> Result<HijackedStream> {
        let mut q: Query = vec![
            ("stream", flag(opts.stream)),
            ("stdin", flag(opts.stdin)),
            ("stdout", flag(opts.stdout)),
            ("stderr", flag(opts.stderr)),
        ];
        if opts.logs {
            q.push(("logs", "1".into()));
        }
        if let Some(k) = &opts.detach_keys {
            q.push(("detachKeys", k.clone()));
        }
        self.hijack(&format!("/containers/{}/attach", esc(id)), &q, None)
            .await
    }

    pub async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let q: Query = vec![("h", height.to_string()), ("w", width.to_string())];
        self.post_empty(&format!("/containers/{}/resize", esc(id)), &q)
            .await
    }
}
