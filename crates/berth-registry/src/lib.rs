//! berth's registry server: the OCI Distribution Spec v1.1 over filesystem storage.
//!
//! [`Registry`] holds the storage and upload sessions; [`router`] is the axum router serving
//! `/v2/`; [`serve`] runs it on a listener until the future is dropped.

pub mod error;
pub mod http;
pub mod name;
pub mod storage;
pub mod uploads;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use error::RegistryError;
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            read_only: false,
            upload_idle_limit: Duration::from_secs(24 * 60 * 60),
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
