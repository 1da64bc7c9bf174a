//! The daemon's image service over `berth_image::ImageService` (the store): resolving,
//! listing, tagging, removing and pruning images, and the container snapshots over them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::models::{self, ContainerConfig, DriverData};
use berth_api::Filters;
use berth_image::{Image, ImageService as Store, ImageUser, InspectedImage};
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
/// the containers using an image are the daemon's. One value is one image namespace
/// ([`ImageService::in_namespace`]); clones share everything.
#[derive(Clone)]
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

/// [`blocking`] for the short steps of a container's create and removal (a lookup, a few
/// directories, a rename): run on this worker thread itself, which tokio relieves of its
/// other tasks meanwhile, where the blocking pool's thread is woken and then wakes the task
/// back, two hand-offs between threads on the path of every `run`. A current-thread runtime
/// (unit tests) takes the pool.
pub(crate) async fn blocking_here<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => blocking(f).await,
    }
}

impl ImageService {
    pub fn open(data_root: &Path, db: berth_store::Db) -> Result<Self> {
        let service = Store::open(data_root, db)?;
        Ok(Self {
            service: Arc::new(service),
            overlay_root: data_root.join("overlay"),
        })
    }

    /// The same store seen as image namespace `ns` (berth_image::ImageService::in_namespace).
    pub(crate) fn in_namespace(&self, ns: &str) -> Self {
        Self {
            service: Arc::new(self.service.in_namespace(ns)),
            overlay_root: self.overlay_root.clone(),
        }
    }

    /// This view's namespace.
    pub fn namespace(&self) -> &str {
        self.service.namespace()
    }

    pub async fn resolve(&self, name: &str) -> Result<ImageInfo> {
        let svc = self.service.clone();
        let name = name.to_string();
        let image = blocking_here(move || Ok(svc.resolve(&name)?)).await?;
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

    /// Creates the container's writable layer over the image (and its init layer: the
    /// mount points of the `/etc` files every container binds).
    pub async fn prepare(&self, id: &str, image: &ImageInfo) -> Result<()> {
        let svc = self.service.clone();
        let (id, image) = (id.to_string(), image.image.clone());
        blocking_here(move || Ok(svc.snapshot_prepare_container(&id, &image).map(|_| ())?)).await
    }

    /// Mounts the container's rootfs; returns the mount point. `scratch`: the container is
    /// deleted when it exits (`--rm`), so its layer is mounted `volatile` (no filesystem sync
    /// at the unmount).
    #[tracing::instrument(level = "debug", name = "rootfs_mount", skip_all)]
    pub async fn mount(&self, id: &str, scratch: bool) -> Result<PathBuf> {
        let target = self.rootfs_dir(id);
        let svc = self.service.clone();
        let (id, t) = (id.to_string(), target.clone());
        blocking(move || {
            if scratch {
                Ok(svc.snapshot_mount_scratch(&id, &t)?)
            } else {
                Ok(svc.snapshot_mount(&id, &t)?)
            }
        })
        .await?;
        Ok(target)
    }

    #[tracing::instrument(level = "debug", name = "rootfs_unmount", skip_all)]
    pub async fn unmount(&self, id: &str) -> Result<()> {
        let target = self.rootfs_dir(id);
        let svc = self.service.clone();
        blocking(move || Ok(svc.snapshot_unmount(&target)?)).await
    }

    /// [`Self::unmount`] for a container whose writable layer is deleted next (`rm -f` of a
    /// running container): the rootfs leaves the mount table at once, and the filesystem's
    /// shutdown, which for a layer that is not `volatile` syncs the whole filesystem under it,
    /// runs afterwards on the blocking pool, waited for by nobody. Deleting the layer meanwhile
    /// is fine (the detached overlay only holds its directories open); mounting it again is
    /// not, which is why only a removal takes this path.
    #[tracing::instrument(level = "debug", name = "rootfs_detach", skip_all)]
    pub async fn unmount_discarding(&self, id: &str) -> Result<()> {
        let target = self.rootfs_dir(id);
        let svc = self.service.clone();
        let held = blocking_here(move || Ok(svc.snapshot_detach(&target)?)).await?;
        if let Some(fd) = held {
            let id = id.to_string();
            tokio::task::spawn_blocking(move || {
                let _span = tracing::debug_span!("rootfs_detached_sync", container = %id).entered();
                drop(fd);
            });
        }
        Ok(())
    }

    /// Deletes the container's writable layer: set aside at once (renamed to a `tmp-`
    /// directory the next start sweeps if need be, see `Snapshotter::discard`), its files
    /// deleted afterwards on the blocking pool, waited for by nobody.
    pub async fn remove_snapshot(&self, id: &str) -> Result<()> {
        let svc = self.service.clone();
        let id = id.to_string();
        let trash = blocking_here(move || match svc.snapshot_discard(&id) {
            Ok(t) => Ok(t),
            Err(e) => {
                let e = Error::from(e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        })
        .await?;
        if let Some(trash) = trash {
            crate::recovery::failpoint::hit("rm-layer-set-aside");
            tokio::task::spawn_blocking(move || {
                if let Err(e) = berth_snapshot::remove_trash(&trash) {
                    tracing::warn!(error = %e, "deleting a removed container's layer");
                }
            });
        }
        Ok(())
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
            // Topmost first, as overlay's lowerdir and dockerd list them (the init layer first).
            Ok(p) => driver_data(
                p.lowers
                    .iter()
                    .rev()
                    .map(|l| l.display().to_string())
                    .collect(),
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

    /// `GET /images/{name}/json`: before API 1.44 `VirtualSize` repeats `Size`, and before 1.45
    /// `Container` and `ContainerConfig` are there, as dockerd sends them.
    pub async fn inspect(&self, name: &str, api: &str) -> Result<InspectedImage> {
        let svc = self.service.clone();
        let name = name.to_string();
        let mut img = blocking(move || Ok(svc.inspect_full(&name)?)).await?;
        img.inspect.virtual_size = api_older(api, "1.44").then_some(img.inspect.size).flatten();
        if !api_older(api, "1.45") {
            img.container = None;
            img.container_config = None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::ErrorKind;

    fn service() -> (tempfile::TempDir, ImageService) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = berth_store::Db::open(dir.path().join("berth.db")).expect("db");
        let svc = ImageService::open(dir.path(), db).expect("open");
        (dir, svc)
    }

    /// A one-file root filesystem; `content` makes each image distinct.
    fn rootfs(content: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("etc/motd").expect("path");
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(content.len() as u64);
        h.set_cksum();
        b.append(&h, content.as_bytes()).expect("append");
        b.into_inner().expect("tar")
    }

    fn import(svc: &ImageService, content: &str, tag: Option<&str>) -> String {
        let opts = berth_image::ImportOptions {
            repo_tag: tag.map(|t| Reference::parse(t).expect("reference")),
            changes: vec!["CMD [\"cat\", \"/etc/motd\"]".into()],
            message: None,
        };
        svc.service
            .import(&rootfs(content)[..], opts)
            .expect("import")
            .id
    }

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            f.add(k, v);
        }
        f
    }

    async fn tags(svc: &ImageService, f: &[(&str, &str)]) -> Vec<String> {
        let mut out: Vec<String> = svc
            .list(false, &filters(f), "1.47", &HashMap::new())
            .await
            .expect("list")
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn tag_list_filters_and_untag_without_a_daemon() {
        let (_dir, svc) = service();
        let app = import(&svc, "app", Some("app:1"));
        let _tool = import(&svc, "tool", Some("tools/tool:latest"));
        let info = svc.resolve("app:1").await.expect("resolve");
        assert_eq!(info.id, app);
        assert_eq!(
            info.config.cmd,
            Some(vec!["cat".to_string(), "/etc/motd".to_string()])
        );

        let (reference, id) = svc
            .tag("app:1", "registry.example/app", Some("2"))
            .await
            .expect("tag");
        assert_eq!(reference.familiar(), "registry.example/app:2");
        assert_eq!(id, app);
        assert_eq!(
            tags(&svc, &[]).await,
            ["app:1", "registry.example/app:2", "tools/tool:latest"]
        );
        assert_eq!(tags(&svc, &[("reference", "app")]).await, ["app:1"]);
        assert_eq!(
            tags(&svc, &[("reference", "tools/*")]).await,
            ["tools/tool:latest"]
        );
        let counts = HashMap::from([(app.clone(), 3)]);
        let list = svc
            .list(false, &filters(&[("reference", "app:1")]), "1.43", &counts)
            .await
            .expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].containers, 3, "the caller's container count");
        assert_eq!(
            list[0].virtual_size,
            Some(list[0].size),
            "VirtualSize before 1.44"
        );
        let list = svc
            .list(false, &filters(&[("reference", "app:1")]), "1.44", &counts)
            .await
            .expect("list");
        assert_eq!(list[0].virtual_size, None);
        assert!(svc
            .list(false, &filters(&[("colour", "red")]), "1.47", &counts)
            .await
            .is_err());

        let inspect = svc
            .inspect("registry.example/app:2", "1.47")
            .await
            .expect("inspect");
        assert_eq!(inspect.inspect.id.as_deref(), Some(app.as_str()));
        let e = svc.inspect("nothere", "1.47").await.expect_err("missing");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "No such image: nothere:latest")
        );
        assert!(!svc.history("app:1").await.expect("history").is_empty());

        // Removing one of two tags only untags.
        let items = svc
            .remove("app:1", ImageRemoveOptions::default(), HashMap::new())
            .await
            .expect("untag");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].untagged.as_deref(), Some("app:1"));
        assert!(svc.resolve("registry.example/app:2").await.is_ok());
        assert_eq!(
            tags(&svc, &[]).await,
            ["registry.example/app:2", "tools/tool:latest"]
        );
        // An image a container uses is not deleted without force.
        let users = HashMap::from([(
            app.clone(),
            vec![ImageUser {
                container_id: "c".repeat(64),
                running: false,
            }],
        )]);
        let e = svc
            .remove(
                "registry.example/app:2",
                ImageRemoveOptions::default(),
                users,
            )
            .await
            .expect_err("in use");
        assert_eq!(e.kind, ErrorKind::Conflict);
        let items = svc
            .remove(
                "registry.example/app:2",
                ImageRemoveOptions::default(),
                HashMap::new(),
            )
            .await
            .expect("delete");
        assert!(items
            .iter()
            .any(|i| i.deleted.as_deref() == Some(app.as_str())));
        assert!(svc.resolve(&app).await.is_err());
        assert!(svc.check().await.expect("check").problems.is_empty());
    }

    #[tokio::test]
    async fn prune_takes_dangling_images_the_users_do_not_hold() {
        let (_dir, svc) = service();
        let dangling = import(&svc, "old", None);
        let held = import(&svc, "held", None);
        let kept = import(&svc, "kept", Some("kept:1"));
        let users = HashMap::from([(
            held.clone(),
            vec![ImageUser {
                container_id: "d".repeat(64),
                running: true,
            }],
        )]);
        let report = svc.prune(&Filters::default(), users).await.expect("prune");
        assert_eq!(report.deleted_images, vec![dangling.clone()]);
        assert!(report.space_reclaimed > 0);
        assert!(svc.resolve(&dangling).await.is_err());
        assert!(svc.resolve(&held).await.is_ok());
        assert!(svc.resolve(&kept).await.is_ok());
        assert_eq!(svc.count().await, 2);
    }
}
