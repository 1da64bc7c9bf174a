//! The image endpoints over the image service (`service.rs`): they add events and the
//! containers that use each image.

use std::collections::HashMap;

use berth_api::models::{self};
use berth_image::{ImageUser, InspectedImage};
use berth_types::{Error, Reference, Result};
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::daemon::Daemon;
use crate::options::{ImageRemoveOptions, ImportOptions};
use crate::system::events::Kind;

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
        let counts = self.container_counts();
        self.images.list(all, filters, api, &counts).await
    }

    fn container_counts(&self) -> HashMap<String, i64> {
        let mut m = HashMap::new();
        for c in self.all() {
            *m.entry(c.snapshot().image_id).or_insert(0) += 1;
        }
        m
    }

    /// `GET /images/{name}/json` at API `api`: before 1.44 `VirtualSize` repeats `Size`, and
    /// before 1.45 `Container` and `ContainerConfig` are there, as dockerd sends them.
    pub async fn image_inspect(&self, name: &str, api: &str) -> Result<InspectedImage> {
        self.images.inspect(name, api).await
    }

    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let (reference, id) = self.images.tag(name, repo, tag).await?;
        self.events
            .emit(Kind::Image, "tag", &id, image_attrs(&reference.familiar()));
        Ok(())
    }

    pub async fn image_remove(
        &self,
        name: &str,
        opts: ImageRemoveOptions,
    ) -> Result<Vec<models::ImageDeleteResponseItem>> {
        let items = self.images.remove(name, opts, self.image_users()).await?;
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
        let report = self.images.prune(filters, self.image_users()).await?;
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
        let mut report = self.images.check().await?;
        report.problems.extend(self.volumes.problems()?);
        Ok(report)
    }

    pub async fn image_history(&self, name: &str) -> Result<Vec<models::HistoryResponseItem>> {
        self.images.history(name).await
    }
}
