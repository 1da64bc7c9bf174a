//! `POST /build`: dockerd's classic builder. The Dockerfile is parsed, the stages the target
//! needs are planned, and each instruction becomes an image: RUN in a real container whose
//! changes are committed, COPY/ADD/WORKDIR through a scratch snapshot, the rest as a config
//! change. Every step's key (parent image + instruction after expansion + sources) is looked
//! up in the build cache first. Output is dockerd's JSON message stream.

mod cache_from;
mod context;
mod copy;
mod instructions;
mod mounts;
mod plan;
mod platform;
mod remote;
mod run;
pub mod secrets;
mod snapshot;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use berth_types::{Error, Reference, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use context::BuildContext;

use crate::daemon::Daemon;

/// What `POST /build` asks for.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context (`Dockerfile` when empty).
    pub dockerfile: String,
    pub quiet: bool,
    pub no_cache: bool,
    /// Build args; `None`: take the value from the environment of the client (already
    /// resolved by the CLI) — unset here.
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub network_mode: Option<String>,
    /// `extrahosts` (`host:ip` each): added to every RUN container's `/etc/hosts`.
    pub extra_hosts: Vec<String>,
    /// Remove intermediate containers after a failure too (always done; kept for the API).
    pub force_remove: bool,
    /// Pull every base image, even one present locally (`--pull`).
    pub pull: bool,
    /// Local images whose layers may stand in for steps (`--cache-from`).
    pub cache_from: Vec<String>,
    /// Credentials by registry host (`X-Registry-Config`), for pulling base images.
    pub registry_auths: BTreeMap<String, berth_distribution::Credentials>,
    /// `--platform`: only the host's can be built (no emulation).
    pub platform: Option<String>,
    /// Secrets for `RUN --mount=type=secret` (berth's side channel, never in the image).
    pub secrets: secrets::Secrets,
}

/// One message of the build stream.
pub type Message = serde_json::Value;

/// dockerd's `{"errorDetail":{"code":N,"message":...},"error":...}` (no `code` when the error
/// has none).
fn error_message(message: &str, code: Option<i64>) -> Message {
    let mut detail = serde_json::Map::new();
    if let Some(code) = code {
        detail.insert("code".into(), json!(code));
    }
    detail.insert("message".into(), json!(message));
    json!({ "errorDetail": detail, "error": message })
}

/// Sends build output; a closed channel (client gone) makes every later send a no-op.
#[derive(Clone)]
pub(crate) struct Out {
    tx: mpsc::Sender<Message>,
    quiet: bool,
    /// Set when the build stops early (a stage failed or the client left): every stage
    /// stops at its next step.
    cancel: CancellationToken,
    /// The `errorDetail.code` of error messages that have one (a RUN's exit code), by
    /// message: the error that ends the build is reported with its own code.
    codes: Arc<std::sync::Mutex<BTreeMap<String, i64>>>,
}

/// Messages a stage may queue while an earlier stage's output is still being shown.
const STAGE_BACKLOG: usize = 4096;

impl Out {
    fn new(tx: mpsc::Sender<Message>, quiet: bool) -> Self {
        Self {
            tx,
            quiet,
            cancel: CancellationToken::new(),
            codes: Arc::default(),
        }
    }

    /// An output of its own for a stage that may run beside others; its messages are
    /// forwarded from the returned receiver in stage order.
    pub(crate) fn for_stage(&self) -> (Out, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(STAGE_BACKLOG);
        let out = Out {
            tx,
            quiet: self.quiet,
            cancel: self.cancel.clone(),
            codes: self.codes.clone(),
        };
        (out, rx)
    }

    /// Forwards a stage's messages until the stage is done. A departed client cancels
    /// the build (the stage's messages are then drained and dropped).
    pub(crate) async fn forward(&self, mut from: mpsc::Receiver<Message>) {
        loop {
            tokio::select! {
                msg = from.recv() => match msg {
                    Some(msg) => {
                        if self.tx.send(msg).await.is_err() {
                            self.cancel();
                        }
                    }
                    None => return,
                },
                () = self.tx.closed(), if !self.cancel.is_cancelled() => self.cancel(),
            }
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Fires when the build is cancelled; RUN containers are killed on it.
    pub(crate) fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub(crate) async fn stream(&self, text: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(json!({ "stream": text.into() })).await;
        }
    }

    pub(crate) async fn always(&self, msg: Message) {
        let _ = self.tx.send(msg).await;
    }

    /// Records that the error `message` carries `code` (dockerd's `errorDetail.code`).
    pub(crate) fn error_code(&self, message: &str, code: i64) {
        if let Ok(mut codes) = self.codes.lock() {
            codes.insert(message.to_string(), code);
        }
    }

    /// The message that ends the build: dockerd's error line, with the code recorded for it.
    pub(crate) fn error_message(&self, message: &str) -> Message {
        let code = self
            .codes
            .lock()
            .ok()
            .and_then(|codes| codes.get(message).copied());
        error_message(message, code)
    }

    pub(crate) fn gone(&self) -> bool {
        self.tx.is_closed() || self.cancel.is_cancelled()
    }
}

/// How much of the body a build refused before reading its context still takes in.
const EARLY_DRAIN: usize = 256 * 1024;

/// Reads and drops up to `limit` bytes of `body` (less if it ends or stalls for a second).
async fn drain(mut body: BoxStream<'static, io::Result<Bytes>>, limit: usize) {
    let mut seen = 0;
    while seen < limit {
        match tokio::time::timeout(std::time::Duration::from_secs(1), body.try_next()).await {
            Ok(Ok(Some(chunk))) => seen += chunk.len(),
            _ => return,
        }
    }
}

impl Daemon {
    /// Reads the context and plans the build; errors here are the request's (HTTP) errors.
    /// The build itself runs in the background, sending its output to the returned stream.
    pub async fn image_build(
        self: &Arc<Self>,
        req: BuildRequest,
        body: BoxStream<'static, io::Result<Bytes>>,
    ) -> Result<mpsc::Receiver<Message>> {
        let dockerfile_name = if req.dockerfile.is_empty() {
            "Dockerfile".to_string()
        } else {
            req.dockerfile.clone()
        };
        // dockerd's `sanitizeRepoAndTags`, and the platform, before the context is read.
        let early = req
            .tags
            .iter()
            .try_for_each(|t| {
                if Reference::parse(t)?.digest.is_some() {
                    return Err(Error::invalid("build tag cannot contain a digest"));
                }
                Ok(())
            })
            .and_then(|()| platform::target(req.platform.as_deref()).map(drop));
        if let Err(e) = early {
            // Refused before the context is read: take in some of it first, as Go's HTTP
            // server drains up to 256 KiB of an unread body, so a client still sending a
            // small context reads the answer instead of a broken pipe.
            drain(body, EARLY_DRAIN).await;
            return Err(e);
        }
        let tmp = self.config.data_root.join("tmp");
        let reader = tokio_util::io::StreamReader::new(body.map_err(io::Error::other));
        let sync = tokio_util::io::SyncIoBridge::new(reader);
        let df_name = dockerfile_name.clone();
        let mut ctx =
            tokio::task::spawn_blocking(move || BuildContext::from_tar(sync, &tmp, &df_name))
                .await
                .map_err(|e| Error::internal(format!("build context task: {e}")))??;
        let text = ctx.read_regular(&dockerfile_name)?.ok_or_else(|| {
            Error::invalid(format!(
                "Cannot locate specified Dockerfile: {dockerfile_name}"
            ))
        })?;
        ctx.remove_dockerfile(&dockerfile_name)?;
        let text = String::from_utf8_lossy(&text).into_owned();
        let parsed = berth_dockerfile::parse(&dockerfile_name, &text)
            .map_err(|e| Error::invalid(e.moby_message()))?;
        let plan = plan::Plan::new(&parsed, &req)?;

        let (tx, rx) = mpsc::channel(256);
        let out = Out::new(tx, req.quiet);
        let me = self.clone();
        tokio::spawn(async move {
            let result = run::Build::new(me, Arc::new(ctx), parsed.escape, req, out.clone())
                .run(plan)
                .await;
            if let Err(e) = result {
                out.always(out.error_message(&e.message)).await;
            }
        });
        Ok(rx)
    }

    /// `POST /build/prune`: drops build cache entries and the images only they kept.
    pub async fn build_prune(
        &self,
        all: bool,
        until: Option<String>,
    ) -> Result<(Vec<String>, u64)> {
        let until = until
            .map(|v| berth_image::parse_timestamp(&v, chrono::Utc::now().timestamp()))
            .transpose()
            .map_err(Error::invalid)?;
        let svc = self.images.service();
        let users = self.image_users();
        let report = tokio::task::spawn_blocking(move || {
            svc.cache_prune(all, until, &|id: &str| {
                users.get(id).cloned().unwrap_or_default()
            })
        })
        .await
        .map_err(|e| Error::internal(format!("build prune task: {e}")))??;
        self.events.emit(
            crate::system::events::Kind::Builder,
            "prune",
            "",
            std::collections::HashMap::from([(
                "reclaimed".to_string(),
                report.space_reclaimed.to_string(),
            )]),
        );
        Ok((report.caches_deleted, report.space_reclaimed))
    }

    /// The build cache entries, for `system df`.
    pub async fn build_cache_entries(&self) -> Result<Vec<berth_image::CacheEntry>> {
        let svc = self.images.service();
        Ok(tokio::task::spawn_blocking(move || svc.cache_entries())
            .await
            .map_err(|e| Error::internal(format!("build cache task: {e}")))??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_carry_a_code_only_when_there_is_one() {
        let m = "The command '/bin/sh -c exit 1' returned a non-zero code: 1";
        assert_eq!(
            error_message(m, Some(1)),
            json!({"errorDetail": {"code": 1, "message": m}, "error": m})
        );
        assert_eq!(
            error_message("network x not found", None),
            json!({"errorDetail": {"message": "network x not found"}, "error": "network x not found"})
        );
    }
}
