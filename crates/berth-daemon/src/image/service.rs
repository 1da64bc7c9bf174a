//! The daemon's image service over `berth_image::ImageService` (the store): resolving,
//! listing, tagging, removing and pruning images, and the container snapshots over them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::models::{self, ContainerConfig, DriverData};
use berth_api::Filters;
use berth_image::{Image, ImageService as Store, ImageUser};
use berth_types::{Error, Reference, Result};

use crate::options::ImageRemoveOptions;
use crate::util::api::api_older;

/// What the container side needs of an image.
#[derive(Clone)]
pub struct ImageInfo {
    pub id: String,
    /// The image's runtime defaults in API form.
    pub config: ContainerConfig,
    image: Arc<Image>,
}

/// The image service (as containerd's `plugins/services/images/local.go`): the image store and
/// the container snapshots over it, with blocking work moved to the blocking pool. Events and
/// the containers using an image are the daemon's.
pub struct ImageService {
    pub(crate) service: Arc<Store>,
    overlay_root: PathBuf,
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("image task: {e}")))?
}

impl ImageService {
    pub fn open(data_root: &Path, db: berth_store::Db) -> Result<Self> {
        let service = Store::open(data_root, db)?;
        Ok(Self {
            service: Arc::new(service),
            overlay_root: data_root.join("overlay"),
        })
    }

    pub async fn resolve(&self, name: &str) -> Result<ImageInfo> {
        let svc = self.service.clone();
        let name = name.to_string();
        let image = blocking(move || Ok(svc.resolve(&name)?)).await?;
        let run = image.config.clone();
        let json = serde_json::to_value(&run).map_err(|e| Error::internal(e.to_string()))?;
        let config: ContainerConfig = serde_json::from_value(json)
            .map_err(|e| Error::internal(format!("image config: {e}")))?;
        Ok(ImageInfo {
            id: image.id.clone(),
            config,
            image: Arc::new(image),
        })
    }

    /// Creates the container's writable layer over the image.
    pub async fn prepare(&self, id: &str, image: &ImageInfo) -> Result<()> {
        let svc = self.service.clone();
        let (id, image) = (id.to_string(), image.image.clone());
        blocking(move || Ok(svc.snapshot_prepare(&id, &image).map(|_| ())?)).await
    }

    /// Mounts the container's rootfs; returns the mount point.
    pub async fn mount(&self, id: &str) -> Result<PathBuf> {
        let target = self.rootfs_dir(id);
        let svc = self.service.clone();
        let (id, t) = (id.to_string(), target.clone());
        blocking(move || Ok(svc.snapshot_mount(&id, &t)?)).await?;
        Ok(target)
    }

    pub async fn unmount(&self, id: &str) -> Result<()> {
        let target = self.rootfs_dir(id);
        let svc = self.service.clone();
        blocking(move || Ok(svc.snapshot_unmount(&target)?)).await
    }

    pub async fn remove_snapshot(&self, id: &str) -> Result<()> {
        let svc = self.service.clone();
        let id = id.to_string();
        blocking(move || match svc.snapshot_remove(&id) {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = Error::from(e);
                if e.is_not_found() {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        })
        .await
    }

    /// The image service, for work that runs on the blocking pool (container filesystems).
    pub(crate) fn service(&self) -> Arc<Store> {
        self.service.clone()
    }

    /// Where a container's rootfs is mounted (dockerd's `MergedDir`).
    pub fn rootfs_dir(&self, id: &str) -> PathBuf {
        match self.service.snapshot_paths(id) {
            Ok(p) => p.merged,
            Err(_) => self.overlay_root.join(id).join("merged"),
        }
    }

    pub async fn graph_driver(&self, id: &str, _image_id: &str) -> DriverData {
        match self.service.snapshot_paths(id) {
            Ok(p) => driver_data(
                p.lowers.iter().map(|l| l.display().to_string()).collect(),
                p.upper.display().to_string(),
                p.work.display().to_string(),
                p.merged.display().to_string(),
            ),
            Err(_) => DriverData {
                name: "overlay2".into(),
                data: HashMap::new(),
            },
        }
    }

    pub async fn count(&self) -> i64 {
        let svc = self.service.clone();
        blocking(move || Ok(svc.list(true, &berth_api::Filters::default())?.len() as i64))
            .await
            .unwrap_or(0)
    }

    /// `GET /images/json`: the images `filters` select; `counts` gives each image's number of
    /// containers; before API 1.44 `VirtualSize` repeats `Size`.
    pub async fn list(
        &self,
        all: bool,
        filters: &Filters,
        api: &str,
        counts: &HashMap<String, i64>,
    ) -> Result<Vec<models::ImageSummary>> {
        let svc = self.service.clone();
        let filters = filters.clone();
        let mut list = blocking(move || Ok(svc.list(all, &filters)?)).await?;
        for img in &mut list {
            img.containers = *counts.get(&img.id).unwrap_or(&0);
            img.virtual_size = api_older(api, "1.44").then_some(img.size);
        }
        Ok(list)
    }

    /// `GET /images/{name}/json`: before API 1.44 `VirtualSize` repeats `Size`, as dockerd
    /// sends it there.
    pub async fn inspect(&self, name: &str, api: &str) -> Result<models::ImageInspect> {
        let svc = self.service.clone();
        let name = name.to_string();
        let mut img = blocking(move || Ok(svc.inspect(&name)?)).await?;
        img.virtual_size = api_older(api, "1.44").then_some(img.size).flatten();
        Ok(img)
    }

    /// Tags image `name` as `repo:tag`; returns the new reference and the image's id.
    pub async fn tag(
        &self,
        name: &str,
        repo: &str,
        tag: Option<&str>,
    ) -> Result<(Reference, String)> {
        let svc = self.service.clone();
        let (n, r, t) = (
            name.to_string(),
            repo.to_string(),
            tag.unwrap_or("").to_string(),
        );
        let reference = blocking(move || Ok(svc.tag(&n, &r, &t)?)).await?;
        let id = self
            .resolve(&reference.to_string())
            .await
            .map(|i| i.id)
            .unwrap_or_default();
        Ok((reference, id))
    }

    /// `DELETE /images/{name}`; `users` are the containers by the image they use.
    pub async fn remove(
        &self,
        name: &str,
        opts: ImageRemoveOptions,
        users: HashMap<String, Vec<ImageUser>>,
    ) -> Result<Vec<models::ImageDeleteResponseItem>> {
        let svc = self.service.clone();
        let n = name.to_string();
        blocking(move || {
            let lookup = |id: &str| users.get(id).cloned().unwrap_or_default();
            Ok(svc.remove(&n, opts.force, opts.noprune, &lookup)?)
        })
        .await
    }

    /// `POST /images/prune`; `users` are the containers by the image they use.
    pub async fn prune(
        &self,
        filters: &Filters,
        users: HashMap<String, Vec<ImageUser>>,
    ) -> Result<berth_image::PruneReport> {
        let svc = self.service.clone();
        let filters = filters.clone();
        blocking(move || {
            let lookup = |id: &str| users.get(id).cloned().unwrap_or_default();
            Ok(svc.prune(&filters, &lookup)?)
        })
        .await
    }

    /// The image store's integrity report.
    pub async fn check(&self) -> Result<berth_api::SystemCheckReport> {
        let svc = self.service.clone();
        blocking(move || Ok(svc.check()?)).await
    }

    pub async fn history(&self, name: &str) -> Result<Vec<models::HistoryResponseItem>> {
        let svc = self.service.clone();
        let name = name.to_string();
        blocking(move || Ok(svc.history(&name)?)).await
    }
}

/// An image's `GraphDriver` as dockerd's overlay2 driver shows it.
pub(crate) fn driver_data(
    lower: Vec<String>,
    upper: String,
    work: String,
    merged: String,
) -> DriverData {
    let mut data = HashMap::new();
    if !lower.is_empty() {
        data.insert("LowerDir".to_string(), lower.join(":"));
    }
    data.insert("UpperDir".to_string(), upper);
    data.insert("WorkDir".to_string(), work);
    data.insert("MergedDir".to_string(), merged);
    DriverData {
        name: "overlay2".into(),
        data,
    }
}
