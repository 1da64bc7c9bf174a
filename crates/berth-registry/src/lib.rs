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

pub use error::RegistryError;
pub use http::router;
use storage::Storage;
use uploads::Uploads;

/// Registry settings.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Refuse every write with 405 UNSUPPORTED.
    pub read_only: bool,
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
            uploads: Uploads::default(),
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
