//! berth's registry server: the OCI Distribution Spec v1.1 over filesystem storage.
//!
//! [`Registry`] holds the storage and upload sessions; [`router`] is the axum router serving
//! `/v2/`; [`serve`] runs it on a listener until the future is dropped.

pub mod auth;
pub mod error;
pub mod gc;
pub mod http;
pub mod name;
pub mod settings;
pub mod storage;
pub mod tls;
pub mod uploads;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use auth::issuer::TokenIssuer;
pub use auth::Auth;
pub use error::RegistryError;
use gc::GcOptions;
pub use http::router;
use storage::Storage;
use uploads::Uploads;

/// Registry settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Refuse every write with 405 UNSUPPORTED.
    pub read_only: bool,
    /// An upload session with no request for this long is dropped with its data.
    pub upload_idle_limit: Duration,
    /// Who may do what.
    pub auth: Arc<Auth>,
    /// Serve `GET /token` from this issuer.
    pub token_issuer: Option<Arc<TokenIssuer>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            read_only: false,
            upload_idle_limit: Duration::from_secs(24 * 60 * 60),
            auth: Arc::default(),
            token_issuer: None,
        }
    }
}

/// A running registry's state, shared by every request.
pub struct Registry {
    pub(crate) storage: Storage,
    pub(crate) uploads: Uploads,
    pub(crate) config: Config,
}

impl Registry {
    /// Opens (creating) the registry stored under `root`.
    pub fn open(root: &Path, config: Config) -> Result<Arc<Self>, RegistryError> {
        Ok(Arc::new(Self {
            storage: Storage::open(root)?,
            uploads: Uploads::new(config.upload_idle_limit),
            config,
        }))
    }
}

/// Serves `registry` on `listener` until the returned future is dropped or fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry)).await
}

/// Runs a garbage collection every `interval` on the blocking pool, logging what it freed,
/// until the future is dropped.
pub async fn collect_periodically(registry: Arc<Registry>, interval: Duration, opts: GcOptions) {
    loop {
        tokio::time::sleep(interval).await;
        let reg = Arc::clone(&registry);
        let opts = opts.clone();
        match tokio::task::spawn_blocking(move || gc::collect(&reg.storage, &opts)).await {
            Ok(Ok(report)) => tracing::info!(
                blobs = report.blobs_removed.len(),
                manifests = report.manifests_removed.len(),
                bytes = report.bytes_freed,
                "registry garbage collection"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "registry garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "registry garbage collection task"),
        }
    }
}

/// Serves `built` (bound to `listener`) with TLS and periodic GC as configured, until the
/// future is dropped or fails.
pub async fn run(
    listener: tokio::net::TcpListener,
    built: settings::Built,
) -> Result<(), RegistryError> {
    let registry = Registry::open(&built.root, built.config)?;
    // Aborted when this future ends or is dropped.
    let _gc_task = built.gc.map(|(interval, opts)| {
        AbortOnDrop(tokio::spawn(collect_periodically(
            Arc::clone(&registry),
            interval,
            opts,
        )))
    });
    let served = match built.tls {
        Some(tls) => tls::serve_tls(listener, registry, tls).await,
        None => serve(listener, registry).await,
    };
    served.map_err(RegistryError::from)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
