//! Images: the daemon's adapter over `berth_image::ImageService` (blocking work runs on the
//! blocking pool) and the image endpoints, which add events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::models::{self, ContainerConfig, DriverData};
use berth_image::{Image, ImageService, ImageUser};
use berth_types::{Error, Reference, Result};
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::daemon::Daemon;
use crate::options::{ImageRemoveOptions, ImportOptions};
use crate::system::events::Kind;

/// What the container side needs of an image.
#[derive(Clone)]
pub struct ImageInfo {
    pub id: String,
    /// The image's runtime defaults in API form.
    pub config: ContainerConfig,
    image: Arc<Image>,
}

pub struct Images {
    pub(crate) service: Arc<ImageService>,
    overlay_root: PathBuf,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("image task: {e}")))?
}

impl Images {
    pub fn open(data_root: &Path, db: berth_store::Db) -> Result<Self> {
        let service = ImageService::open(data_root, db)?;
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
    pub(crate) fn service(&self) -> Arc<ImageService> {
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
            Ok(p) => crate::container::render::driver_data(
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
}

fn image_attrs(name: &str) -> HashMap<String, String> {
    let mut a = HashMap::new();
    a.insert("name".to_string(), name.to_string());
    a
}

impl Daemon {
    /// Imports a (possibly compressed) rootfs tarball as a one-layer image; returns its id.
    pub async fn image_import(
        &self,
        body: BoxStream<'static, std::io::Result<Bytes>>,
        opts: ImportOptions,
    ) -> Result<String> {
        // dockerd's `ImportImage`: `repo`, no digest, then `tag` in place of its tag.
        let repo_tag = match opts.repo.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(repo) => {
                let mut r = Reference::parse_name_only(repo)?;
                if r.digest.is_some() {
                    return Err(Error::invalid("cannot import digest reference"));
                }
                if let Some(t) = opts.tag.as_deref().filter(|t| !t.is_empty()) {
                    r = r.with_tag(t)?;
                }
                if r.tag.is_none() {
                    r.tag = Some(berth_types::reference::DEFAULT_TAG.to_string());
                }
                Some(r)
            }
        };
        if let Some(p) = opts.platform.as_deref().filter(|p| !p.is_empty()) {
            if !p.starts_with("linux") {
                return Err(Error::invalid(format!(
                    "unsupported platform {p}: only linux images are supported"
                )));
            }
        }
        let reader = crate::image::body_pipe::body_reader(body);
        let svc = self.images.service.clone();
        let iopts = berth_image::ImportOptions {
            repo_tag: repo_tag.clone(),
            changes: opts.changes,
            message: opts.message,
        };
        let result = tokio::task::spawn_blocking(move || svc.import(reader, iopts))
            .await
            .map_err(|e| Error::internal(format!("import task: {e}")))??;
        let name = repo_tag
            .as_ref()
            .map(Reference::familiar)
            .unwrap_or_default();
        self.events
            .emit(Kind::Image, "import", &result.id, image_attrs(&name));
        if !name.is_empty() {
            self.events
                .emit(Kind::Image, "tag", &result.id, image_attrs(&name));
        }
        Ok(result.id)
    }

    /// `GET /images/json` at API `api`: before 1.44 `VirtualSize` repeats `Size`.
    pub async fn image_list(
        &self,
        all: bool,
        filters: &berth_api::Filters,
        _digests: bool,
        api: &str,
    ) -> Result<Vec<models::ImageSummary>> {
        let svc = self.images.service.clone();
        let filters = filters.clone();
        let mut list = blocking(move || Ok(svc.list(all, &filters)?)).await?;
        let counts = self.container_counts();
        for img in &mut list {
            img.containers = *counts.get(&img.id).unwrap_or(&0);
            img.virtual_size = api_older(api, "1.44").then_some(img.size);
        }
        Ok(list)
    }

    fn container_counts(&self) -> HashMap<String, i64> {
        let mut m = HashMap::new();
        for c in self.all() {
            *m.entry(c.snapshot().image_id).or_insert(0) += 1;
        }
        m
    }

    /// `GET /images/{name}/json` at API `api`: before 1.44 `VirtualSize` repeats `Size`, as
    /// dockerd sends it there.
    pub async fn image_inspect(&self, name: &str, api: &str) -> Result<models::ImageInspect> {
        let svc = self.images.service.clone();
        let name = name.to_string();
        let mut img = blocking(move || Ok(svc.inspect(&name)?)).await?;
        img.virtual_size = api_older(api, "1.44").then_some(img.size).flatten();
        Ok(img)
    }

    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let svc = self.images.service.clone();
        let (n, r, t) = (
            name.to_string(),
            repo.to_string(),
            tag.unwrap_or("").to_string(),
        );
        let reference = blocking(move || Ok(svc.tag(&n, &r, &t)?)).await?;
        let id = self
            .images
            .resolve(&reference.to_string())
            .await
            .map(|i| i.id)
            .unwrap_or_default();
        self.events
            .emit(Kind::Image, "tag", &id, image_attrs(&reference.familiar()));
        Ok(())
    }

    pub async fn image_remove(
        &self,
        name: &str,
        opts: ImageRemoveOptions,
    ) -> Result<Vec<models::ImageDeleteResponseItem>> {
        let users = self.image_users();
        let svc = self.images.service.clone();
        let n = name.to_string();
        let items = blocking(move || {
            let lookup = |id: &str| users.get(id).cloned().unwrap_or_default();
            Ok(svc.remove(&n, opts.force, opts.noprune, &lookup)?)
        })
        .await?;
        self.emit_delete_events(&items, name);
        Ok(items)
    }

    /// Containers by the image they use, for rmi's and prune's conflict checks.
    pub(crate) fn image_users(&self) -> HashMap<String, Vec<ImageUser>> {
        let mut m: HashMap<String, Vec<ImageUser>> = HashMap::new();
        for c in self.all() {
            let s = c.snapshot();
            m.entry(s.image_id.clone()).or_default().push(ImageUser {
                container_id: s.id.clone(),
                running: s.state.running(),
            });
        }
        m
    }

    fn emit_delete_events(&self, items: &[models::ImageDeleteResponseItem], name: &str) {
        for item in items {
            if let Some(u) = &item.untagged {
                self.events.emit(Kind::Image, "untag", u, image_attrs(u));
            }
        }
        // The first `Deleted` is the image; the rest are its layers.
        if let Some(d) = items.iter().find_map(|i| i.deleted.as_ref()) {
            self.events
                .emit(Kind::Image, "delete", d, image_attrs(name));
        }
    }

    /// `POST /images/prune`.
    pub async fn image_prune(
        &self,
        filters: &berth_api::Filters,
    ) -> Result<models::ImagePruneResponse> {
        let users = self.image_users();
        let svc = self.images.service.clone();
        let filters = filters.clone();
        let report = blocking(move || {
            let lookup = |id: &str| users.get(id).cloned().unwrap_or_default();
            Ok(svc.prune(&filters, &lookup)?)
        })
        .await?;
        for item in &report.images_deleted {
            if let Some(u) = &item.untagged {
                self.events.emit(Kind::Image, "untag", u, image_attrs(u));
            }
        }
        for id in &report.deleted_images {
            self.events.emit(Kind::Image, "delete", id, image_attrs(id));
        }
        let mut attrs = HashMap::new();
        attrs.insert("reclaimed".to_string(), report.space_reclaimed.to_string());
        self.events.emit(Kind::Image, "prune", "", attrs);
        Ok(models::ImagePruneResponse {
            // dockerd's list is nil (null) when nothing was deleted.
            images_deleted: Some(report.images_deleted).filter(|d| !d.is_empty()),
            space_reclaimed: Some(report.space_reclaimed as i64),
        })
    }

    /// `GET /berth/check`: the image store's and the volumes' integrity report.
    pub async fn system_check(&self) -> Result<berth_api::SystemCheckReport> {
        let svc = self.images.service.clone();
        let mut report = blocking(move || Ok(svc.check()?)).await?;
        report.problems.extend(self.volume_problems()?);
        Ok(report)
    }

    pub async fn image_history(&self, name: &str) -> Result<Vec<models::HistoryResponseItem>> {
        let svc = self.images.service.clone();
        let name = name.to_string();
        blocking(move || Ok(svc.history(&name)?)).await
    }
}

/// Whether dotted API version `a` is older than `b`.
pub(crate) fn api_older(a: &str, b: &str) -> bool {
    let key = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    key(a) < key(b)
}
