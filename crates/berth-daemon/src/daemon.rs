//! The Daemon facade: shared state and lookups. Operations live in one module per resource
//! (`containers`, `exec`, `attach`, `logs`, `images`, `system`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

use berth_types::{Error, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::container::record::Container;
use crate::container::repo::ContainerRepo;
use crate::exec::ExecEntry;
use crate::system::events::EventBus;

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
    /// daemon.json `log-driver` and `log-opts`: what a container without `--log-driver` gets.
    pub log_driver: String,
    pub log_opts: HashMap<String, String>,
    pub net: crate::network::lifecycle::NetConfig,
    /// daemon.json `insecure-registries`, `registry-mirrors` and `certs-dir`.
    pub registries: berth_distribution::RegistryConfig,
    /// daemon.json `max-concurrent-downloads`: layers a pull fetches at the same time.
    pub max_concurrent_downloads: usize,
}

/// The name of the embedded runtime.
pub const EMBEDDED_RUNTIME: &str = "berth";

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

/// What waiters watch: bumped on every exit and at removal.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub running: bool,
    /// Number of exits seen since the daemon loaded the container.
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
    pub error: Option<String>,
}

/// A live container: its record plus the daemon's runtime bookkeeping.
pub struct Ctr {
    pub id: String,
    pub rec: Mutex<Container>,
    /// Serialises start/stop/kill/remove of this container.
    pub op: tokio::sync::Mutex<()>,
    pub life: watch::Sender<Lifecycle>,
    /// Attach sessions waiting for the next start; each gets a shim connection.
    pub pending_attach: Mutex<Vec<crate::container::attach::Pending>>,
    /// Back-off and cancel of the restart policy (in memory, as dockerd's).
    pub restart: Mutex<crate::container::restart::RestartManager>,
    /// Stops the running health check monitor, if any.
    pub health_stop: Mutex<Option<tokio_util::sync::CancellationToken>>,
}

impl Ctr {
    pub fn new(c: Container) -> Arc<Self> {
        let life = Lifecycle {
            running: c.state.running(),
            exit_code: c.state.exit_code,
            ..Default::default()
        };
        Arc::new(Self {
            id: c.id.clone(),
            rec: Mutex::new(c),
            op: tokio::sync::Mutex::new(()),
            life: watch::channel(life).0,
            pending_attach: Mutex::new(Vec::new()),
            restart: Mutex::new(crate::container::restart::RestartManager::default()),
            health_stop: Mutex::new(None),
        })
    }

    /// Runs `f` on the restart manager under its lock.
    pub fn restart_manager<R>(
        &self,
        f: impl FnOnce(&mut crate::container::restart::RestartManager) -> R,
    ) -> R {
        match self.restart.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> Container {
        match self.rec.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Changes the record under its lock.
    pub fn update<R>(&self, f: impl FnOnce(&mut Container) -> R) -> R {
        match self.rec.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// The daemon.
pub struct Daemon {
    pub(crate) config: DaemonConfig,
    pub(crate) repo: ContainerRepo,
    pub(crate) containers: RwLock<HashMap<String, Arc<Ctr>>>,
    pub(crate) execs: Mutex<HashMap<String, Arc<ExecEntry>>>,
    pub(crate) events: EventBus,
    pub(crate) images: crate::image::ops::Images,
    pub(crate) volumes: crate::volume::store::VolumeStore,
    /// Serialises the local driver's mounts and unmounts of volume `_data` directories.
    pub(crate) volume_mount_lock: Mutex<()>,
    /// Serialises volume creation and removal (each spans a row and a directory rename).
    pub(crate) volume_lock: Mutex<()>,
    pub(crate) nets: crate::network::lifecycle::Networks,
    /// The embedded DNS of user-defined networks.
    pub(crate) dns: crate::network::dns::DnsService,
    me: std::sync::Weak<Daemon>,
}

impl Daemon {
    /// Opens the data root, loads containers and reconnects to the shims of running ones.
    pub async fn open(config: DaemonConfig) -> Result<Arc<Self>> {
        for dir in [
            config.data_root.join("containers"),
            config.exec_root.join("bundles"),
            config.exec_root.join("s"),
            config.data_root.join("volumes"),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        let db = berth_store::Db::open(config.data_root.join("berth.db"))?;
        let repo = ContainerRepo::open(db.clone())?;
        let volumes = crate::volume::store::VolumeStore::open(db.clone())?;
        let nets = crate::network::lifecycle::Networks::open(config.net.clone(), db.clone())?;
        let images = crate::image::ops::Images::open(&config.data_root, db)?;
        let daemon = Arc::new_cyclic(|me| Self {
            config,
            repo,
            containers: RwLock::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            events: EventBus::default(),
            images,
            volumes,
            volume_mount_lock: Mutex::new(()),
            volume_lock: Mutex::new(()),
            nets,
            dns: crate::network::dns::DnsService::default(),
            me: me.clone(),
        });
        daemon.networks_init().await?;
        crate::recovery::live_restore::restore(&daemon).await?;
        daemon.networks_restore().await?;
        Ok(daemon)
    }

    /// Nothing to stop: containers outlive the daemon (live restore).
    pub async fn shutdown(&self) {
        tracing::info!("daemon shutting down; containers keep running under their shims");
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
