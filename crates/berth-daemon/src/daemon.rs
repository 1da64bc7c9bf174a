//! The Daemon facade: the services it owns, the container table and lookups. Operations live
//! in one folder per resource (see lib.rs), as `impl Daemon` blocks over those services.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

use berth_types::{Error, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::config::{DaemonConfig, EMBEDDED_RUNTIME};
pub use crate::container::live::{Ctr, Lifecycle};
use crate::container::repo::ContainerRepo;
use crate::exec::entry::ExecEntry;
use crate::system::events::EventBus;

/// A hijacked connection (after `Connection: Upgrade`).
pub trait HijackedIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> HijackedIo for T {}

/// A container's log entries, already filtered and framed for the client: stdcopy frames
/// (or raw bytes when the container has a tty), with timestamps when asked.
pub struct LogStream {
    pub tty: bool,
    pub body: BoxStream<'static, Bytes>,
}

type SessionFn = Box<
    dyn FnOnce(Box<dyn HijackedIo>) -> Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send,
>;

/// An attach (or exec start) that has been validated; [`AttachSession::run`] pumps it over the
/// hijacked connection until the process exits or the client goes away.
pub struct AttachSession {
    pub tty: bool,
    pub(crate) run: SessionFn,
}

impl AttachSession {
    pub async fn run(self, io: Box<dyn HijackedIo>) {
        (self.run)(io).await
    }
}

/// An exec start that has been validated; run it over the hijacked connection (or, detached,
/// over [`tokio::io::empty`]-like null io).
pub type ExecSession = AttachSession;

/// The daemon.
pub struct Daemon {
    pub(crate) config: DaemonConfig,
    pub(crate) repo: ContainerRepo,
    pub(crate) containers: RwLock<HashMap<String, Arc<Ctr>>>,
    pub(crate) execs: Mutex<HashMap<String, Arc<ExecEntry>>>,
    pub(crate) events: EventBus,
    pub(crate) images: crate::image::service::ImageService,
    /// The CRI's image namespace (`k8s.io`) over the same store (image/namespaces.rs).
    pub(crate) cri_images: crate::image::service::ImageService,
    pub(crate) volumes: crate::volume::service::VolumeService,
    pub(crate) nets: crate::network::service::NetworkService,
    /// The embedded DNS of user-defined networks.
    pub(crate) dns: crate::network::dns::DnsService,
    /// CRI pod sandboxes (table `sandboxes`).
    pub(crate) pods: crate::sandbox::PodRepo,
    /// What follows a `--rm` container's removal after its answer (the veths' deletion, the
    /// namespace's unpin, the runtime's release, the bundle): waited for at shutdown, so a
    /// daemon stopped right after a `run --rm` leaves nothing of it.
    pub(crate) releases: tokio_util::task::TaskTracker,
    pub(crate) me: std::sync::Weak<Daemon>,
}

/// How long a shutdown waits for the releases still running.
const RELEASES_AT_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(10);

impl Daemon {
    /// Containers outlive the daemon (live restore); the releases of removed ones are waited
    /// for.
    pub async fn shutdown(&self) {
        tracing::info!("daemon shutting down; containers keep running under their shims");
        self.releases.close();
        if tokio::time::timeout(RELEASES_AT_SHUTDOWN, self.releases.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.releases.len(),
                "releases of removed containers still running at shutdown"
            );
        }
    }

    /// A weak handle for tasks that must not keep the daemon alive.
    pub(crate) fn self_ref(&self) -> std::sync::Weak<Daemon> {
        self.me.clone()
    }

    pub(crate) fn all(&self) -> Vec<Arc<Ctr>> {
        match self.containers.read() {
            Ok(m) => m.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        }
    }

    /// The full id of the container `key` names (id, name or unique id prefix).
    pub fn container_id(&self, key: &str) -> Result<String> {
        Ok(self.lookup(key)?.id.clone())
    }

    /// Finds a container by full id, name, or unique id prefix (dockerd's order).
    pub(crate) fn lookup(&self, key: &str) -> Result<Arc<Ctr>> {
        let map = self
            .containers
            .read()
            .map_err(|_| Error::internal("container map poisoned"))?;
        if key.is_empty() {
            return Err(Error::not_found("No such container: "));
        }
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let name = if key.starts_with('/') {
            key.to_string()
        } else {
            format!("/{key}")
        };
        if let Some(c) = map.values().find(|c| c.snapshot().name == name) {
            return Ok(c.clone());
        }
        let mut found = map.values().filter(|c| c.id.starts_with(key));
        match (found.next(), found.next()) {
            (Some(c), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
            _ => Err(Error::not_found(format!("No such container: {key}"))),
        }
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.config.data_root.join("containers").join(id)
    }

    pub(crate) fn bundle_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("bundles").join(id)
    }

    /// Unix socket paths are limited to 108 bytes, so shims listen on a prefix of the id.
    pub(crate) fn shim_socket(&self, id: &str) -> PathBuf {
        self.config
            .exec_root
            .join("s")
            .join(format!("{}.sock", &id[..id.len().min(24)]))
    }

    pub(crate) fn exit_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("exit.json")
    }

    pub(crate) fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }
}
