//! Opening the daemon: the data root and its database, each service over it, then live
//! restore of the containers and the networks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use berth_types::{Error, Result};

use crate::container::repo::ContainerRepo;
use crate::daemon::{Daemon, DaemonConfig};
use crate::system::events::EventBus;

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
        let volumes = crate::volume::service::VolumeService::open(&config.data_root, db.clone())?;
        let pods = crate::sandbox::PodRepo::open(db.clone())?;
        let nets = crate::network::service::NetworkService::open(config.net.clone(), db.clone())?;
        let images = crate::image::service::ImageService::open(&config.data_root, db)?;
        let cri_images = images.in_namespace(crate::image::CRI_NAMESPACE);
        let daemon = Arc::new_cyclic(|me| Self {
            config,
            repo,
            containers: RwLock::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            events: EventBus::default(),
            images,
            cri_images,
            volumes,
            nets,
            dns: crate::network::dns::DnsService::default(),
            pods,
            releases: tokio_util::task::TaskTracker::new(),
            me: me.clone(),
        });
        daemon.networks_init().await?;
        crate::recovery::live_restore::restore(&daemon).await?;
        daemon.networks_restore().await?;
        crate::runtime::shim_spare::replenish(&daemon.config.shim_binary);
        crate::network::spare_netns::replenish();
        Ok(daemon)
    }
}
