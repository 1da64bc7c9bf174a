//! The Daemon facade: one method per API operation.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use berth_api::models;
use berth_api::ContainerCreateBody;
use berth_types::Result;
use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::options::*;

/// Everything berthd's flags and daemon.json decide.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The `berth-shim` binary.
    pub shim_binary: PathBuf,
    /// The static `berth-init` binary for `--init`.
    pub init_binary: Option<PathBuf>,
    /// `--default-runtime`; "berth" is the embedded runtime.
    pub default_runtime: String,
    /// daemon.json `runtimes`: name -> (path, args).
    pub runtimes: Vec<(String, PathBuf, Vec<String>)>,
    pub debug: bool,
}

/// A hijacked connection (after `Connection: Upgrade`).
pub trait HijackedIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> HijackedIo for T {}

/// A container's log entries, already filtered and framed for the client: stdcopy frames
/// (or raw bytes when the container has a tty), with timestamps when asked.
pub struct LogStream {
    pub tty: bool,
    pub body: BoxStream<'static, Bytes>,
}

/// An attach that has been validated; [`AttachSession::run`] pumps it over the hijacked
/// connection until the container exits or the client goes away.
pub struct AttachSession {
    pub tty: bool,
    pub(crate) run: Box<dyn FnOnce(Box<dyn HijackedIo>) -> Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>,
}

impl AttachSession {
    pub async fn run(self, io: Box<dyn HijackedIo>) {
        (self.run)(io).await
    }
}

/// An exec start that has been validated; run it over the hijacked connection (or, detached,
/// with a null connection).
pub type ExecSession = AttachSession;

/// The daemon.
pub struct Daemon {
    pub(crate) config: DaemonConfig,
}

impl Daemon {
    pub async fn open(config: DaemonConfig) -> Result<Arc<Self>> {
        todo!("{config:?}")
    }
    pub async fn shutdown(&self) {}

    // --- system ---
    pub fn version(&self) -> models::SystemVersion {
        todo!()
    }
    pub async fn info(&self) -> models::SystemInfo {
        todo!()
    }
    /// Past events matching, then live ones until `until` (or forever).
    pub fn events(&self, opts: EventsOptions) -> Result<BoxStream<'static, models::EventMessage>> {
        todo!("{opts:?}")
    }

    // --- images ---
    /// Imports a (possibly compressed) rootfs tarball as a one-layer image; returns its id
    /// (`sha256:...`).
    pub async fn image_import(&self, body: BoxStream<'static, std::io::Result<Bytes>>, opts: ImportOptions) -> Result<String> {
        let _ = body;
        todo!("{opts:?}")
    }
    pub async fn image_list(&self, all: bool, filters: &berth_api::Filters, digests: bool) -> Result<Vec<models::ImageSummary>> {
        todo!("{all} {filters:?} {digests}")
    }
    pub async fn image_inspect(&self, name: &str) -> Result<models::ImageInspect> {
        todo!("{name}")
    }
    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        todo!("{name} {repo} {tag:?}")
    }
    pub async fn image_remove(&self, name: &str, opts: ImageRemoveOptions) -> Result<Vec<models::ImageDeleteResponseItem>> {
        todo!("{name} {opts:?}")
    }
    pub async fn image_history(&self, name: &str) -> Result<Vec<models::HistoryResponseItem>> {
        todo!("{name}")
    }

    // --- containers ---
    pub async fn container_create(&self, name: Option<&str>, body: ContainerCreateBody) -> Result<models::ContainerCreateResponse> {
        todo!("{name:?} {body:?}")
    }
    /// `NotModified` when already running.
    pub async fn container_start(&self, id: &str) -> Result<()> {
        todo!("{id}")
    }
    /// `NotModified` when not running. `timeout` seconds before SIGKILL (None: the container's
    /// StopTimeout or 10; -1: wait forever).
    pub async fn container_stop(&self, id: &str, signal: Option<&str>, timeout: Option<i64>) -> Result<()> {
        todo!("{id} {signal:?} {timeout:?}")
    }
    pub async fn container_restart(&self, id: &str, signal: Option<&str>, timeout: Option<i64>) -> Result<()> {
        todo!("{id} {signal:?} {timeout:?}")
    }
    pub async fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        todo!("{id} {signal:?}")
    }
    /// Validates now (404, bad condition) and returns the wait to poll after the response
    /// headers are sent.
    pub async fn container_wait(&self, id: &str, condition: WaitCondition) -> Result<Pin<Box<dyn std::future::Future<Output = models::ContainerWaitResponse> + Send>>> {
        todo!("{id} {condition:?}")
    }
    pub async fn container_remove(&self, id: &str, opts: RemoveOptions) -> Result<()> {
        todo!("{id} {opts:?}")
    }
    pub async fn container_list(&self, opts: ListOptions) -> Result<Vec<models::ContainerSummary>> {
        todo!("{opts:?}")
    }
    pub async fn container_inspect(&self, id: &str, size: bool) -> Result<models::ContainerInspectResponse> {
        todo!("{id} {size}")
    }
    pub async fn container_logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream> {
        todo!("{id} {opts:?}")
    }
    pub async fn container_attach(&self, id: &str, opts: AttachOptions) -> Result<AttachSession> {
        todo!("{id} {opts:?}")
    }
    pub async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        todo!("{id} {height} {width}")
    }
    pub async fn container_rename(&self, id: &str, new_name: &str) -> Result<()> {
        todo!("{id} {new_name}")
    }
    pub async fn container_top(&self, id: &str, ps_args: Option<&str>) -> Result<models::ContainerTopResponse> {
        todo!("{id} {ps_args:?}")
    }

    // --- exec ---
    pub async fn exec_create(&self, container: &str, config: models::ExecConfig) -> Result<String> {
        todo!("{container} {config:?}")
    }
    /// `detach`: start and return at once (run the session with a null io).
    pub async fn exec_start(&self, exec_id: &str, detach: bool) -> Result<ExecSession> {
        todo!("{exec_id} {detach}")
    }
    pub async fn exec_inspect(&self, exec_id: &str) -> Result<models::ExecInspectResponse> {
        todo!("{exec_id}")
    }
    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        todo!("{exec_id} {height} {width}")
    }
}
